"""The arrival rate over a run: the rate the scenario sets, and the arrivals its run drew, for the
chart of a rate that varies over time (Explore, when a stream is piecewise or a cycle)."""

from __future__ import annotations

import numpy as np

from sim.analysis.metrics import first_time
from sim.engine.varying_rate import VARYING, rate_at
from sim.rules.states import PENDING
from sim.scenario import Arrivals, Scenario
from sim.trace import Trace

POINTS = 500  # points of the set rate's curve: a sine's period spans many of them
BINS = 60  # bins of the drawn arrivals: enough to see the shape, each with enough arrivals


def streams(scenario: Scenario) -> list[Arrivals]:
    """The arrival streams of the run: [arrivals] if a type takes a share of it, and each type's
    own [tasks.arrivals]."""
    types = scenario.task_types
    shared = [scenario.arrivals] if any(t.arrivals is None for t in types) else []
    return shared + [t.arrivals for t in types if t.arrivals is not None]


def set_rate(scenario: Scenario, end: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Times over [0, ``end``] and the total rate the scenario sets at them, in tasks/s; None
    unless a stream varies over time (or where a trace has no rate to add)."""
    arrivals = streams(scenario)
    if not any(a.process in VARYING for a in arrivals) or any(
        a.process == "trace" for a in arrivals
    ):
        return None
    t = np.linspace(0.0, end, POINTS)
    total = sum(
        rate_at(a, t) if a.process in VARYING else np.full(POINTS, a.rate) for a in arrivals
    )
    return t, np.asarray(total)


def drawn_rate(trace: Trace, end: float, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """The middle of ``bins`` equal spans of [0, ``end``] and the tasks per second submitted in
    each (each task's first PENDING row)."""
    return per_second(first_time(trace, PENDING), end, bins)


def per_second(times: np.ndarray, end: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """The middle of ``bins`` equal spans of [0, ``end``] and how many of ``times`` (NaN: none)
    fall in each, per second (no span before any time has passed)."""
    if end <= 0:
        return np.zeros(0), np.zeros(0)
    edges = np.linspace(0.0, end, bins + 1)
    counts, _ = np.histogram(times[~np.isnan(times)], edges)
    return (edges[:-1] + edges[1:]) / 2, counts / np.diff(edges)


def run_end(scenario: Scenario, trace: Trace) -> float:
    """Where the chart ends: ``run.duration``, else the last arrival."""
    if scenario.run.duration:
        return scenario.run.duration
    sent = first_time(trace, PENDING)
    return float(np.nanmax(sent)) if len(sent) and not np.all(np.isnan(sent)) else 0.0
