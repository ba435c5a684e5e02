"""Each worker node's counts, what it holds and how busy it was, on small traces whose
answers can be worked out by hand."""

import dataclasses

import numpy as np
import pytest

from sim import scenario
from sim.analysis import monitor
from sim.analysis.workers import busy_by_worker, pools_done, worker_stats
from sim.engine.model import simulate
from sim.rules.states import FAILURE, PENDING, RECEIVED, RETRY, STARTED, SUCCESS
from sim.trace import Recorder
from tests.sim.analysis.helpers import run


def stats(trace, concurrency, going, held=()):
    """``worker_stats`` of ``trace``, the tasks ``held`` scheduled."""
    scheduled = np.isin(np.arange(trace.n_tasks), held)
    return worker_stats(trace, concurrency, going, monitor.task_times(trace), scheduled)


def test_worker_stats_count_each_nodes_executions_and_its_busy_time():
    w1, w2 = stats(run(), concurrency={"w1": 1, "w2": 1}, going=True)
    assert (w1.name, w1.busy, w1.succeeded, w1.failed, w1.retried) == ("w1", 1, 1, 0, 1)
    assert (w2.busy, w2.succeeded, w2.interrupted) == (0, 1, 1)  # task 3 died with w2
    assert (w1.received, w2.received) == (3, 2)  # Flower's "Processed": task 3 twice, 0 on each
    assert w1.utilization == pytest.approx(3 / 7.5)  # 1 + 2 s closed, 0 s so far of task 3
    assert w2.utilization == pytest.approx(2 / 7.5)
    w1, _ = stats(run(), concurrency={"w1": 2, "w2": 2}, going=False)
    assert (w1.busy, w1.interrupted) == (0, 1)  # after the run nothing runs: task 3 is lost
    assert w1.utilization == pytest.approx(3 / 15)
    # each node of its own pool's concurrency (a pool of 2 beside one of 1 read 168 % busy)
    w1, w2 = stats(run(), concurrency={"w1": 2, "w2": 1}, going=False)
    assert w1.utilization == pytest.approx(3 / 15) and w2.utilization <= 1


def test_a_node_whose_capacity_varies_is_busy_over_the_processes_it_had():
    """--autoscale 3,1: one process until 1 s, then 3, all busy until 2 s: 100 %, where its
    unread concurrency of 1 read 200 %; gone down at 1.5 s, its three tasks ran on in the
    drain, slot-seconds it had all the same."""
    r = Recorder(("w1",))
    for task, start in [(0, 0.0), (1, 1.0), (2, 1.0), (3, 1.0)]:
        r.add(task, 0, PENDING, start)
        r.add(task, 0, RECEIVED, start, 0)
        r.add(task, 0, STARTED, start, 0)
    r.add(0, 0, SUCCESS, 1.0, 0)
    r.add(4, 0, PENDING, 2.0)  # now
    trace = dataclasses.replace(r.trace(), capacity=((0.0, "w1", True, 1), (1.0, "w1", True, 3)))
    (w1,) = stats(trace, {"w1": None}, going=True)
    assert (w1.busy, w1.slots, w1.utilization) == (3, 3, pytest.approx(1.0))
    (w1,) = stats(trace, {"w1": 1}, going=True)
    assert w1.utilization == pytest.approx(2.0)  # what the table read before
    drained = dataclasses.replace(trace, capacity=(*trace.capacity, (1.5, "w1", False, 3)))
    (w1,) = stats(drained, {"w1": None}, going=True)
    assert (w1.slots, w1.utilization) == (0, pytest.approx(1.0))


def test_a_node_whose_capacity_varies_counts_its_ended_executions():
    """An --autoscale node's end times took the name of its executions' end states, and its
    succeeded, failed and retried read 0 (26 scrapes ended, all 0 in the Workers table)."""
    r = Recorder(("w1",))
    for task, end, state in [(0, 1.0, SUCCESS), (1, 2.0, RETRY), (2, 3.0, FAILURE)]:
        r.add(task, 0, PENDING, 0.0)
        r.add(task, 0, RECEIVED, 0.0, 0)
        r.add(task, 0, STARTED, 0.0, 0)
        r.add(task, 0, state, end, 0)
    trace = dataclasses.replace(r.trace(), capacity=((0.0, "w1", True, 3),))
    (varying,) = stats(trace, {"w1": None}, going=False)
    (fixed,) = stats(trace, {"w1": 3}, going=False)
    counts = (varying.succeeded, varying.retried, varying.failed)
    assert counts == (fixed.succeeded, fixed.retried, fixed.failed) == (1, 1, 1)


def test_a_node_is_busy_over_its_pool_s_own_time_as_the_pool_s_utilisation():
    """w1 (pool of queue "mail") ran its one task from 0 to 1 s; w2's report ran until 3 s.
    The summary's pool utilisation is over the pool's own time, until its last task ended:
    mail's 100 %, where its node read 33 % over the reports' run."""
    r = Recorder(
        ("w1", "w2"), type_of=np.array([0, 1]), types=(("email", "mail"), ("report", "reports"))
    )
    for task, worker, end in [(0, 0, 1.0), (1, 1, 3.0)]:
        r.add(task, 0, PENDING, 0.0)
        r.add(task, 0, RECEIVED, 0.0, worker)
        r.add(task, 0, STARTED, 0.0, worker)
        r.add(task, 0, SUCCESS, end, worker)
    trace = r.trace()
    done = pools_done(trace, monitor.task_times(trace), {"w1": ("mail",), "w2": ("reports",)})
    assert done == {"w1": 1.0, "w2": 3.0}
    w1, w2 = worker_stats(
        trace, {"w1": 1, "w2": 1}, False, monitor.task_times(trace), np.zeros(2, bool), done
    )
    assert (w1.utilization, w2.utilization) == (1.0, 1.0)


def test_an_execution_its_node_came_back_from_is_cut_short_not_running():
    """w1 dies at 1 s running task 0 and is back at 2 s, where it starts task 1: task 0's
    message waits out the visibility timeout, and it read as running beside task 1 (2 busy of
    1, 117 %). Down for a warm shutdown and not back, a node still runs its tasks."""
    r = Recorder(("w1",))
    for task, start in [(0, 0.0), (1, 2.5)]:
        r.add(task, 0, PENDING, start)
        r.add(task, 0, RECEIVED, start, 0)
        r.add(task, 0, STARTED, start, 0)
    r.add(2, 0, PENDING, 3.0)  # now
    died = ((0.0, "w1", True, 1), (1.0, "w1", False, 0), (2.0, "w1", True, 1))
    (w1,) = stats(dataclasses.replace(r.trace(), capacity=died), {"w1": 1}, going=True)
    assert (w1.busy, w1.interrupted, w1.utilization) == (1, 1, pytest.approx(0.5 / 3))
    draining = ((0.0, "w1", True, 1), (1.0, "w1", False, 1))
    (w1,) = stats(dataclasses.replace(r.trace(), capacity=draining), {"w1": 1}, going=True)
    assert (w1.busy, w1.interrupted) == (2, 0)


def test_a_run_whose_nodes_die_and_come_back_is_never_more_than_all_busy():
    """Nodes of one slot die with 5 % of their tasks and come back 1 s later: at every moment
    of the run so far, each node ran at most one task at a time."""
    sc = scenario.load(
        "scenarios/mmc.toml",
        ["run.tasks=400", "failures.crash_kind=node", "failures.crash_probability=0.05"],
    )
    trace = simulate(sc)
    assert np.count_nonzero(np.array([up for _, _, up, _ in trace.capacity]) == 0) > 3
    for now in np.linspace(5.0, monitor.now(trace), 50):
        keep = trace.t <= now
        cut = dataclasses.replace(
            trace,
            **{c: getattr(trace, c)[keep] for c in ("task", "attempt", "state", "t", "worker")},
            capacity=tuple(row for row in trace.capacity if row[0] <= now),
        )
        for w in stats(cut, dict.fromkeys(cut.workers, 1), going=True):
            assert w.busy <= 1 and w.utilization <= 1 + 1e-9, (now, w)


def test_each_worker_says_what_it_holds_now_scheduled_apart_from_reserved():
    """Tasks 1 and 2 received by w1 and not started, 1 held for a countdown: one of each."""
    r = Recorder(("w1", "w2"))
    for task in (0, 1, 2):
        r.add(task, 0, PENDING, 0.0)
        r.add(task, 0, RECEIVED, 1.0, 0)
    r.add(0, 0, STARTED, 1.0, 0)
    w1, w2 = stats(r.trace(), {"w1": 1, "w2": 1}, going=True, held=[1])
    assert (w1.busy, w1.scheduled, w1.reserved) == (1, 1, 1)
    assert (w2.scheduled, w2.reserved) == (0, 0)
    w1, _ = stats(r.trace(), {"w1": 1, "w2": 1}, going=False, held=[1])
    assert (w1.scheduled, w1.reserved) == (0, 0)  # after the run no worker holds anything


def test_busy_slots_per_worker_are_each_spans_mean_up_to_now():
    middle, series = busy_by_worker(run(), going=True, bins=3)  # now 7.5: 2.5 s spans
    assert middle.tolist() == [1.25, 3.75, 6.25]
    assert series["w1"].tolist() == pytest.approx([0.6, 0.6, 0.0])  # busy 1–2, 2–4
    assert series["w2"].tolist() == pytest.approx([0.0, 0.4, 0.4])  # busy 4–6 (2.5–… died)
    _, series = busy_by_worker(run(), going=True, bins=1)
    assert series["w1"].tolist() == pytest.approx([3 / 7.5])
