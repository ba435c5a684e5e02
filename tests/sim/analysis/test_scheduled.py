"""Retries held for their countdown, told apart from prefetched messages, on traces whose ETAs
can be worked out by hand and on a simulated run."""

import dataclasses
from collections import Counter

import numpy as np
import pytest

from sim import scenario
from sim.analysis.scheduled import countdown, scheduled
from sim.engine.draws import Draws
from sim.engine.model import simulate
from sim.rules.states import PENDING, RECEIVED, RETRY, STARTED
from sim.trace import Recorder

FIXED = ["failures.probability=0.5", "retry.max_retries=3", "retry.countdown=2"]


def retried(now: float, rows=()):
    """Task 0 fails at 2 s on w1 and its retry is taken at once; task 1, received at 1 s, waits
    behind it; task 2 is sent at ``now``, the trace's latest event."""
    r = Recorder(("w1",))
    for task, attempt, state, t in [
        (0, 0, PENDING, 0.0),
        (0, 0, RECEIVED, 0.5),
        (0, 0, STARTED, 1.0),
        (1, 0, PENDING, 1.0),
        (1, 0, RECEIVED, 1.0),
        (0, 0, RETRY, 2.0),
        (0, 1, RECEIVED, 2.01),
        *rows,
        (2, 0, PENDING, now),
    ]:
        r.add(task, attempt, state, t, -1 if state == PENDING else 0)
    return r.trace()


def test_a_retry_is_scheduled_until_its_countdown_is_over_then_reserved():
    sc = scenario.load("scenarios/mmc.toml", FIXED)
    assert scheduled(retried(3.9), sc).tolist() == [True, False, False]  # due at 4.0
    assert scheduled(retried(4.1), sc).tolist() == [False, False, False]  # due: reserved
    started = [(0, 1, STARTED, 3.0)]  # what runs is neither
    assert not scheduled(retried(3.5, started), sc).any()


def test_a_backoff_with_jitter_is_due_after_the_countdown_its_draws_give():
    sc = scenario.load("scenarios/flaky_api.toml", ["run.tasks=10"])
    due = 2.0 + Draws(sc).countdown(0, 0)
    assert due > 2.01  # else the check below is empty
    assert scheduled(retried(due - 0.001), sc)[0]
    assert not scheduled(retried(due + 0.001), sc)[0]
    assert scheduled(retried(due - 0.001), sc, seed=12)[0] == (
        due - 0.001 < 2.0 + Draws(sc, 12).countdown(0, 0)
    )


def test_a_lost_childs_retry_waits_default_retry_delay_not_the_drawn_countdown():
    """Task 0's first execution of attempt 0 kills its pool child (seed 1), its third would
    not (seed 2): the retry waits ``countdown`` (7 s), where the backoff's 2 s would have it
    due at 4 s."""
    lost = ["failures.crash_kind=child", "failures.crash_probability=0.9"]
    sc = scenario.load(
        "scenarios/mmc.toml",
        [*lost, "retry.on_worker_lost=true", "retry.max_retries=3", "retry.countdown=7"]
        + ["retry.backoff=2", "retry.jitter=false"],
    )
    draws = Draws(sc)
    assert (countdown(draws, 0, 0, 0), draws.countdown(0, 0)) == (7.0, 2.0)
    assert countdown(Draws(sc, 2), 0, 0, 2) == 2.0
    assert scheduled(retried(8.9), sc)[0] and not scheduled(retried(9.1), sc)[0]


def test_a_soft_time_limit_before_a_drawn_child_crash_retries_after_the_drawn_countdown():
    """Pool children drawn to die part-way through 1 s of work, and a 0.3 s soft time limit: a
    child drawn to die after 0.3 s never does, SoftTimeLimitExceeded is raised first and the
    retry waits the backoff (2, 4, 8 s), not ``default_retry_delay`` (7 s). On idle workers
    every retry starts exactly when ``countdown`` dates it, whichever ended its execution."""
    lost = ["failures.crash_kind=child", "failures.crash_probability=0.9"]
    sc = scenario.load(
        "scenarios/mmc.toml",
        [*lost, "retry.on_worker_lost=true", "retry.max_retries=3", "retry.countdown=7"]
        + ["retry.backoff=2", "retry.jitter=false", "run.tasks=20", "arrivals.rate=0.1"]
        + ["service.dist=constant"],
    ).replace(tasks=[{"name": "t", "soft_time_limit": 0.3}])
    trace, draws = simulate(sc), Draws(sc)
    ended = Counter()
    for row in np.flatnonzero(trace.state == RETRY).tolist():
        task, attempt = int(trace.task[row]), int(trace.attempt[row])
        mine = np.flatnonzero((trace.task == task) & (trace.attempt == attempt))
        starts = mine[(mine < row) & (trace.state[mine] == STARTED)]
        crash_at = draws.crash_point(task, attempt, len(starts) - 1)
        if trace.t[row] - trace.t[starts[-1]] < 0.3 - 1e-9:
            ended["child died"] += 1
        else:
            ended["soft limit" if crash_at is None else "soft limit, crash drawn later"] += 1
        due = trace.t[row] + countdown(draws, task, attempt, len(starts) - 1)
        nxt = (trace.task == task) & (trace.attempt == attempt + 1) & (trace.state == STARTED)
        assert trace.t[nxt].min() == pytest.approx(due, abs=1e-9), (task, attempt, crash_at)
    assert min(ended["child died"], ended["soft limit, crash drawn later"]) > 5, ended


def test_ids_that_are_not_the_runs_task_numbers_hold_nothing():
    trace = dataclasses.replace(retried(3.0), task_ids=np.array(["a", "b", "c"]))
    assert not scheduled(trace, scenario.load("scenarios/mmc.toml", FIXED)).any()


@pytest.mark.parametrize("seed", [11, 12])
def test_a_simulated_retry_waiting_for_its_countdown_is_scheduled(seed):
    """flaky_api on idle workers: every retry taken before its start and not started at once
    is held then, halfway between the two."""
    sc = scenario.load("scenarios/flaky_api.toml", ["run.tasks=300", "arrivals.rate=0.1"])
    trace = simulate(sc, seed)
    checked = 0
    for row in np.flatnonzero((trace.state == RECEIVED) & (trace.attempt > 0)).tolist():
        task, attempt = trace.task[row], trace.attempt[row]
        mine = (trace.task == task) & (trace.attempt == attempt)
        start = trace.t[mine & (trace.state == STARTED)]
        if len(start) and start[0] - trace.t[row] > 0.05:
            keep = trace.t <= (trace.t[row] + start[0]) / 2
            cut = dataclasses.replace(
                trace,
                **{c: getattr(trace, c)[keep] for c in ("task", "attempt", "state", "t")}
                | {"worker": trace.worker[keep]},
            )
            assert scheduled(cut, sc, seed)[task]
            checked += 1
    assert checked > 10
