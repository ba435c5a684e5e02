"""Tasks that look stuck in a run so far: open far longer than the finished tasks of their own
type took, judged once enough of that type have finished."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.analysis.monitor import TaskTimes, id_cells, now, second_cells, type_names, worker_cells
from sim.analysis.wait_split import quantiles
from sim.rules.states import NAMES
from sim.trace import Trace

STUCK_FACTOR = 3.0  # a task open this many times the p99 finished sojourn is flagged
# finished tasks of a type before its p99 judges any: the first to finish are the shortest, and
# 3 × the p99 of the first few 5 s reports (4.4 s, live) flagged reports running an ordinary 5 s
STUCK_FINISHED = 10


@dataclass(frozen=True)
class Stuck:
    """Tasks open far longer than finished ones of their type took: ``thresholds`` is, per task
    type with ``STUCK_FINISHED`` finished tasks, ``STUCK_FACTOR`` × their p99 sojourn (a type
    with fewer is not judged yet); the oldest first."""

    thresholds: dict[str, float]
    count: int
    columns: dict[str, list]


def stuck_tasks(
    trace: Trace,
    times: TaskTimes,
    factor: float = STUCK_FACTOR,
    limit: int = 200,
    least: int = STUCK_FINISHED,
) -> Stuck:
    """Tasks with no terminal state ``factor`` × p99 finished sojourn of their type after they
    were sent, of types with ``least`` finished tasks, with where they were last seen and how
    long ago they were sent (their age, as of now). Per type: with 5 s reports beside 0.3 s
    thumbnails, every type's p99 is the reports', and a thumbnail open 30 times as long as
    thumbnails take was not flagged."""
    done = ~np.isnan(times.finished)
    sojourn = times.finished - times.sent
    names, kind = type_names(trace), trace.task_types()
    limits = np.full(len(names), np.inf)
    for k in range(len(names)):
        finished = sojourn[done & (kind == k)]
        if len(finished) >= least:
            limits[k] = factor * quantiles(finished)["p99"]
    age = now(trace) - times.sent
    open_ = np.flatnonzero(~done & ~np.isnan(times.sent) & (age > limits[kind]))
    shown = open_[np.argsort(-age[open_], kind="stable")[:limit]]
    columns = {"task": id_cells(trace, shown)}
    if len(names) > 1:
        columns["type"] = [names[k] for k in kind[shown].tolist()]
    columns |= {
        "last state": [NAMES[s] for s in times.state[shown].tolist()],
        "worker": worker_cells(trace, times.worker[shown]),
        "age": second_cells(age[shown]),
        "last seen": second_cells(times.last_seen[shown]),
    }
    judged = {name: float(v) for name, v in zip(names, limits, strict=True) if np.isfinite(v)}
    return Stuck(judged, len(open_), columns)
