"""Stuck tasks, on a small trace whose answers can be worked out by hand."""

import numpy as np
import pytest

from sim.analysis import monitor
from sim.analysis.stuck import stuck_tasks
from tests.sim.analysis.helpers import run


def test_tasks_open_past_k_times_the_p99_finished_sojourn_are_flagged():
    trace = run()  # finished sojourns 6 (task 0) and 4 (task 1); now 7.5
    times = monitor.task_times(trace)
    stuck = stuck_tasks(trace, times, factor=1.0, least=2)  # threshold ≈ 5.96
    (threshold,) = stuck.thresholds.values()
    assert threshold == pytest.approx(np.percentile([6.0, 4.0], 99))
    assert stuck.count == 0  # task 3 is 5.5 s old, task 2 2.5 s
    stuck = stuck_tasks(trace, times, factor=0.5, least=2)
    assert stuck.count == 1 and stuck.columns["task"] == ["3"]
    assert stuck.columns["last state"] == ["STARTED"] and stuck.columns["age"] == [5.5]
    stuck = stuck_tasks(trace, times, factor=0.1, least=2)
    assert stuck.columns["task"] == ["3", "2"]  # the oldest first
    # two finished are too few for a p99 by default: the first to finish are the shortest
    stuck = stuck_tasks(trace, times, factor=0.1)
    assert (stuck.thresholds, stuck.count) == ({}, 0)
    unfinished = monitor.task_times(trace)
    nothing_done = monitor.TaskTimes(**{**vars(unfinished), "finished": unfinished.sent * np.nan})
    stuck = stuck_tasks(trace, nothing_done, least=1)
    assert (stuck.thresholds, stuck.count) == ({}, 0)
