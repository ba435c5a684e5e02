"""A run's worker nodes as Flower lists them, from its trace so far: what each runs and holds
now, what it finished, how busy it was of the slots it had, and its busy slots over time.

An execution with no end runs only while its node has not come back since it started; a node
whose capacity varies (``--autoscale``, a node autoscaler) is busy over the slot-seconds its
capacity rows say it had; a fixed one over its slots until its pool was done (``pools_done``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim.analysis.cost import capacity_cost, down_clocks
from sim.analysis.metrics import (
    binned_steps,
    execution_spans,
    latest_rows,
    open_starts,
    step_counts,
)
from sim.analysis.monitor import TaskTimes, now
from sim.rules.states import FAILURE, RECEIVED, RETRY, SUCCESS
from sim.trace import Trace

BUSY_BINS = 60  # spans of the busy-slots chart


@dataclass(frozen=True)
class WorkerStats:
    """One worker node as Flower lists it, plus how busy it was over the run."""

    name: str
    busy: int  # executions running now
    scheduled: int  # messages it holds now until a retry's countdown is over (Flower's Scheduled)
    reserved: int  # messages it prefetched, free to run, not started now (Flower's Reserved)
    received: int  # deliveries to it (RECEIVED rows): Flower's "Processed", task-received events
    succeeded: int  # executions that ended in SUCCESS
    failed: int  # … in FAILURE
    retried: int  # … in RETRY
    interrupted: int  # executions its death cut short: the task moved on, or the node came back
    utilization: float  # busy slot-seconds ÷ the slot-seconds it had in the run so far
    slots: int  # its pool processes now: its concurrency, or where that varies, its latest count


def _running(trace: Trace, going: bool) -> tuple[np.ndarray, np.ndarray]:
    """Open STARTED rows split into those running now and those their worker's death cut short:
    an execution is running while its row is its task's latest, its node has not come back
    since it started and the run goes on. A message a dead node held is handed out again only
    after the visibility timeout (an hour by default), and until then its execution read as
    running beside the tasks the restarted node ran on the same slots: 10 busy of 1."""
    rows = open_starts(trace)
    latest = np.full(trace.n_tasks, -1)
    latest[trace.task[latest_rows(trace)]] = latest_rows(trace)
    died = _restarted(trace)[trace.worker[rows]] > trace.t[rows]
    running = (latest[trace.task[rows]] == rows) & ~died & going
    return rows[running], rows[~running]


def _restarted(trace: Trace) -> np.ndarray:
    """Per worker index, the latest time its node went down and later came back up, by its
    capacity rows (-inf: never): a node back from its death runs in new processes, whereas a
    node down for a warm shutdown finishes its tasks before it exits."""
    index = {name: w for w, name in enumerate(trace.workers)}
    down = np.full(len(trace.workers), -np.inf)
    went = dict.fromkeys(trace.workers, -np.inf)  # when each was last seen going down
    for t, node, up, _ in trace.capacity:
        if not up:
            went[node] = t
        elif node in index and went[node] > -np.inf:
            down[index[node]] = went[node]
    return down


def worker_stats(
    trace: Trace,
    concurrency: Mapping[str, int | None],
    going: bool,
    times: TaskTimes,
    scheduled: np.ndarray,
    done: Mapping[str, float] | None = None,
) -> list[WorkerStats]:
    """Per worker node of the trace: what runs on it and what it holds now (``scheduled`` per
    task index, as ``queues.queue_stats`` takes it), what it finished, how busy it was, of its own
    ``concurrency`` (by node name: each pool's; None where its capacity varies, under
    ``--autoscale`` or a node autoscaler, whose concurrency setting is not read: then of the
    slot-seconds its capacity rows say it had, ``_slot_seconds``), a fixed node over its slots
    until ``done`` says (by node name, ``pools_done``; else until now). ``going``: the run goes
    on (after it, nothing runs and nothing is held any more)."""
    spans = execution_spans(trace)
    running, interrupted = _running(trace, going)
    delivered = trace.state == RECEIVED
    held = (times.state == RECEIVED) & going
    span = now(trace)
    stats = []
    for w, name in enumerate(trace.workers):
        own = spans["worker"] == w
        ended = spans["state"][own]
        runs = running[trace.worker[running] == w]
        busy_time = float((spans["end"][own] - spans["start"][own]).sum())
        busy_time += float((span - trace.t[runs]).sum())
        slots = concurrency[name]
        if slots is None:
            starts = np.r_[spans["start"][own], trace.t[runs]]
            ends = np.r_[spans["end"][own], np.full(len(runs), span)]
            had, slots = _slot_seconds(trace, name, starts, ends, span), _processes(trace, name)
        else:
            had = slots * (done or {}).get(name, span)
        stats.append(
            WorkerStats(
                name=name,
                busy=len(runs),
                scheduled=int(np.count_nonzero(held & scheduled & (times.worker == w))),
                reserved=int(np.count_nonzero(held & ~scheduled & (times.worker == w))),
                received=int(np.count_nonzero(trace.worker[delivered] == w)),
                succeeded=int(np.count_nonzero(ended == SUCCESS)),
                failed=int(np.count_nonzero(ended == FAILURE)),
                retried=int(np.count_nonzero(ended == RETRY)),
                interrupted=int(np.count_nonzero(trace.worker[interrupted] == w)),
                utilization=busy_time / had if had > 0 else 0.0,
                slots=slots,
            )
        )
    return stats


def pools_done(
    trace: Trace, times: TaskTimes, queues: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """Per node (``queues``: node → the queues its pool consumes), when the last task on those
    queues ended (now while one is open), the time the summary's pool utilisation is over
    (``groups``): over the whole run a node of an idle pool beside another pool's backlog read
    a third of its pool's figure."""
    queue_of = np.array([queue for _, queue in trace.types])[trace.task_types()]
    span = now(trace)
    done = {}
    for node, consumed in queues.items():
        ends = times.finished[np.isin(queue_of, list(consumed))]
        done[node] = span if not len(ends) or np.isnan(ends).any() else float(ends.max())
    return done


def _slot_seconds(
    trace: Trace, name: str, starts: np.ndarray, ends: np.ndarray, span: float
) -> float:
    """The slot-seconds a node whose capacity varies had until ``span``: its processes' seconds
    while up, from its capacity rows, and the seconds its executions (``starts`` to ``ends``)
    ran while it was not up (a warm shutdown's drain), as ``runs.alive_slot_seconds`` counts a
    pool's; so its busy seconds never exceed them."""
    had, _ = capacity_cost(trace.capacity, span, nodes={name})
    clock = down_clocks(trace.capacity, span, {name}).get(name)
    if clock is not None:
        had += float((np.interp(ends, *clock) - np.interp(starts, *clock)).sum())
    return had


def _processes(trace: Trace, name: str) -> int:
    """A node's pool processes now, by its latest capacity row (none while it is not up)."""
    rows = [processes if up else 0 for _, node, up, processes in trace.capacity if node == name]
    return rows[-1] if rows else 0


def busy_by_worker(
    trace: Trace, going: bool, bins: int = BUSY_BINS
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per worker, its mean busy slots in each of ``bins`` equal spans from the start until now
    (a running execution counts until now), and the spans' middles: single executions flicker
    too fast to read, a span's mean reads as that worker's load then."""
    span = now(trace)
    if span <= 0:
        return np.zeros(0), {name: np.zeros(0) for name in trace.workers}
    spans = execution_spans(trace)
    running, _ = _running(trace, going)
    series, middle = {}, np.zeros(0)
    for w, name in enumerate(trace.workers):
        own = spans["worker"] == w
        up = np.concatenate([spans["start"][own], trace.t[running[trace.worker[running] == w]]])
        t, level = step_counts(up, spans["end"][own])
        t, level = np.r_[0.0, t, span], np.r_[0.0, level, level[-1] if len(level) else 0.0]
        middle, series[name], _ = binned_steps(t, level, bins)
    return middle, series
