"""A run of a scenario, reported: the summary as the CLI, the app and the lessons all ask for it.

A trace alone does not say how many slots its run had, which scenario it was or its seed; the
scenario does. Taking the scenario here means no caller passes them by hand, and none can pass
another scenario's.
"""

from __future__ import annotations

from dataclasses import replace

from sim.analysis import groups, metrics
from sim.analysis.metrics import Summary
from sim.scenario import Scenario
from sim.trace import Trace


def summarize(
    trace: Trace, scenario: Scenario, engine: str = "sim", seed: int | None = None
) -> Summary:
    """The summary of ``trace``, a run of ``scenario`` with ``seed`` (default: the scenario's)."""
    summary = metrics.summarize(
        trace,
        scenario.slots,
        engine=engine,
        scenario=scenario.name,
        seed=scenario.seed if seed is None else seed,
        warmup=scenario.run.warmup,
    )
    return replace(summary, **groups.by_group(trace, pools(trace, scenario), scenario.run.warmup))


def pools(trace: Trace, scenario: Scenario) -> dict[str, tuple[list[int], int]]:
    """Each pool's workers (indices into ``trace.workers``, by the names the scenario gives its
    nodes) and its slots."""
    index = {name: i for i, name in enumerate(trace.workers)}
    found: dict[str, tuple[list[int], int]] = {
        p.name: ([], p.workers.slots) for p in scenario.worker_pools
    }
    for name, pool in scenario.nodes:
        if name in index:
            found[pool.name][0].append(index[name])
    return found


def in_system_mean(summary: Summary, scenario: Scenario) -> float:
    """L, the time-average number of tasks in the system: those waiting plus the busy slots."""
    return summary.queue_len_mean + summary.utilization * scenario.slots
