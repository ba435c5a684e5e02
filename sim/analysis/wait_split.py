"""Where a task's time went, which Flower cannot show: the broker wait, the prefetch wait and
the runtime, whole or per task type, and the quantiles the Live page reads them by."""

from __future__ import annotations

import numpy as np

from sim.analysis.metrics import execution_spans, first_time
from sim.analysis.monitor import type_names
from sim.rules.states import PENDING, RECEIVED, STARTED
from sim.trace import Trace

QUANTILES = (50, 95, 99)


def wait_split(trace: Trace) -> dict[str, np.ndarray]:
    """Where a task's time went, which Flower cannot show: waiting in the broker (PENDING →
    RECEIVED), reserved by a worker behind other tasks (RECEIVED → STARTED), and running
    (STARTED → its end). Waits are the first delivery's, since a retry's countdown is spent
    reserved too (Celery holds an ETA message on the worker); runtimes are every execution's."""
    return _splits(trace, np.zeros(trace.n_tasks, np.int64), ["every task"])["every task"]


def wait_split_by_type(trace: Trace) -> dict[str, dict[str, np.ndarray]]:
    """``wait_split`` of each task type's tasks, by type name: mixed, the waits of 5 s reports
    queued behind each other read as a tail of 0.3 s thumbnails' that never waited."""
    return _splits(trace, trace.task_types(), type_names(trace))


def _splits(trace: Trace, kind: np.ndarray, names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """The wait split of the tasks of each kind (``kind`` per task index, ``names`` by kind)."""
    sent, received = first_time(trace, PENDING), first_time(trace, RECEIVED)
    broker, prefetch = received - sent, first_time(trace, STARTED) - received
    spans = execution_spans(trace)
    runtime, ran = spans["end"] - spans["start"], kind[spans["task"]]
    return {
        name: {
            "broker wait": broker[(kind == k) & ~np.isnan(broker)],
            "prefetch wait": prefetch[(kind == k) & ~np.isnan(prefetch)],
            "runtime": runtime[ran == k],
        }
        for k, name in enumerate(names)
    }


def quantiles(values: np.ndarray) -> dict[str, float]:
    """p50, p95 and p99 of ``values`` (none of an empty sample)."""
    if not len(values):
        return {}
    return {
        f"p{q}": float(v) for q, v in zip(QUANTILES, np.percentile(values, QUANTILES), strict=True)
    }
