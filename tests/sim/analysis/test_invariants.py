"""The checker accepts what the model makes and catches deliberately broken traces."""

import dataclasses

import numpy as np
import pytest

from sim.analysis import invariants
from sim.engine.model import simulate
from sim.rules.states import FAILURE, PENDING, RECEIVED, RETRY, STARTED, SUCCESS
from sim.trace import Recorder, Trace
from tests.sim.helpers import make

FLAKY = make(
    **{
        "run.tasks": 400,
        "failures.probability": 0.5,
        "retry.backoff": 1.0,
        "retry.backoff_max": 10.0,
        "retry.max_retries": 3,
        "ack.late": True,
    }
)


@pytest.fixture(scope="module")
def good():
    return simulate(FLAKY)


def edit(trace: Trace, keep=None, **columns) -> Trace:
    """A copy with rows dropped (``keep`` mask) and/or columns replaced."""
    fields = {f.name: getattr(trace, f.name) for f in dataclasses.fields(trace)}
    fields.update(columns)
    if keep is not None:
        for name in ("task", "attempt", "state", "t", "worker"):
            fields[name] = fields[name][keep]
    return Trace(**fields)


def append(trace: Trace, task, attempt, state, t, worker) -> Trace:
    arrays = [trace.task, trace.attempt, trace.state, trace.t, trace.worker]
    values = [task, attempt, state, t, worker]
    new = [np.append(a, np.array(v, dtype=a.dtype)) for a, v in zip(arrays, values, strict=True)]
    return Trace(*new, workers=trace.workers)


def test_the_model_passes(good):
    report = invariants.check(good, FLAKY)
    assert report.ok, report.violations[:3]


def test_wrong_backoff_is_caught(good):
    """Every retry started 0.5 s too early: earlier than its drawn countdown."""
    started_retry = (good.state == STARTED) & (good.attempt > 0)
    t = np.where(started_retry, good.t - 0.5, good.t)
    order = np.argsort(t, kind="stable")
    broken = edit(good, keep=order, t=t)
    assert "retry-before-countdown" in invariants.check(broken, FLAKY).rules()
    assert "retry-before-countdown" not in invariants.check(broken).rules()  # needs the scenario


def test_duplicate_terminal_state_is_caught(good):
    task = int(good.task[good.state == SUCCESS][0])
    broken = append(good, task, 0, SUCCESS, good.t.max() + 1, 0)
    report = invariants.check(broken)
    assert "transition" in report.rules()
    assert any(v.task_id == str(task) for v in report.violations)


def test_extra_attempt_is_caught(good):
    failed = np.flatnonzero(good.state == FAILURE)
    assert len(failed)
    row = failed[0]
    task, attempt, t, w = (
        int(good.task[row]),
        int(good.attempt[row]),
        good.t.max(),
        good.worker[row],
    )
    broken = edit(good, keep=np.arange(len(good)) != row)
    for state, dt in [(RETRY, 0), (RECEIVED, 1), (STARTED, 2), (SUCCESS, 3)]:
        a = attempt if state == RETRY else attempt + 1
        if state == RETRY:
            broken = append(broken, task, attempt, STARTED, t, w)  # re-run the failed attempt
        broken = append(broken, task, a, state, t + 0.1 + dt, w)
    report = invariants.check(broken, FLAKY)
    assert "max-retries" in report.rules()


def test_lost_task_under_late_ack_is_caught(good):
    task = int(good.task[good.state == SUCCESS][-1])
    broken = edit(good, keep=~((good.task == task) & (good.state == SUCCESS)))
    assert "lost-under-late-ack" in invariants.check(broken, FLAKY).rules()


def test_attempt_without_retry_is_caught(good):
    broken = edit(good, keep=good.state != RETRY)
    rules = invariants.check(broken).rules()
    assert "attempt-after-retry" in rules


def test_time_running_backwards_is_caught(good):
    t = good.t.copy()
    t[10], t[11] = t[11] + 5, t[10]
    assert "time-order" in invariants.check(edit(good, t=t)).rules()


def test_started_without_received_and_pending_first_are_caught(good):
    broken = edit(good, keep=good.state != RECEIVED)
    assert "started-without-received" in invariants.check(broken).rules()
    broken = edit(good, keep=good.state != PENDING)
    assert "transition" in invariants.check(broken).rules()


def test_redelivery_sooner_than_the_visibility_timeout_is_caught():
    sc = make(
        **{
            "run.tasks": 300,
            "failures.crash_probability": 0.05,
            "ack.late": True,
            "ack.visibility_timeout": 30.0,
            "arrivals.rate": 1.0,
        }
    )
    trace = simulate(sc)
    report = invariants.check(trace, sc)
    assert report.ok and report.redeliveries > 0
    faster = sc.replace(**{"ack.visibility_timeout": 300.0})  # claims the timeout was longer
    assert "redelivery-before-timeout" in invariants.check(trace, faster).rules()


def test_littles_law_gap_is_small_on_a_long_run():
    trace = simulate(make(**{"run.tasks": 20000, "workers.count": 8}))
    assert invariants.littles_law_gap(trace) < 0.01


def test_lost_tasks_are_listed_in_every_ack_mode_and_violations_only_under_late_ack(good):
    done = good.task[good.state == SUCCESS]
    dropped = np.unique(done)[-25:]  # more than the 20 the check once stopped at
    broken = edit(good, keep=~(np.isin(good.task, dropped) & (good.state == SUCCESS)))
    ids = [str(t) for t in sorted(dropped.tolist())]
    early = invariants.check(broken, FLAKY.replace(**{"ack.late": False}))
    assert early.ok and early.lost == ids
    late = invariants.check(broken, FLAKY)
    assert late.lost == ids
    assert [v.task_id for v in late.violations if v.rule == "lost-under-late-ack"] == ids
    assert invariants.check(broken).lost == ids  # without a scenario: listed, ack mode unknown
    assert invariants.check(broken, FLAKY, complete=False).lost == []


def test_an_empty_trace_has_nothing_to_check():
    report = invariants.check(Recorder().trace(), FLAKY)
    assert report.ok and report.lost == []


def test_a_trace_matches_its_own_scenario_only(good):
    assert invariants.mismatch(good, FLAKY) is None
    assert invariants.mismatch(good, FLAKY.replace(**{"run.tasks": 5})) == (
        "the trace holds 400 tasks, the scenario submits 5"
    )
    fewer = FLAKY.replace(**{"workers.count": 2})
    assert invariants.mismatch(good, fewer) == (
        "worker w3 is not one of the scenario's 2 workers w1…w2"
    )
    shifted = Trace(
        good.task,
        good.attempt,
        good.state,
        good.t,
        good.worker,
        good.workers,
        task_ids=np.array([str(i + 1) for i in range(good.n_tasks)]),
    )
    assert invariants.mismatch(shifted, FLAKY) == (
        "task 400 is past the scenario's task indices 0…399"
    )


def test_a_trace_whose_task_types_the_scenario_lacks_is_not_a_run_of_it():
    """A type the scenario lacks is checked by its scenario-level rules: a trace of
    thumbnails_and_reports passed ``check --scenario mmc.toml``, and one whose ``task_name`` a
    user edited passed as a run of its own scenario. A trace of one type on ``celery`` (a file
    without those columns) is every scenario's."""
    from sim import scenario

    sc = scenario.load("scenarios/thumbnails_and_reports.toml").replace(**{"run.tasks": 60})
    trace = simulate(sc, seed=1)
    assert invariants.mismatch(trace, sc) is None
    edited = dataclasses.replace(trace, types=(("thumbnail", "fast"), ("reprot", "slow")))
    assert invariants.mismatch(edited, sc) == (
        "task type reprot on queue slow is not one of the scenario's: report on slow, "
        "thumbnail on fast"
    )
    one = scenario.Scenario().replace(**{"run.tasks": 60})
    assert invariants.mismatch(trace, one).startswith("task type thumbnail on queue fast is not")
    plain = dataclasses.replace(trace, types=(("task", "celery"),), type_of=None)
    assert invariants.mismatch(plain, sc) is None


def test_a_redelivery_may_be_immediate_only_when_a_dead_childs_task_is_requeued():
    sc = make(
        **{
            "failures.crash_kind": "child",
            "ack.late": True,
            "ack.reject_on_worker_lost": True,
            "ack.visibility_timeout": 30.0,
        }
    )
    assert invariants.redelivery_delay(sc) == 0.0
    retried = sc.replace(**{"retry.on_worker_lost": True})  # retried or failed, never requeued
    assert invariants.redelivery_delay(retried) == 30.0
    assert invariants.redelivery_delay(sc.replace(**{"workers.deploy_every": 60.0})) == 0.0
