"""The Live page's monitor on small traces whose answers can be worked out by hand."""

import dataclasses
import math

import numpy as np
import pytest

from sim import scenario
from sim.analysis import monitor
from sim.engine.model import simulate
from sim.rules.states import FAILURE, PENDING, RECEIVED, RETRY, STARTED, SUCCESS
from sim.trace import Recorder


def run(**types):
    """Task 0 fails once on w1 and succeeds on w2; 1 succeeds on w1; 2 is still queued; 3 was
    running on w2 when w2 died and is received again by w1, where it still runs."""
    r = Recorder(("w1", "w2"), **types)
    for task, attempt, state, t, worker in [
        (0, 0, PENDING, 0.0, -1),
        (1, 0, PENDING, 0.0, -1),
        (0, 0, RECEIVED, 0.5, 0),
        (0, 0, STARTED, 1.0, 0),
        (1, 0, RECEIVED, 1.0, 0),
        (0, 0, RETRY, 2.0, 0),
        (1, 0, STARTED, 2.0, 0),
        (3, 0, PENDING, 2.0, -1),
        (3, 0, RECEIVED, 2.0, 1),
        (3, 0, STARTED, 2.5, 1),
        (0, 1, RECEIVED, 3.0, 1),
        (1, 0, SUCCESS, 4.0, 0),
        (0, 1, STARTED, 4.0, 1),
        (2, 0, PENDING, 5.0, -1),
        (0, 1, SUCCESS, 6.0, 1),
        (3, 0, RECEIVED, 7.0, 0),
        (3, 0, STARTED, 7.5, 0),
    ]:
        r.add(task, attempt, state, t, worker)
    return r.trace()


def test_task_times_say_where_each_task_is_and_when_it_got_there():
    times = monitor.task_times(run())
    assert times.sent.tolist() == [0.0, 0.0, 5.0, 2.0]
    assert times.received.tolist()[:2] == [0.5, 1.0] and math.isnan(times.received[2])
    assert times.started[0] == 1.0 and times.started[3] == 2.5
    assert times.finished[:2].tolist() == [6.0, 4.0] and math.isnan(times.finished[3])
    assert times.runtime[:2].tolist() == [2.0, 2.0]  # the execution that ended it, not the first
    assert times.attempts.tolist() == [2, 1, 0, 1]
    assert times.state.tolist() == [SUCCESS, SUCCESS, PENDING, STARTED]
    assert times.worker.tolist() == [1, 0, -1, 0]  # where it was last seen


def test_the_task_table_is_newest_first_filtered_and_bounded():
    trace = run()
    times = monitor.task_times(trace)
    columns, matched = monitor.task_table(trace, times)
    assert matched == 4 and columns["task"] == ["3", "0", "2", "1"]  # by latest activity
    assert columns["finished"] == [None, 6.0, None, 4.0]
    assert columns["worker"] == ["w1", "w2", None, "w1"]  # an empty cell, as "finished"
    columns, matched = monitor.task_table(trace, times, states=("SUCCESS",), workers=("w1",))
    assert (columns["task"], matched) == (["1"], 1)
    columns, matched = monitor.task_table(trace, times, limit=2)
    assert columns["task"] == ["3", "0"] and matched == 4  # the caption says 2 of 4


def test_a_run_of_several_types_names_each_tasks_and_filters_by_it():
    kinds = {"type_of": np.array([1, 0, 1, 0], np.int16), "types": (("mail", "q1"), ("pdf", "q2"))}
    trace = run(**kinds)
    times = monitor.task_times(trace)
    columns, matched = monitor.task_table(trace, times)
    assert columns["task"] == ["3", "0", "2", "1"]
    assert columns["type"] == ["mail", "pdf", "pdf", "mail"]
    columns, matched = monitor.task_table(trace, times, types=("pdf",))
    assert (columns["task"], matched) == (["0", "2"], 2)
    columns, matched = monitor.task_table(trace, times, states=("SUCCESS",), types=("pdf",))
    assert columns["task"] == ["0"] and columns["type"] == ["pdf"]
    assert "type" not in monitor.task_table(run(), times)[0]  # one type: no column to read
    assert monitor.task_kind(trace, "0") == ("pdf", "q2")
    assert monitor.task_kind(trace, "3") == ("mail", "q1")
    assert monitor.task_kind(trace, "no such task") is None


def test_a_tasks_history_is_every_row_of_its_trace():
    history = monitor.task_trace(run(), "0")
    assert history["state"] == ["PENDING", "RECEIVED", "STARTED", "RETRY", "RECEIVED"] + [
        "STARTED",
        "SUCCESS",
    ]
    assert history["attempt"] == [0, 0, 0, 0, 1, 1, 1]
    assert history["worker"] == [None, "w1", "w1", "w1", "w2", "w2", "w2"]
    assert history["t"][-1] == 6.0
    assert monitor.task_trace(run(), "no such task")["state"] == []


def stats(trace, concurrency, going, held=()):
    """``worker_stats`` of ``trace``, the tasks ``held`` scheduled."""
    scheduled = np.isin(np.arange(trace.n_tasks), held)
    return monitor.worker_stats(trace, concurrency, going, monitor.task_times(trace), scheduled)


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
    middle, series = monitor.busy_by_worker(run(), going=True, bins=3)  # now 7.5: 2.5 s spans
    assert middle.tolist() == [1.25, 3.75, 6.25]
    assert series["w1"].tolist() == pytest.approx([0.6, 0.6, 0.0])  # busy 1–2, 2–4
    assert series["w2"].tolist() == pytest.approx([0.0, 0.4, 0.4])  # busy 4–6 (2.5–… died)
    _, series = monitor.busy_by_worker(run(), going=True, bins=1)
    assert series["w1"].tolist() == pytest.approx([3 / 7.5])


def test_the_flow_counts_tasks_sent_and_ended_per_second_of_each_span_up_to_now():
    """Spans of 2.5 s up to 7.5 s: sent at 0, 0, 2 and 5 (a task's first PENDING, not its
    retry), succeeded at 4 and 6, none failed."""
    middle, rates = monitor.flow(run(), bins=3)
    assert middle.tolist() == [1.25, 3.75, 6.25]
    assert list(rates) == ["sent", "succeeded", "failed"]
    assert len(monitor.flow(run())[0]) == 5  # by default, spans of 25 sends: 5 at the least
    assert np.round(np.array(list(rates.values())), 9).tolist() == [
        [1.2, 0.0, 0.4],
        [0.0, 0.4, 0.4],
        [0.0, 0.0, 0.0],
    ]


def test_tasks_ended_per_second_are_a_line_per_worker_or_per_type():
    """Now 7.5 s, spans of 2.5 s: task 1 succeeded on w1 at 4 s, task 0 on w2 at 6 s; a line
    of failures only where some failed."""
    middle, series = monitor.ended_by(run(), "worker", bins=3)
    assert middle.tolist() == [1.25, 3.75, 6.25]
    assert {k: v.tolist() for k, v in series.items()} == {
        "w1 succeeded": [0.0, 0.4, 0.0],
        "w2 succeeded": [0.0, 0.0, 0.4],
    }
    kinds = {"type_of": np.array([1, 0, 1, 0], np.int16), "types": (("mail", "q1"), ("pdf", "q2"))}
    r = Recorder(("w1", "w2"), **kinds)
    for row in [(2, 0, PENDING, 0.0, -1), (2, 0, STARTED, 0.5, 1), (2, 0, FAILURE, 1.0, 1)]:
        r.add(*row)
    _, series = monitor.ended_by(r.trace(), "type", bins=1)
    assert {k: v.tolist() for k, v in series.items()} == {
        "mail succeeded": [0.0],
        "pdf succeeded": [0.0],
        "pdf failed": [1.0],
    }
    _, by_type = monitor.ended_by(run(**kinds), "type", bins=3)
    assert by_type["mail succeeded"].tolist() == [0.0, 0.4, 0.0]  # task 1, a mail


def test_the_flow_of_an_overloaded_pool_ends_below_what_is_sent():
    """mmc on 2 workers, ρ 1.6 (simulated, 2,000 tasks, a quarter failing, never retried):
    while tasks are sent, fewer end; in all, every task sent ends once."""
    from sim import scenario
    from sim.engine.model import simulate

    sc = scenario.load(
        "scenarios/mmc.toml",
        ["run.tasks=2000", "workers.count=2", "failures.probability=0.25", "retry.max_retries=0"],
    )
    middle, rates = monitor.flow(simulate(sc))
    assert len(middle) == monitor.BUSY_BINS  # 80 spans of 25 sends, at most as many as busy
    sending = rates["sent"] > 0
    ended = rates["succeeded"] + rates["failed"]
    assert ended[sending].mean() < 0.7 * rates["sent"][sending].mean()
    counts = {name: round(r.sum() * (middle[1] - middle[0])) for name, r in rates.items()}
    assert counts["sent"] == counts["succeeded"] + counts["failed"] == 2000
    assert 400 < counts["failed"] < 600


def test_the_wait_split_separates_broker_prefetch_and_runtime():
    split = monitor.wait_split(run())
    assert split["broker wait"].tolist() == [0.5, 1.0, 0.0]  # tasks 0, 1, 3; task 2 queued
    assert split["prefetch wait"].tolist() == [0.5, 1.0, 0.5]
    assert sorted(split["runtime"].tolist()) == [1.0, 2.0, 2.0]  # closed executions only
    q = monitor.quantiles(np.arange(101.0))
    assert q == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert monitor.quantiles(np.zeros(0)) == {}


def test_the_wait_split_of_several_types_is_each_types_own():
    """Tasks 0 and 2 are pdfs (2 still queued), 1 and 3 mails: each type's waits and runtimes
    are its own tasks', every execution of them."""
    kinds = {"type_of": np.array([1, 0, 1, 0], np.int16), "types": (("mail", "q1"), ("pdf", "q2"))}
    split = monitor.wait_split_by_type(run(**kinds))
    assert list(split) == ["mail", "pdf"]
    assert {k: v.tolist() for k, v in split["pdf"].items()} == {
        "broker wait": [0.5],
        "prefetch wait": [0.5],
        "runtime": [1.0, 2.0],  # task 0's two executions
    }
    assert {k: sorted(v.tolist()) for k, v in split["mail"].items()} == {
        "broker wait": [0.0, 1.0],
        "prefetch wait": [0.5, 1.0],
        "runtime": [2.0],
    }
    (one,) = monitor.wait_split_by_type(run()).values()  # one type: the whole split
    whole = monitor.wait_split(run())
    assert {k: v.tolist() for k, v in one.items()} == {k: v.tolist() for k, v in whole.items()}


def test_each_queues_tasks_now_are_split_by_where_they_are():
    """At 7.5 s: task 2 (sent at 5) waits, 3 runs again, 0 and 1 have ended; with two types,
    each on its own queue, each queue counts its own."""
    (one,) = queues(run())
    assert one == monitor.QueueStats(
        "celery", waiting=1, scheduled=0, reserved=0, running=1, oldest_wait=2.5
    )
    kinds = {"type_of": np.array([1, 0, 1, 0], np.int16), "types": (("mail", "q1"), ("pdf", "q2"))}
    q1, q2 = queues(run(**kinds))
    assert q1 == monitor.QueueStats(
        "q1", waiting=0, scheduled=0, reserved=0, running=1, oldest_wait=None
    )
    assert q2 == monitor.QueueStats(
        "q2", waiting=1, scheduled=0, reserved=0, running=0, oldest_wait=2.5
    )
    r = Recorder(("w1",))  # a retried task waits again, since its RETRY; one received is reserved
    for task, state, t in [(0, PENDING, 0.0), (0, RECEIVED, 1.0), (0, STARTED, 1.0)]:
        r.add(task, 0, state, t, -1 if state == PENDING else 0)
    r.add(0, 0, RETRY, 2.0, 0)
    r.add(1, 0, PENDING, 2.5, -1)
    r.add(1, 0, RECEIVED, 3.0, 0)
    (q,) = queues(r.trace())
    assert (q.waiting, q.scheduled, q.reserved, q.running, q.oldest_wait) == (1, 0, 1, 0, 1.0)
    r.add(0, 1, RECEIVED, 3.0, 0)  # the retry, taken by w1: scheduled, or reserved once due
    (q,) = queues(r.trace(), held=[0])
    assert (q.waiting, q.scheduled, q.reserved) == (0, 1, 1)
    (q,) = queues(r.trace())
    assert (q.waiting, q.scheduled, q.reserved) == (0, 0, 2)


def queues(trace, held=()):
    """``queue_stats`` of ``trace``, the tasks ``held`` scheduled."""
    scheduled = np.isin(np.arange(trace.n_tasks), held)
    return monitor.queue_stats(trace, monitor.task_times(trace), scheduled)


def test_tasks_open_past_k_times_the_p99_finished_sojourn_are_flagged():
    trace = run()  # finished sojourns 6 (task 0) and 4 (task 1); now 7.5
    times = monitor.task_times(trace)
    stuck = monitor.stuck_tasks(trace, times, factor=1.0, least=2)  # threshold ≈ 5.96
    (threshold,) = stuck.thresholds.values()
    assert threshold == pytest.approx(np.percentile([6.0, 4.0], 99))
    assert stuck.count == 0  # task 3 is 5.5 s old, task 2 2.5 s
    stuck = monitor.stuck_tasks(trace, times, factor=0.5, least=2)
    assert stuck.count == 1 and stuck.columns["task"] == ["3"]
    assert stuck.columns["last state"] == ["STARTED"] and stuck.columns["age"] == [5.5]
    stuck = monitor.stuck_tasks(trace, times, factor=0.1, least=2)
    assert stuck.columns["task"] == ["3", "2"]  # the oldest first
    # two finished are too few for a p99 by default: the first to finish are the shortest
    stuck = monitor.stuck_tasks(trace, times, factor=0.1)
    assert (stuck.thresholds, stuck.count) == ({}, 0)
    unfinished = monitor.task_times(trace)
    nothing_done = monitor.TaskTimes(**{**vars(unfinished), "finished": unfinished.sent * np.nan})
    stuck = monitor.stuck_tasks(trace, nothing_done, least=1)
    assert (stuck.thresholds, stuck.count) == ({}, 0)


def test_littles_law_on_the_run_so_far():
    trace = run()  # now 7.5; sent 0, 0, 5, 2; ended 6 and 4
    law = monitor.little(trace, monitor.task_times(trace))
    assert law.arrival_rate == pytest.approx(4 / 7.5)
    assert law.sojourn_mean == pytest.approx(5.0)
    assert law.in_system_mean == pytest.approx((6 + 4 + 2.5 + 5.5) / 7.5)  # open ones until now
    r = Recorder(("w1",))
    for task, state, t in [(0, PENDING, 0.0), (1, PENDING, 1.0), (0, SUCCESS, 2.0)]:
        r.add(task, 0, state, t, 0)
    r.add(1, 0, SUCCESS, 4.0, 0)
    done = r.trace()
    law = monitor.little(done, monitor.task_times(done))
    assert law.in_system_mean == pytest.approx(law.predicted)  # complete: L = λW exactly


def back_to_back(tasks: int, runtime: float, gap: float):
    """One slot, every task queued at 0, each run ``runtime`` with ``gap`` idle before the next."""
    r = Recorder(("w1",))
    for task in range(tasks):
        r.add(task, 0, PENDING, 0.0)
    for task in range(tasks):
        start = task * (runtime + gap)
        r.add(task, 0, RECEIVED, start, 0)
        r.add(task, 0, STARTED, start, 0)
        r.add(task, 0, SUCCESS, start + runtime, 0)
    return r.trace()


def test_a_slot_is_held_for_the_runtime_and_the_gap_after_it_while_tasks_queue():
    assert monitor.held_slot(back_to_back(30, 1.0, 0.5), slots=1) == pytest.approx(1.5)
    assert monitor.held_slot(back_to_back(30, 1.0, 0.0), slots=1) == pytest.approx(1.0)
    assert monitor.held_slot(back_to_back(10, 1.0, 0.5), slots=1) is None  # too few to say


def test_slot_stretch_finds_a_slower_live_service():
    """mmc with 2,000 tasks and the same draws: a service k times as long is found k times as
    long within 5 % (the backlogs differ, so the estimate is not exact)."""
    from sim import scenario
    from sim.engine.model import simulate

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=2000"])
    simulated = simulate(sc)
    assert monitor.slot_stretch(simulated, simulated, sc.workers.slots) == 1.0
    for k in (1.2, 1.5, 2.0):
        slower = simulate(sc.replace(**{"service.mean": k * sc.service.mean}))
        assert monitor.slot_stretch(slower, simulated, sc.workers.slots) == pytest.approx(
            k, rel=0.05
        )


def test_slot_stretch_falls_back_on_mean_runtime_without_a_backlog():
    quiet, slow = back_to_back(5, 1.0, 1.0), back_to_back(5, 3.0, 1.0)
    assert monitor.slot_stretch(slow, quiet, slots=1) == pytest.approx(3.0)
    queued_only = Recorder(("w1",))
    queued_only.add(0, 0, PENDING, 0.0)
    assert monitor.slot_stretch(queued_only.trace(), quiet, slots=1) is None
