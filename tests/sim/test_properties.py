"""Properties of the simulator over generated scenarios (Hypothesis), and a stateful model test."""

import dataclasses
import math
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from unittest import mock

import numpy as np
from hypothesis import assume, event, given, reject, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sim import scenario
from sim.analysis import invariants, runs
from sim.analysis.metrics import LEFT_RETRYING, last_terminal, latest_rows, lost_tasks, summarize
from sim.engine import timer
from sim.engine.broker import RunawayError
from sim.engine.draws import Draws
from sim.engine.model import Model, simulate, tally
from sim.rules import retry
from sim.rules.states import FAILURE, PENDING, RECEIVED, RETRY, STARTED, SUCCESS
from sim.scenario import ScenarioError, rate_limit_per_second
from sim.strategies import (
    ALWAYS_FAILING,
    hostile_scenarios,
    mixed_scenarios,
    retry_policies,
    scenarios,
)
from sim.trace import Recording, read
from tests.sim.helpers import make, run_digest


@given(scenarios(max_tasks=150))
def test_every_generated_trace_passes_the_invariants(sc):
    trace = simulate(sc)
    report = invariants.check(trace, sc)
    assert report.ok, report.violations[:3]
    s = summarize(trace, sc.workers.slots)
    assert s.tasks_submitted == sc.run.tasks
    if sc.ack.late and (sc.failures.crash_kind == "child" or sc.workers.kill_linger == 0):
        assert s.tasks_lost == 0  # late ack: a crash delays a task, never loses it
    if sc.failures.crash_probability == 0 and sc.workers.deploy_every == 0:
        assert s.tasks_lost == 0  # only a node dying under early ack loses a task
    assert trace.attempt.max() <= sc.retry.max_retries


@given(scenarios(max_tasks=60, crashes=False, retry=retry_policies(max_retries=st.integers(0, 3))))
def test_a_task_runs_at_most_max_retries_plus_one_attempts(sc):
    """Every attempt of a task but its last was retried, and none at or past max_retries was.
    A redelivered message may run an attempt twice and so retry it twice, but never adds one."""
    trace = simulate(sc)
    report = invariants.check(trace, sc)
    assert report.ok, report.violations[:3]
    last_attempt = np.zeros(trace.n_tasks, dtype=np.int64)
    np.maximum.at(last_attempt, trace.task, trace.attempt)
    assert last_attempt.max(initial=0) <= sc.retry.max_retries
    retry = trace.state == RETRY
    assert (trace.attempt[retry] < sc.retry.max_retries).all()
    retried_task, _ = np.unique(np.stack([trace.task[retry], trace.attempt[retry]]), axis=1)
    assert np.array_equal(np.bincount(retried_task, minlength=trace.n_tasks), last_attempt)
    # a second RETRY of one attempt needs a second run of it, which only a redelivery makes
    duplicated = np.bincount(trace.task[retry], minlength=trace.n_tasks) > last_attempt
    runs = np.bincount(trace.task[trace.state == STARTED], minlength=trace.n_tasks)
    assert (runs[duplicated] > last_attempt[duplicated] + 1).all()
    assert report.redeliveries > 0 or not duplicated.any()


# retried for ever, at least a second apart: an outage's window then holds a few dozen retries
FOREVER = retry_policies(max_retries=st.just(retry.FOREVER)).map(
    lambda p: dataclasses.replace(p, countdown=max(p.countdown, 1.0))
)


@given(scenarios(max_tasks=60, crashes=False, live=True, retry=FOREVER))
def test_retried_for_ever_every_task_ends_in_success(sc):
    """``max_retries = inf`` where an attempt may fail (p <= 0.5, outages that end): retries
    never stop before a success, so every task ends in SUCCESS, and each attempt but its last
    was retried."""
    trace = simulate(sc)
    report = invariants.check(trace, sc)
    assert report.ok, report.violations[:3]
    _, end_state = last_terminal(trace)
    assert (end_state == SUCCESS).all() and not (trace.state == FAILURE).any()
    retried = trace.state == RETRY
    attempts = np.zeros(trace.n_tasks, np.int64)
    np.maximum.at(attempts, trace.task, trace.attempt)
    assert np.count_nonzero(retried) == attempts.sum()  # one RETRY per attempt before the last


def left_retrying(trace, sc, report) -> np.ndarray:
    """The tasks left retrying, checked: a task retried for ever is followed through
    ``retry.FOLLOWED`` retries and no further, so no attempt passes its type's
    ``retry.most_retries``; one whose last row is the RETRY of attempt ``FOLLOWED`` is of a type
    that retries for ever, never ends, and is lost to the summary and the invariants (never a
    violation) as "left retrying" (``metrics.LEFT_RETRYING``), and only those are."""
    types = {t.name: t for t in sc.task_types}
    most = np.array([retry.most_retries(types[name].retry.max_retries) for name, _ in trace.types])
    kinds = trace.task_types()
    assert (trace.attempt <= most[kinds[trace.task]]).all()
    last = latest_rows(trace)
    left = trace.task[last[(trace.state[last] == RETRY) & (trace.attempt[last] == retry.FOLLOWED)]]
    forever = np.array([types[name].retry.max_retries == retry.FOREVER for name, _ in trace.types])
    assert forever[kinds[left]].all()
    _, end_state = last_terminal(trace)
    assert (end_state[left] < 0).all()
    assert len(lost_tasks(trace).get(LEFT_RETRYING, [])) == len(left) <= len(report.lost)
    if forever.any():
        event("retried for ever", "some left retrying" if len(left) else "none left retrying")
    return left


@settings(max_examples=3)  # 1,001 attempts, each drawing its own vectors: ~0.2 s an example
@given(
    scenarios(max_tasks=ALWAYS_FAILING, crashes=False, live=True, retry=FOREVER).map(
        lambda sc: sc.replace(**{"failures.probability": 1.0})
    )
)
def test_retried_for_ever_and_failing_every_attempt_every_task_is_left_retrying(sc):
    """``max_retries = inf`` and every attempt failing (``retry.never_ends``): no task ends;
    each is followed through ``retry.FOLLOWED`` retries and left retrying, lost to the summary
    and the invariants as such, never a violation."""
    trace = simulate(sc)
    report = invariants.check(trace, sc)
    assert report.ok, report.violations[:3]
    assert sorted(left_retrying(trace, sc, report).tolist()) == list(range(sc.run.tasks))
    assert summarize(trace, sc.workers.slots).tasks_lost == sc.run.tasks == len(report.lost)


@given(hostile_scenarios())
def test_every_run_ends_with_a_trace_or_a_clear_error(sc):
    """Long ETA chains, far-future countdowns and huge values: the run ends, with a trace that
    keeps the invariants or with a ScenarioError naming what to change, never a crash. Where a
    few tasks are retried for ever and fail every attempt (``retry.never_ends``), each of them
    is left retrying after ``retry.FOLLOWED`` retries, unless a redelivered copy ran beside it."""
    try:
        trace = simulate(sc)
    except ScenarioError as err:
        assert "ack.visibility_timeout" in str(err)  # the only thing that refuses such a run
        return
    report = invariants.check(trace, sc)
    assert report.ok, report.violations[:3]
    s = summarize(trace, sc.workers.slots)
    assert s.tasks_submitted == sc.run.tasks
    left = left_retrying(trace, sc, report)
    if retry.never_ends(sc.task_types[0]) and not report.redeliveries:
        assert len(left) == s.tasks_lost == sc.run.tasks


@settings(max_examples=15)
@given(scenarios(max_tasks=80))
def test_same_scenario_same_trace(sc):
    a, b = simulate(sc), simulate(sc)
    assert np.array_equal(a.t, b.t) and np.array_equal(a.state, b.state)
    assert np.array_equal(a.task, b.task) and np.array_equal(a.worker, b.worker)


class BrokerWorkers(RuleBasedStateMachine):
    """Submit, crash and restart workers, advance time: after every step the trace so far obeys
    the invariants; at the end, under late ack every task has ended and none ran more attempts
    than allowed."""

    def __init__(self):
        super().__init__()
        self.sc = make(
            **{
                "run.tasks": 60,
                "workers.count": 3,
                "workers.concurrency": 2,
                "failures.probability": 0.3,
                "retry.backoff": 1.0,
                "retry.backoff_max": 5.0,
                "ack.late": True,
                "ack.visibility_timeout": 20.0,
                "workers.restart_delay": 2.0,
                "workers.kill_linger": 0.0,  # a crash here never takes a message with it
            }
        )
        self.model = Model(self.sc)
        self.model.start_workers()
        self.submitted = 0

    @precondition(lambda self: self.submitted < 60)
    @rule(n=st.integers(1, 8))
    def submit(self, n):
        for _ in range(min(n, 60 - self.submitted)):
            self.model.submit(self.submitted)
            self.submitted += 1

    @rule(worker=st.integers(0, 2))
    def crash(self, worker):
        self.model.workers[worker].crash()

    @rule(dt=st.floats(0.01, 30))
    def advance(self, dt):
        timer.run(self.model.env, until=self.model.env.now + dt)

    @invariant()
    def trace_so_far_is_legal(self):
        trace = self.model.recorder.trace()
        report = invariants.check(trace, self.sc, complete=False)
        assert report.ok, report.violations[:3]
        assert np.count_nonzero(trace.state == PENDING) == self.submitted

    def teardown(self):
        timer.run(self.model.env)
        trace = self.model.recorder.trace()
        assert np.count_nonzero(trace.state == PENDING) == self.submitted
        _, end_state = last_terminal(trace)
        assert (end_state >= 0).all(), "late ack lost a task"
        assert invariants.check(trace, self.sc).ok
        assert np.count_nonzero(trace.state == STARTED) >= self.submitted


TestBrokerWorkers = BrokerWorkers.TestCase
TestBrokerWorkers.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)


# --- several task types, queues and pools: time and rate limits, per-type retry policies ---

LETTERS = {PENDING: "P", RECEIVED: "R", STARTED: "S", RETRY: "Y", SUCCESS: "O", FAILURE: "F"}
# one delivery is RECEIVED (again, if its node died before running it) then STARTED; it ends in
# a RETRY, a terminal state, or nothing (its node died: the message comes back, or is lost)
ENDED = re.compile(r"P(?:R+SY?)*R+S[OF]")
UNENDED = re.compile(r"P(?:R+SY?)*R*")


def rows_by_task(trace):
    """Per task, its index and its rows' (state, attempt, t, worker) in trace order."""
    order = np.argsort(trace.task, kind="stable")
    cuts = np.flatnonzero(np.diff(trace.task[order])) + 1
    columns = (trace.state, trace.attempt, trace.t, trace.worker)
    for rows in np.split(order, cuts):
        yield int(trace.task[rows[0]]), list(zip(*(c[rows].tolist() for c in columns), strict=True))


def simulated(sc):
    """The trace of ``sc``; a run the broker stops (``RunawayError``: reserved messages or ETA
    retries outwaiting a short visibility timeout, copied without end) is no example."""
    try:
        return simulate(sc)
    except RunawayError:
        reject()


@given(mixed_scenarios())
def test_every_task_of_a_mixed_run_ends_once_or_is_counted_lost(sc):
    """Each task's rows read PENDING → (RECEIVED → STARTED → RETRY)* → RECEIVED → STARTED →
    SUCCESS | FAILURE, RECEIVED repeated where a node died; a task that never ends is a prefix of
    that and the summary counts it lost. Its attempt is the number of RETRYs before the row.
    Only a message the visibility timeout handed out again while its first delivery was still
    held may break that: as in Celery, both copies run. A type retried for ever (no soft limit,
    at most half its attempts failing) ends the same way, or is left retrying (``left_retrying``).
    """
    trace = simulated(sc)
    report = invariants.check(trace, sc)
    assert report.ok, report.violations[:3]
    left_retrying(trace, sc, report)
    ended = lost = 0
    for _, rows in rows_by_task(trace):
        text = "".join(LETTERS[s] for s, *_ in rows)
        if ENDED.fullmatch(text):
            ended += 1
        elif UNENDED.fullmatch(text):
            lost += 1
        else:
            received = Counter(a for s, a, _, _ in rows if s == RECEIVED)
            assert report.redeliveries and max(received.values()) > 1, text
            event("a task's copies ran side by side")
            continue
        retries = np.cumsum([s == RETRY for s, *_ in rows]) - [s == RETRY for s, *_ in rows]
        assert [a for _, a, _, _ in rows] == retries.tolist()
    s = summarize(trace, sc.slots)
    assert s.tasks_succeeded + s.tasks_failed + s.tasks_lost == s.tasks_submitted == sc.run.tasks
    assert s.tasks_lost >= lost and s.tasks_succeeded + s.tasks_failed >= ended
    assert s.tasks_lost == len(report.lost)


# the first pool's node autoscaler where an example draws one: polls every 5 s, nodes up 20 s
# after a poll adds them, so some come up once their backlog drained and run no task
NODE_AUTOSCALED = {
    "pools.p0.node_autoscaler": "queue_length",
    "pools.p0.max_nodes": 6,
    "pools.p0.node_target": 2,
    "pools.p0.node_interval": 5.0,
    "pools.p0.node_cooldown": 10.0,
    "pools.p0.node_start": 20.0,
}


@given(mixed_scenarios(), st.booleans())
def test_the_summary_counts_what_the_trace_holds_with_or_without_it(sc, nodes):
    """Retries, executions and endings in the summary are the trace's rows, and the summary-only
    run (no trace) gives the same summary, every figure, by type, queue and pool too, its rows
    packed every 7 so that a task's rows cross chunks; the pools' costs add up to the run's, with
    a node autoscaler on the first pool too (``nodes``), in the trace and in the trace read back
    from its file, which knows the added nodes that ran no task by their capacity rows."""
    sc = sc.replace(**NODE_AUTOSCALED) if nodes else sc
    trace = simulated(sc)
    full = runs.summarize(trace, sc)
    assert full.retries == np.count_nonzero(trace.state == RETRY)
    assert full.executions == np.count_nonzero(trace.state == STARTED)
    _, end_state = last_terminal(trace)
    assert full.tasks_succeeded == np.count_nonzero(end_state == SUCCESS)
    assert full.tasks_failed == np.count_nonzero(end_state == FAILURE)
    assert full.tasks_lost == np.count_nonzero(end_state < 0)
    with tempfile.TemporaryDirectory() as folder:
        trace.write(Path(folder) / "run.csv")
        back = runs.summarize(read(Path(folder) / "run.csv"), sc)
    for cost in ("worker_seconds", "node_seconds"):  # each pool pays for its own nodes
        for summary in (full, back):
            pools = math.fsum(p[cost] for p in summary.by_pool.values())
            assert math.isclose(pools, getattr(summary, cost), rel_tol=1e-12, abs_tol=1e-9)
        for pool, figures in full.by_pool.items():
            assert math.isclose(back.by_pool[pool][cost], figures[cost], rel_tol=1e-9, abs_tol=1e-9)
    with mock.patch.object(Recording, "CHUNK", 7), mock.patch.object(Recording, "FOLD", 7):
        lean = runs.summary(tally(sc), sc)
    assert lean.to_dict() == full.to_dict()


@given(mixed_scenarios())
def test_time_limits_end_executions_and_a_hard_one_is_never_retried(sc):
    """No execution outlasts its type's earlier limit; one a hard limit cut (it took the limit,
    after the STARTED write) ends in FAILURE, one a soft limit cut (the limit and the write that
    ends it) does not succeed. Work of exactly the limit runs out, uncut (``limits``)."""
    trace = simulated(sc)
    draws, number = Draws(sc), trace.task_numbers()
    kinds = trace.task_types()
    types = {t.name: t for t in sc.task_types}
    limits = [(types[name].soft_time_limit, types[name].time_limit) for name, _ in trace.types]
    record = sc.overhead.record  # each backend write, at time scale 1
    start = record if sc.results.track_started else 0.0
    cut = Counter()
    for task, rows in rows_by_task(trace):
        soft, hard = limits[kinds[task]]
        if not soft and not hard:
            continue
        running: dict[tuple[int, int], float] = {}
        for state, attempt, t, worker in rows:
            if state == STARTED:
                if (attempt, worker) in running:
                    break  # a node that died mid-run, or a second copy beside the first: unpaired
                running[attempt, worker] = t
            elif state in (RETRY, SUCCESS, FAILURE):
                took, near = t - running.pop((attempt, worker)), 1e-9 * max(1.0, t)
                assert took <= start + min(x for x in (soft, hard) if x) + record + near
                work = draws.service(int(number[task]), attempt)
                if hard and abs(took - (start + hard)) < near and work > hard:
                    cut["hard"] += 1
                    assert state == FAILURE
                elif soft and abs(took - (start + soft + record)) < near and work > soft:
                    cut["soft"] += 1
                    assert state != SUCCESS
    event("executions cut", str(sorted(cut.items())))


@given(mixed_scenarios(crashes=False))
def test_a_rate_limited_type_is_handed_to_the_pool_once_a_token_per_node(sc):
    """Task.rate_limit is a token bucket per node and type holding one token, which gates the
    hand-over of a request to the pool (celery/worker/consumer/consumer.py
    ``_schedule_bucket_request`` → ``_limit_move_to_pool``), not its start: two handed over while
    every slot is busy can start close together. So the i-th start of a type on a node is at
    least i / rate after the node first received one (nodes that never restart: a restarted
    node's bucket starts full)."""
    assume(all(p.workers.deploy_every == 0 for p in sc.worker_pools))
    trace = simulated(sc)
    kinds = trace.task_types()
    types = {t.name: t for t in sc.task_types}
    for k, (name, _) in enumerate(trace.types):
        if not types[name].rate_limit:
            continue
        gap = 1 / rate_limit_per_second(types[name].rate_limit)
        mine = kinds[trace.task] == k
        for worker in np.unique(trace.worker[mine & (trace.state == STARTED)]):
            here = mine & (trace.worker == worker)
            first = trace.t[here & (trace.state == RECEIVED)].min()
            starts = np.sort(trace.t[here & (trace.state == STARTED)])
            assert (starts >= first + np.arange(len(starts)) * gap * (1 - 1e-9)).all()


@settings(max_examples=15)
@given(mixed_scenarios())
def test_same_mixed_scenario_same_trace_and_summary(sc):
    a, b = simulated(sc), simulate(sc)
    for column in ("task", "attempt", "state", "t", "worker"):
        assert np.array_equal(getattr(a, column), getattr(b, column))
    assert a.types == b.types and a.workers == b.workers
    assert runs.summarize(a, sc).to_dict() == runs.summarize(b, sc).to_dict()


# reads scenarios as TOML from stdin, each ended by a NUL, and prints each run's digest
DIGESTS = """
import sys
from sim import scenario
from tests.sim.helpers import run_digest
for text in sys.stdin.read().split("\\0")[:-1]:
    print(run_digest(scenario.loads(text)))
"""


@settings(max_examples=2)
@given(st.lists(mixed_scenarios(), min_size=6, max_size=6))
def test_same_scenario_same_run_in_another_process(several):
    """The reproducibility contract across processes: a scenario written as TOML and simulated
    in another Python, with other string hashes (PYTHONHASHSEED), gives the same trace and
    summary byte for byte, so nothing in a run follows a set's or dict's hash order."""
    root = Path(__file__).resolve().parents[2]
    text = "".join(scenario.dumps(sc) + "\0" for sc in several)
    try:
        here = [run_digest(scenario.loads(scenario.dumps(sc))) for sc in several]
    except RunawayError:
        reject()
    assert here == [run_digest(sc) for sc in several]  # the TOML runs the same scenario
    for hash_seed in ("1", "5"):  # sets of the queue and pool names iterate apart
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
        there = subprocess.run(
            [sys.executable, "-c", DIGESTS],
            input=text,
            capture_output=True,
            text=True,
            env=env,
            cwd=root,
            check=True,
        ).stdout.split()
        assert there == here
