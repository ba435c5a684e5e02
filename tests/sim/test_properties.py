"""Properties of the simulator over generated scenarios (Hypothesis), and a stateful model test."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sim.analysis import invariants
from sim.analysis.metrics import last_terminal, summarize
from sim.engine.model import Model, simulate
from sim.rules.states import PENDING, RETRY, STARTED
from sim.scenario import ScenarioError
from sim.strategies import hostile_scenarios, retry_policies, scenarios
from tests.sim.helpers import make


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


@given(hostile_scenarios())
def test_every_run_ends_with_a_trace_or_a_clear_error(sc):
    """Long ETA chains, far-future countdowns and huge values: the run ends, with a trace that
    keeps the invariants or with a ScenarioError naming what to change, never a crash."""
    try:
        trace = simulate(sc)
    except ScenarioError as err:
        assert "ack.visibility_timeout" in str(err)  # the only thing that refuses such a run
        return
    report = invariants.check(trace, sc)
    assert report.ok, report.violations[:3]
    s = summarize(trace, sc.workers.slots)
    assert s.tasks_submitted == sc.run.tasks


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
        self.model.env.run(until=self.model.env.now + dt)

    @invariant()
    def trace_so_far_is_legal(self):
        trace = self.model.recorder.trace()
        report = invariants.check(trace, self.sc, complete=False)
        assert report.ok, report.violations[:3]
        assert np.count_nonzero(trace.state == PENDING) == self.submitted

    def teardown(self):
        self.model.env.run()
        trace = self.model.recorder.trace()
        assert np.count_nonzero(trace.state == PENDING) == self.submitted
        _, end_state = last_terminal(trace)
        assert (end_state >= 0).all(), "late ack lost a task"
        assert invariants.check(trace, self.sc).ok
        assert np.count_nonzero(trace.state == STARTED) >= self.submitted


TestBrokerWorkers = BrokerWorkers.TestCase
TestBrokerWorkers.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
