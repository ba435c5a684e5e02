"""A run's tasks as Flower shows them, computed from its trace so far: each task's times and
whereabouts (``TaskTimes``, which the worker, queue, stuck-task and Little's-law views build on),
the task list and one task's own trace.

Everything here reads a trace as it stands, so a run going on and a finished one are shown the
same way; "now" is the trace's latest event. Times are seconds of scenario time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.analysis.metrics import first_time, last_terminal, latest_rows
from sim.rules.states import NAMES, PENDING, RECEIVED, STARTED
from sim.trace import Trace


def id_cells(trace: Trace, tasks: np.ndarray) -> list[str]:
    """Task ids for a table: the ids the trace carries (a recorded run's), else the indices."""
    if trace.task_ids is None:
        return [str(t) for t in tasks.tolist()]
    return [str(i) for i in trace.task_ids[tasks].tolist()]


def worker_cells(trace: Trace, workers: np.ndarray) -> list[str | None]:
    """Worker names for a table: None (an empty cell, as a time not reached) where a row or a
    task has no worker yet."""
    names = (None, *trace.workers)
    return [names[w + 1] for w in workers.tolist()]


def second_cells(values: np.ndarray) -> list[float | None]:
    """Times for a table: None (an empty cell) where a task has not got there."""
    return [None if np.isnan(v) else round(v, 3) for v in values.tolist()]


def now(trace: Trace) -> float:
    return float(trace.t.max()) if len(trace) else 0.0


def until_now(trace: Trace, t: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A step function (``level[i]`` from ``t[i]``) held at its last level until the trace's
    latest event: a queue's length ends at its last start, and drawn so it (and the pool
    processes drawn against it) stopped short of the tasks still running, where the busy-slot
    and flow charts beside it go on."""
    end = now(trace)
    if not len(t) or end <= t[-1]:
        return t, level
    return np.r_[t, end], np.r_[level, level[-1]]


@dataclass(frozen=True)
class TaskTimes:
    """Per task index (columns of equal length): where each task is and when it got there."""

    sent: np.ndarray  # first PENDING
    received: np.ndarray  # first RECEIVED
    started: np.ndarray  # first STARTED
    finished: np.ndarray  # last SUCCESS/FAILURE (NaN while open)
    runtime: np.ndarray  # finished − the last STARTED (the execution that ended it)
    attempts: np.ndarray  # attempts that started: highest started attempt + 1
    state: np.ndarray  # its final state if it has one, else its latest
    worker: np.ndarray  # the worker of its latest row that has one (-1: none yet)
    last_seen: np.ndarray  # time of its latest row


def task_times(trace: Trace) -> TaskTimes:
    """Every task's times and whereabouts, in one pass per column."""
    n = trace.n_tasks
    latest = np.full(n, -1)
    latest[trace.task[latest_rows(trace)]] = latest_rows(trace)
    finished, end_state = last_terminal(trace)
    state = np.where(end_state >= 0, end_state, trace.state[latest] if len(trace) else -1)
    started = trace.state == STARTED
    attempts = np.zeros(n, np.int64)
    np.maximum.at(attempts, trace.task[started], trace.attempt[started].astype(np.int64) + 1)
    with_worker = np.flatnonzero(trace.worker >= 0)
    last_with = np.full(n, -1, np.int64)
    np.maximum.at(last_with, trace.task[with_worker], with_worker)
    worker = np.where(last_with >= 0, trace.worker[last_with] if len(trace) else -1, -1)
    return TaskTimes(
        sent=first_time(trace, PENDING),
        received=first_time(trace, RECEIVED),
        started=first_time(trace, STARTED),
        finished=finished,
        runtime=finished - first_time(trace, STARTED, last=True),
        attempts=attempts,
        state=state.astype(np.int64),
        worker=worker,
        last_seen=np.where(latest >= 0, trace.t[latest] if len(trace) else 0.0, np.nan),
    )


def task_table(
    trace: Trace,
    times: TaskTimes,
    states: tuple[str, ...] = (),
    workers: tuple[str, ...] = (),
    limit: int = 200,
    types: tuple[str, ...] = (),
) -> tuple[dict[str, list], int]:
    """Flower's task list: the ``limit`` most recently active tasks of ``types`` in ``states``
    on ``workers`` (empty: any), newest first, as table columns; and how many tasks matched in
    all. A run of several task types names each task's, as Flower's Name column does."""
    keep = np.flatnonzero(~np.isnan(times.last_seen))
    if states:
        keep = keep[np.isin(times.state[keep], [NAMES.index(s) for s in states])]
    if workers:
        keep = keep[np.isin(times.worker[keep], [trace.workers.index(w) for w in workers])]
    names = type_names(trace)
    kind = trace.task_types()
    if types:
        keep = keep[np.isin(kind[keep], [names.index(t) for t in types])]
    shown = keep[np.argsort(-times.last_seen[keep], kind="stable")[:limit]]
    columns = {"task": id_cells(trace, shown)}
    if len(names) > 1:
        columns["type"] = [names[k] for k in kind[shown].tolist()]
    columns |= {
        "state": [NAMES[s] for s in times.state[shown].tolist()],
        "worker": worker_cells(trace, times.worker[shown]),
        "sent": second_cells(times.sent[shown]),
        "received": second_cells(times.received[shown]),
        "started": second_cells(times.started[shown]),
        "finished": second_cells(times.finished[shown]),
        "runtime": second_cells(times.runtime[shown]),
        "attempts": times.attempts[shown].tolist(),
    }
    return columns, len(keep)


def type_names(trace: Trace) -> list[str]:
    """The run's task type names, by type index."""
    return [name for name, _ in trace.types]


def _task_index(trace: Trace, task_id: str) -> int | None:
    ids = trace.task_ids if trace.task_ids is not None else np.arange(trace.n_tasks).astype(str)
    found = np.flatnonzero(ids == task_id)
    return int(found[0]) if len(found) else None


def task_kind(trace: Trace, task_id: str) -> tuple[str, str] | None:
    """One task's (type name, queue), as Flower's task page names it; None: no such task."""
    index = _task_index(trace, task_id)
    return None if index is None else trace.types[int(trace.task_types()[index])]


def task_trace(trace: Trace, task_id: str) -> dict[str, list]:
    """Every row of one task's trace, in order: its whole story, retries and redeliveries."""
    index = _task_index(trace, task_id)
    rows = np.flatnonzero(trace.task == index) if index is not None else np.zeros(0, np.int64)
    return {
        "attempt": trace.attempt[rows].tolist(),
        "state": [NAMES[s] for s in trace.state[rows].tolist()],
        "t": trace.t[rows].round(3).tolist(),
        "worker": worker_cells(trace, trace.worker[rows]),
    }
