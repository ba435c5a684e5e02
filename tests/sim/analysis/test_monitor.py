"""Each task's times and whereabouts, the task list and a task's own trace, on small
traces whose answers can be worked out by hand."""

import math

from sim.analysis import monitor
from sim.rules.states import PENDING, STARTED, SUCCESS
from tests.sim.analysis.helpers import run, two_types


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
    kinds = two_types()
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
