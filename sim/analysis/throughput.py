"""Tasks sent and ended per second over a run so far, in equal spans from its start: Flower's
monitor graphs, beside what was sent, whole or a line per worker node or task type."""

from __future__ import annotations

import numpy as np

from sim.analysis.metrics import first_time
from sim.analysis.monitor import now, type_names
from sim.analysis.rate_over_time import per_second
from sim.analysis.workers import BUSY_BINS
from sim.rules.states import FAILURE, PENDING, SUCCESS
from sim.trace import Trace

FLOW_PER_SPAN = 25  # sends a span of the flow chart holds on average: Poisson noise ~20 %


def flow(trace: Trace, bins: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Tasks sent, succeeded and failed per second in each of ``bins`` equal spans from the
    start until now (by default enough for ``FLOW_PER_SPAN`` sends a span, 5 to
    ``BUSY_BINS``): Flower graphs the last two; beside what was sent, a span where the
    workers fell behind shows as ended below sent."""
    end = now(trace)
    sent = first_time(trace, PENDING)
    bins = _flow_bins(sent) if bins is None else bins
    ended = {
        name: trace.t[trace.state == state]
        for name, state in (("succeeded", SUCCESS), ("failed", FAILURE))
    }
    middle, rate = per_second(sent, end, bins)
    return middle, {"sent": rate} | {name: per_second(t, end, bins)[1] for name, t in ended.items()}


def _flow_bins(sent: np.ndarray) -> int:
    """Spans enough for ``FLOW_PER_SPAN`` sends each (``sent``: per task, NaN if not yet), 5 to
    ``BUSY_BINS``."""
    return min(BUSY_BINS, max(5, int(np.count_nonzero(~np.isnan(sent))) // FLOW_PER_SPAN))


def ended_by(
    trace: Trace, by: str, bins: int | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Tasks succeeded and failed per second in ``flow``'s spans, a line per worker node
    (``by="worker"``, as Flower's monitor graphs them) or per task type (``by="type"``); a
    failed line only for a group with failures. A node that ends fewer than the others, or a
    type that ends below its share of what is sent, shows as its own line."""
    end = now(trace)
    bins = _flow_bins(first_time(trace, PENDING)) if bins is None else bins
    if by == "worker":
        names, group = list(trace.workers), trace.worker
    else:
        names, group = type_names(trace), trace.task_types()[trace.task]
    middle, series = np.zeros(0), {}
    for state, said in ((SUCCESS, "succeeded"), (FAILURE, "failed")):
        rows = trace.state == state
        for k, name in enumerate(names):
            mine = rows & (group == k)
            if state == SUCCESS or mine.any():
                middle, series[f"{name} {said}"] = per_second(trace.t[mine], end, bins)
    return middle, series
