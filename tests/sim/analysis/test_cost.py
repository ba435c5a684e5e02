"""Worker-seconds and node-seconds from capacity rows, and from a simulated run's rows."""

import numpy as np
import pytest

from sim.analysis.cost import capacity_cost, down_clocks, nodes_over_time, processes_over_time
from sim.analysis.metrics import summarize
from sim.engine.model import simulate
from tests.sim.helpers import make


def test_a_node_pays_while_up_with_its_processes_and_its_last_row_holds_to_the_end():
    rows = (
        (0.0, "a", True, 2),
        (0.0, "b", True, 1),
        (10.0, "a", True, 5),  # grows at 10 s
        (20.0, "b", False, 1),  # down from 20 s to 25 s
        (25.0, "b", True, 1),
        (50.0, "a", False, 5),  # after the end: not counted
    )
    workers, nodes = capacity_cost(rows, 40.0)
    assert nodes == pytest.approx(40 + 35)
    assert workers == pytest.approx(2 * 10 + 5 * 30 + 35)


def test_a_down_clock_reads_the_seconds_an_interval_spent_not_up():
    rows = (
        (0.0, "a", True, 2),
        (0.0, "b", True, 1),
        (10.0, "a", False, 2),  # a warm shutdown from 10 s, down from 12 s, back at 15 s
        (12.0, "a", False, 2),
        (15.0, "a", True, 2),
        (30.0, "a", False, 2),  # removed at 30 s: not up to the end
    )
    clocks = down_clocks(rows, 40.0, {"a", "b"})
    assert set(clocks) == {"a"}  # b was always up
    times, seconds = clocks["a"]
    spent = np.interp([14.0, 35.0, 40.0], times, seconds) - np.interp(
        [5.0, 14.0, 0.0], times, seconds
    )
    assert spent == pytest.approx([4.0, 6.0, 15.0])
    assert down_clocks(rows, 40.0, {"b"}) == {}


def test_no_rows_cost_nothing():
    assert capacity_cost((), 100.0) == (0.0, 0.0)


def test_a_static_pool_pays_slots_times_makespan_exactly():
    sc = make(**{"run.tasks": 500, "workers.count": 3, "workers.concurrency": 2})
    trace = simulate(sc)
    summary = summarize(trace, sc.slots)
    assert len(trace.capacity) == 3  # one row per node at t = 0, no change after
    assert summary.worker_seconds == 6 * summary.makespan
    assert summary.node_seconds == 3 * summary.makespan


def down_spans(rows, end: float) -> list[float]:
    """How long each node was down, interval by interval, read from the rows alone."""
    spans, down_since = [], {}
    for t, node, up, _ in rows:
        if not up:
            down_since[node] = t
        elif node in down_since:
            spans.append(min(t, end) - down_since.pop(node))
    return spans + [end - t for t in down_since.values() if t < end]


def test_crashes_take_their_downtime_off_node_seconds():
    sc = make(
        **{
            "run.tasks": 2000,
            "workers.count": 4,
            "workers.concurrency": 3,
            "workers.restart_delay": 7.0,
            "failures.crash_probability": 0.01,
        }
    )
    trace = simulate(sc)
    summary = summarize(trace, sc.slots)
    spans = down_spans(trace.capacity, summary.makespan)
    assert len(spans) >= 10  # the run crashed nodes
    assert all(span == pytest.approx(7.0) for span in spans[:-1])  # restart_delay each
    assert summary.node_seconds == pytest.approx(4 * summary.makespan - sum(spans), rel=1e-12)
    assert summary.worker_seconds == pytest.approx(3 * summary.node_seconds, rel=1e-12)
    assert [row[0] for row in trace.capacity] == sorted(row[0] for row in trace.capacity)


def test_a_warm_shutdown_stops_consuming_until_the_node_is_back():
    sc = make(
        **{
            "run.tasks": 300,
            "arrivals.rate": 3.0,
            "workers.count": 2,
            "workers.deploy_every": 40.0,
            "workers.restart_delay": 2.0,
        }
    )
    trace = simulate(sc)
    downs = [row for row in trace.capacity if not row[2]]
    assert downs  # a deploy happened
    for t, node, _, _ in downs:
        back = next(r for r in trace.capacity if r[1] == node and r[0] > t and r[2])
        assert back[0] - t >= 2.0  # the drain, then restart_delay


def test_processes_over_time_sums_up_nodes_once_per_row_time_and_holds_to_the_end():
    rows = [
        (0.0, "w1", True, 1),
        (0.0, "w2", False, 0),  # not started yet
        (2.0, "w1", True, 8),  # scaled up
        (2.0, "w2", True, 1),  # started at the same time: one step, after both rows
        (5.0, "w1", False, 0),  # crashed: its 8 processes cost nothing while down
        (9.0, "w1", True, 1),
    ]
    t, level = processes_over_time(rows, end=12.0)
    assert t.tolist() == [0.0, 2.0, 5.0, 9.0, 12.0]
    assert level.tolist() == [1, 9, 1, 2, 2]
    assert processes_over_time(rows, end=9.0)[0].tolist() == [0.0, 2.0, 5.0, 9.0]
    assert [len(a) for a in processes_over_time([], end=3.0)] == [0, 0]


def test_nodes_over_time_counts_each_up_node_once_and_its_area_is_node_seconds():
    rows = [
        (0.0, "w1", True, 0),  # --autoscale 8 (MIN 0): up with no process is still a node
        (0.0, "w2", False, 0),  # added, still starting
        (3.0, "w2", True, 4),
        (7.0, "w1", False, 0),  # removed
    ]
    t, level = nodes_over_time(rows, end=10.0)
    assert t.tolist() == [0.0, 3.0, 7.0, 10.0]
    assert level.tolist() == [1, 2, 1, 1]
    area = float(np.sum(np.diff(t) * level[:-1]))
    assert area == pytest.approx(capacity_cost(rows, 10.0)[1]) == 3.0 + 2 * 4.0 + 3.0


def test_cost_from_a_start_and_of_some_nodes_only():
    rows = ((0.0, "a", True, 2), (0.0, "b", True, 1), (10.0, "a", True, 5), (30.0, "b", False, 1))
    assert capacity_cost(rows, 40.0, start=15.0) == (5 * 25 + 15, 25 + 15)
    assert capacity_cost(rows, 40.0, start=15.0, nodes={"b"}) == (15.0, 15.0)
    assert capacity_cost(rows, 40.0, start=50.0) == (0.0, 0.0)


def test_nodes_over_time_count_the_up_nodes_whatever_their_processes():
    rows = [
        (0.0, "w1", True, 8),
        (0.0, "w2", False, 0),  # a node autoscaler's node, not started yet
        (40.0, "w2", True, 1),
        (90.0, "w1", False, 8),  # removed: draining, then gone
    ]
    t, level = nodes_over_time(rows, end=100.0)
    assert t.tolist() == [0.0, 40.0, 90.0, 100.0] and level.tolist() == [1, 2, 1, 1]
