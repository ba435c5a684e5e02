"""The task mix of a run: latency per task type and queue length per queue, from the trace's
``task_name`` and ``queue`` (``Trace.types``, ``Trace.task_types()``)."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from sim.analysis.metrics import first_time, last_terminal, queue_length, step_counts
from sim.rules.states import PENDING, STARTED
from sim.trace import Trace


def sojourns_by_type(trace: Trace) -> dict[str, np.ndarray]:
    """Per task type, last terminal − PENDING of each of its tasks that ended."""
    end, _ = last_terminal(trace)
    sojourn = end - first_time(trace, PENDING)
    kind = trace.task_types()
    return {
        name: sojourn[(kind == i) & ~np.isnan(sojourn)] for i, (name, _) in enumerate(trace.types)
    }


def queue_depths(trace: Trace) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Queue length over time to draw: one line per queue when there are several, else one
    ``queued`` line (the Live page's chart, which Flower does not have)."""
    if len({q for _, q in trace.types}) > 1:
        return queue_lengths(trace)
    return {"queued": queue_length(trace)}


def queue_lengths(trace: Trace) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per queue, its tasks submitted but not yet started, over time."""
    times = _pending_and_started(trace)
    return {q: _queued(trace, times, {q}) for q in dict.fromkeys(q for _, q in trace.types)}


def queued_on(trace: Trace, queues: Collection[str]) -> tuple[np.ndarray, np.ndarray]:
    """The tasks routed to any of ``queues`` submitted but not yet started, over time: what
    Redis holds for a pool that consumes them, without the other pools' queues."""
    return _queued(trace, _pending_and_started(trace), queues)


def _pending_and_started(trace: Trace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per task, its first PENDING and STARTED times and its type."""
    return first_time(trace, PENDING), first_time(trace, STARTED), trace.task_types()


def _queued(
    trace: Trace, times: tuple[np.ndarray, np.ndarray, np.ndarray], queues: Collection[str]
) -> tuple[np.ndarray, np.ndarray]:
    pending, started, kind = times
    mine = np.isin(kind, [i for i, (_, q) in enumerate(trace.types) if q in queues])
    return step_counts(pending[mine & ~np.isnan(pending)], started[mine & ~np.isnan(started)])
