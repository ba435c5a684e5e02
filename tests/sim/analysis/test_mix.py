"""Latency per task type and queue length per queue, from the trace's task_name and queue."""

import numpy as np

from sim import scenario
from sim.analysis.metrics import queue_length, sojourns
from sim.analysis.mix import queue_depths, queue_lengths, sojourns_by_type
from sim.engine.model import simulate

EXAMPLE = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=800"])


def test_each_type_has_its_own_sojourns_and_together_they_are_all():
    trace = simulate(EXAMPLE)
    by_type = sojourns_by_type(trace)
    assert list(by_type) == ["thumbnail", "report"]
    assert sum(len(s) for s in by_type.values()) == len(sojourns(trace)) == 800
    assert np.median(by_type["report"]) > 5 * np.median(by_type["thumbnail"])  # 5 s vs 0.3 s


def level_at(t: np.ndarray, level: np.ndarray, at: np.ndarray) -> np.ndarray:
    """A step function's level at the times ``at``: 0 before its first step."""
    i = np.searchsorted(t, at, side="right") - 1
    return np.where(i >= 0, level[np.maximum(i, 0)], 0)


def test_each_queue_holds_only_its_tasks_and_the_queues_add_up():
    trace = simulate(EXAMPLE.replace(**{"pools.slow.count": 2}))  # ρ = 1 on slow: it grows
    lengths = queue_lengths(trace)
    assert list(lengths) == ["fast", "slow"]
    t, total = queue_length(trace)
    at = np.linspace(0, t[-1], 50)
    added = sum(level_at(ts, level, at) for ts, level in lengths.values())
    assert np.array_equal(added, level_at(t, total, at))
    assert lengths["slow"][1].max() > lengths["fast"][1].max()


def test_the_live_chart_draws_a_line_per_queue_only_when_there_are_several():
    assert list(queue_depths(simulate(EXAMPLE))) == ["fast", "slow"]
    one = simulate(scenario.load("scenarios/mmc.toml", ["run.tasks=300"]))
    (t, level), whole = queue_depths(one)["queued"], queue_length(one)
    assert np.array_equal(t, whole[0]) and np.array_equal(level, whole[1])
