"""The queue-length node autoscaler in the simulator: a node added at a poll consumes node_start
later, a node goes node_cooldown after the first poll that wanted fewer, removed nodes never come
back, the pool keeps them, and the node count stays within its bounds."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from live.run import check_live
from sim.analysis import invariants, runs
from sim.analysis.cost import capacity_cost
from sim.engine.broker import RunawayError
from sim.engine.draws import Draws
from sim.engine.model import simulate
from sim.rules.node_autoscale import wanted
from sim.rules.states import ENDS_EXECUTION, PENDING, RECEIVED, SUCCESS
from sim.scenario import ScenarioError
from tests.sim.helpers import check_decisions_against_capacity, make

INTERVAL, START, COOLDOWN, TARGET = 7.3, 12.0, 73.0, 10
SLACK = 0.05  # s: more than a delivery (5-21 ms in these draws) or a hand-over (10 ms) takes
BURST = {
    "run.tasks": 300,
    "arrivals.process": "burst",
    "arrivals.burst_size": 300,
    "arrivals.rate": 1.0,
    "service.dist": "constant",
    "service.mean": 10.0,
    "workers.count": 1,
    "workers.node_autoscaler": "queue_length",
    "workers.node_target": TARGET,
    "workers.node_interval": INTERVAL,
    "workers.node_cooldown": COOLDOWN,
    "workers.node_start": START,
    "workers.node_step": 3,
    "workers.max_nodes": 8,
}


def polls(trace):
    """Each poll's time and the queue length it read, rebuilt from the trace; the poll times
    add up as SimPy's clock does. A message leaves the list as a node receives it and, when
    that node is removed before starting it, goes back to the list's head as the node exits
    (its last execution's end, or the removal itself if it ran nothing), to be received again
    elsewhere: a restore has no row of its own. No failures, crashes or deploys here; a
    message still in flight to a node as it is removed has no row either (none here: the
    count would be one off). A poll never falls within SLACK of a receipt or an exit, where
    the trace cannot say which came first."""
    times = np.cumsum(np.full(int(trace.t.max() / INTERVAL) + 1, INTERVAL))
    published = np.sort(trace.t[trace.state == PENDING])
    receipts = np.flatnonzero(trace.state == RECEIVED)
    received = np.sort(trace.t[receipts])
    stopped = {name: d.t for d in trace.decisions for name in d.removed}
    last_end = {}
    for row in np.flatnonzero(np.isin(trace.state, list(ENDS_EXECUTION))):
        last_end[trace.workers[trace.worker[row]]] = float(trace.t[row])  # rows in time order
    given_back, ends = [], []  # when each message went back; the exits a last end dates
    again = set()  # the messages received later
    for row in receipts[::-1]:
        key = (trace.task[row], trace.attempt[row])
        if key in again:
            node = trace.workers[trace.worker[row]]
            end = last_end.get(node, 0.0)
            given_back.append(max(stopped[node], end))
            ends += [end] if end > stopped[node] else []
        again.add(key)
    given_back, ends = np.sort(given_back), np.sort(ends)
    assert not _within(received, times, times + SLACK).any()  # each receipt's pop is before
    assert not _within(ends, times - SLACK, times).any()  # each exit's hand-over is before
    return times, (
        np.searchsorted(published, times, "right")
        - np.searchsorted(received, times)
        + np.searchsorted(given_back, times)
    )


def _within(events, lo, hi):
    """How many of the sorted ``events`` lie within each [lo, hi]."""
    return np.searchsorted(events, hi, "right") - np.searchsorted(events, lo)


def test_a_burst_adds_a_node_that_consumes_node_start_after_the_first_poll_over_target():
    sc = make(**BURST)
    trace = simulate(sc)
    times, queued = polls(trace)
    first = times[np.argmax(queued > TARGET * 1)]
    w2 = trace.workers.index("w2")
    received = np.flatnonzero((trace.state == RECEIVED) & (trace.worker == w2))
    row = received[np.argmin(trace.t[received])]
    delivery = Draws(sc).deliveries(0)[trace.task[row]]  # Celery's, from its BRPOP's reply
    assert trace.t[row] == pytest.approx(first + START + delivery, abs=1e-9)
    assert (first, "w2", False, 0) in trace.capacity
    assert (first + START, "w2", True, 1) in trace.capacity
    added = [r for r in trace.capacity if r[0] == first and not r[2]]
    assert len(added) == 3  # the step: ceil(LLEN / 10) wanted 8, at most 3 more per poll


def test_a_node_goes_node_cooldown_after_the_first_poll_that_wanted_fewer():
    trace = simulate(make(**BURST))
    times, queued = polls(trace)
    downs = [(t, name) for t, name, up, n in trace.capacity if not up and n]
    removed_at = downs[0][0]
    present = 1 + sum(1 for t, _, up, n in trace.capacity if not up and not n and t < removed_at)
    want = np.array([wanted(int(q), TARGET, 1, 8) for q in queued])
    fewer = times[(want < present) & (times > times[np.argmax(want == present)])][0]
    assert removed_at == pytest.approx(fewer + COOLDOWN, abs=1e-9)
    for _, name in downs:  # a removed node never comes back
        rows = [r for r in trace.capacity if r[1] == name]
        assert rows[-1][2] is False and rows[-1][0] >= removed_at
    up = {name: is_up for _, name, is_up, _ in trace.capacity}
    assert sum(up.values()) == 1  # back to min_nodes: the node that was there first
    assert up["w1"]


def test_rolling_deploys_skip_removed_nodes_and_the_run_ends():
    # a second burst at 600 s: deploys every 50 s go on while nodes are added and removed
    more = {"run.tasks": 600, "arrivals.rate": 0.5, "workers.deploy_every": 50.0}
    trace = simulate(make(**{**BURST, **more}))  # grace 30 s > service 10 s: nothing killed
    assert np.count_nonzero(trace.state == SUCCESS) == 600
    restarts = [r for r in trace.capacity if r[0] > 0 and r[2] and r[1] == "w1"]
    assert len(restarts) > 3  # the deploys did restart the first node
    removed = {r[1] for r in trace.capacity if r[0] < 600 and not r[2] and r[3]} - {"w1"}
    for name in removed:  # removed once the first burst drained, and never up again before
        rows = [r for r in trace.capacity if r[1] == name and r[0] < 600]
        assert rows[-1][2] is False


def test_node_seconds_is_the_sum_of_the_up_spans_and_the_pool_keeps_its_added_nodes():
    sc = make(**BURST)
    trace = simulate(sc)
    end = float(trace.t.max())
    spans, since = 0.0, {}
    for t, name, up, _ in trace.capacity:
        if name in since:
            spans += min(t, end) - since.pop(name)
        if up:
            since[name] = t
    spans += sum(end - t for t in since.values())
    summary = runs.summarize(trace, sc)
    assert summary.node_seconds == pytest.approx(spans, rel=1e-12)
    assert capacity_cost(trace.capacity, end)[1] == pytest.approx(spans, rel=1e-12)
    assert spans > 2 * end  # the added nodes were paid for
    members, _ = runs.pools(trace, sc)["workers"]
    assert members == list(range(len(trace.workers))) and len(members) == 8
    assert summary.by_pool["workers"]["executions"] == 300


def test_a_node_autoscaled_run_keeps_the_invariants_and_is_a_run_of_its_scenario():
    sc = make(**{**BURST, "run.tasks": 600, "arrivals.rate": 0.5})
    trace = simulate(sc)
    report = invariants.check(trace, sc)
    assert report.ok and report.redeliveries > 0  # removed nodes gave their prefetch back
    assert invariants.mismatch(trace, sc) is None


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    least=st.integers(1, 3),
    extra=st.integers(0, 4),
    start=st.integers(0, 4),
    step=st.integers(1, 3),
    target=st.integers(1, 30),
    size=st.integers(20, 200),
)
def test_the_node_count_stays_within_min_and_max_nodes(least, extra, start, step, target, size):
    most = least + extra
    count = min(most, least + start)
    sc = make(
        **{
            **BURST,
            "run.tasks": 2 * size,
            "arrivals.burst_size": size,
            "arrivals.rate": size / 200.0,
            "service.dist": "exponential",  # mean 2 s: none outlasts a removal's 30 s grace
            "service.mean": 2.0,
            "workers.count": count,
            "workers.min_nodes": least,
            "workers.max_nodes": most,
            "workers.node_step": step,
            "workers.node_target": target,
        }
    )
    trace = simulate(sc)
    up: dict[str, bool] = {}
    counts = {}  # up nodes once every row of an instant is in
    for t, name, is_up, _ in trace.capacity:
        up[name] = is_up
        counts[t] = sum(up.values())
    assert least <= min(counts.values()) and max(counts.values()) <= most
    assert np.count_nonzero(trace.state == SUCCESS) == 2 * size  # the run drained and ended


def test_count_outside_the_node_bounds_is_refused_naming_the_fields():
    with pytest.raises(
        ScenarioError, match=r"workers.count = 30 must lie within workers.min_nodes"
    ):
        make(**{"workers.node_autoscaler": "queue_length", "workers.count": 30})
    make(**{"workers.count": 30})  # without a node autoscaler the bounds do not apply


def test_live_takes_a_node_autoscaler():
    """It was refused as simulated only; live/node_autoscaler.py runs it on real nodes."""
    check_live(make(**{"workers.node_autoscaler": "queue_length", "workers.count": 2}))


def test_none_leaves_the_run_row_for_row():
    plain = {k: v for k, v in BURST.items() if not k.startswith("workers.node")}
    a, b = simulate(make(**plain)), simulate(make(**{**plain, "workers.max_nodes": 3}))
    for column in ("task", "attempt", "state", "t", "worker"):
        assert np.array_equal(getattr(a, column), getattr(b, column))
    assert a.capacity == b.capacity == ((0.0, "w1", True, 1),)


@pytest.mark.parametrize(
    "fields",
    [
        {"workers.node_interval": 1e-6},  # a poll a microsecond: a million a second of the run
        {"service.mean": 1e7},  # a poll every 30 s through months of a task
    ],
)
def test_polls_that_would_go_on_for_hours_stop_the_run_naming_the_interval(fields):
    sc = make(
        **{
            "run.tasks": 20,
            "workers.node_autoscaler": "queue_length",
            "workers.count": 1,
            "workers.max_nodes": 2,
            **fields,
        }
    )
    with pytest.raises(RunawayError, match=r"poll fired more than 12,000 times.*workers\.node_"):
        simulate(sc)


def test_the_decisions_recorded_are_the_nodes_started_and_stopped():
    """The trace's decisions, one per poll until the polls end, each started and stopped node
    at the decision's own time."""
    trace = simulate(make(**BURST))
    times, _ = polls(trace)
    decisions = trace.decisions
    assert [d.t for d in decisions] == pytest.approx(times[: len(decisions)], abs=1e-9)
    assert {"start", "hold", "stop"} <= {d.kind for d in decisions}
    check_decisions_against_capacity(trace, ["w1"])


@pytest.mark.parametrize("more", [{}, {"run.tasks": 600, "arrivals.rate": 0.5}])
def test_every_poll_reads_the_queue_the_trace_shows_given_back_messages_included(more):
    """Each decision's queue is the LLEN the trace rebuilds at its poll, to the last poll: the
    messages a removed node had reserved are back in the list from its exit (a poll read 4
    where counting each receipt as a message gone read 0, then -26)."""
    sc = make(**{**BURST, **more})
    trace = simulate(sc)
    _, queued = polls(trace)
    decisions = trace.decisions
    assert [d.queued for d in decisions] == queued[: len(decisions)].tolist()
    assert invariants.check(trace, sc).redeliveries > 0  # removed nodes gave messages back
