"""A run's monitor, computed from its trace so far: Flower's task and worker views, and what
Flower cannot show (where a task's time went, which tasks look stuck, how many workers fit).

Everything here reads a trace as it stands, so a run going on and a finished one are shown the
same way; "now" is the trace's latest event. Times are seconds of scenario time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim.analysis.cost import capacity_cost, down_clocks
from sim.analysis.metrics import (
    binned_steps,
    execution_spans,
    first_time,
    last_terminal,
    latest_rows,
    open_starts,
    queue_length,
    step_counts,
)
from sim.analysis.rate_over_time import per_second
from sim.rules.states import FAILURE, NAMES, PENDING, RECEIVED, RETRY, STARTED, SUCCESS
from sim.trace import Trace

QUANTILES = (50, 95, 99)
BUSY_BINS = 60  # spans of the busy-slots chart
STUCK_FACTOR = 3.0  # a task open this many times the p99 finished sojourn is flagged
# finished tasks of a type before its p99 judges any: the first to finish are the shortest, and
# 3 × the p99 of the first few 5 s reports (4.4 s, live) flagged reports running an ordinary 5 s
STUCK_FINISHED = 10


def _ids(trace: Trace, tasks: np.ndarray) -> list[str]:
    if trace.task_ids is None:
        return [str(t) for t in tasks.tolist()]
    return [str(i) for i in trace.task_ids[tasks].tolist()]


def _names(trace: Trace, workers: np.ndarray) -> list[str | None]:
    """Worker names for a table: None (an empty cell, as a time not reached) where a row or a
    task has no worker yet."""
    names = (None, *trace.workers)
    return [names[w + 1] for w in workers.tolist()]


def _seconds(values: np.ndarray) -> list[float | None]:
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
    columns = {"task": _ids(trace, shown)}
    if len(names) > 1:
        columns["type"] = [names[k] for k in kind[shown].tolist()]
    columns |= {
        "state": [NAMES[s] for s in times.state[shown].tolist()],
        "worker": _names(trace, times.worker[shown]),
        "sent": _seconds(times.sent[shown]),
        "received": _seconds(times.received[shown]),
        "started": _seconds(times.started[shown]),
        "finished": _seconds(times.finished[shown]),
        "runtime": _seconds(times.runtime[shown]),
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
        "worker": _names(trace, trace.worker[rows]),
    }


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
) -> list[WorkerStats]:
    """Per worker node of the trace: what runs on it and what it holds now (``scheduled`` per
    task index, as ``queue_stats`` takes it), what it finished, how busy it was, of its own
    ``concurrency`` (by node name: each pool's; None where its capacity varies, under
    ``--autoscale`` or a node autoscaler, whose concurrency setting is not read: then of the
    slot-seconds its capacity rows say it had, ``_slot_seconds``). ``going``: the run goes on
    (after it, nothing runs and nothing is held any more)."""
    spans = execution_spans(trace)
    running, interrupted = _running(trace, going)
    delivered = trace.state == RECEIVED
    held = (times.state == RECEIVED) & going
    span = now(trace)
    stats = []
    for w, name in enumerate(trace.workers):
        own = spans["worker"] == w
        ends = spans["state"][own]
        runs = running[trace.worker[running] == w]
        busy_time = float((spans["end"][own] - spans["start"][own]).sum())
        busy_time += float((span - trace.t[runs]).sum())
        slots = concurrency[name]
        if slots is None:
            starts = np.r_[spans["start"][own], trace.t[runs]]
            ends = np.r_[spans["end"][own], np.full(len(runs), span)]
            had, slots = _slot_seconds(trace, name, starts, ends, span), _processes(trace, name)
        else:
            had = slots * span
        stats.append(
            WorkerStats(
                name=name,
                busy=len(runs),
                scheduled=int(np.count_nonzero(held & scheduled & (times.worker == w))),
                reserved=int(np.count_nonzero(held & ~scheduled & (times.worker == w))),
                received=int(np.count_nonzero(trace.worker[delivered] == w)),
                succeeded=int(np.count_nonzero(ends == SUCCESS)),
                failed=int(np.count_nonzero(ends == FAILURE)),
                retried=int(np.count_nonzero(ends == RETRY)),
                interrupted=int(np.count_nonzero(trace.worker[interrupted] == w)),
                utilization=busy_time / had if had > 0 else 0.0,
                slots=slots,
            )
        )
    return stats


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


@dataclass(frozen=True)
class QueueStats:
    """One queue now, as Flower's Broker page lists it, its messages split by where they are."""

    name: str
    waiting: int  # in the queue's list: sent, or retried and sent again, not yet delivered
    scheduled: int  # delivered to a worker, held there until a retry's countdown is over
    reserved: int  # delivered to a worker, not started, free to run: prefetched
    running: int  # started, not ended
    oldest_wait: float | None  # seconds the longest-waiting of them has been in the list


def queue_stats(trace: Trace, times: TaskTimes, scheduled: np.ndarray) -> list[QueueStats]:
    """Per queue, in the order the task types name them, its tasks by their latest state: what
    Redis holds for it and what its consumers hold, now; ``scheduled`` per task index
    (``sim.analysis.scheduled``) parts the messages held for a countdown from those
    prefetched. A task waits again after a RETRY (Celery sends it to its queue once more),
    since then."""
    queue_of = np.array([q for _, q in trace.types])[trace.task_types()]
    waiting = np.isin(times.state, [PENDING, RETRY])
    reserved = times.state == RECEIVED
    age = now(trace) - times.last_seen
    stats = []
    for name in dict.fromkeys(q for _, q in trace.types):
        mine = queue_of == name
        waited = age[mine & waiting]
        stats.append(
            QueueStats(
                name=name,
                waiting=len(waited),
                scheduled=int(np.count_nonzero(mine & reserved & scheduled)),
                reserved=int(np.count_nonzero(mine & reserved & ~scheduled)),
                running=int(np.count_nonzero(mine & (times.state == STARTED))),
                oldest_wait=float(waited.max()) if len(waited) else None,
            )
        )
    return stats


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


STRETCHED = 1.25  # live slots held this many times as long as simulated: another queue
BACKLOG_ENDS = 20  # executions ending while tasks queued, fewer of which say nothing


def held_slot(trace: Trace, slots: int) -> float | None:
    """Slot-seconds each execution cost while some task waited to start: its runtime plus the
    idle gap before its slot's next task (Celery's own per-task cost, which the model leaves out
    unless ``overhead`` says). While tasks queue no slot should idle for want of work, so the
    backlog's slot-time over the executions that ended in it is that cost; None with fewer than
    ``BACKLOG_ENDS`` such executions."""
    t, level = queue_length(trace)
    if len(t) < 2:
        return None
    backlog = level[:-1] > 0  # level[i] holds from t[i] until t[i + 1]
    ends = execution_spans(trace)["end"]
    step = np.searchsorted(t, ends, side="left") - 1  # the end that starts the last queued
    # task closes its backlog at that very time: it belongs to the backlog it ends
    inside = (step >= 0) & (step < len(backlog))
    n = int(backlog[step[inside]].sum())
    if n < BACKLOG_ENDS:
        return None
    return float(slots * np.diff(t)[backlog].sum() / n)


def slot_stretch(live: Trace, simulated: Trace, slots: int) -> float | None:
    """How many times as long a live execution held its slot as a simulated one: while tasks
    queued where both runs had such a backlog, else by mean runtime (None without executions).
    Above ``STRETCHED`` the machine's own per-task cost (Celery's, at a small time scale or on a
    busy host) made the live queue busier than the one simulated: its waits are not the
    scenario's."""
    held = held_slot(live, slots), held_slot(simulated, slots)
    if None not in held:
        return held[0] / held[1] if held[1] > 0 else None
    live_runs, simulated_runs = (wait_split(trace)["runtime"] for trace in (live, simulated))
    if not len(live_runs) or not len(simulated_runs) or simulated_runs.mean() <= 0:
        return None
    return float(live_runs.mean() / simulated_runs.mean())


def quantiles(values: np.ndarray) -> dict[str, float]:
    """p50, p95 and p99 of ``values`` (none of an empty sample)."""
    if not len(values):
        return {}
    return {
        f"p{q}": float(v) for q, v in zip(QUANTILES, np.percentile(values, QUANTILES), strict=True)
    }


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
    columns = {"task": _ids(trace, shown)}
    if len(names) > 1:
        columns["type"] = [names[k] for k in kind[shown].tolist()]
    columns |= {
        "last state": [NAMES[s] for s in times.state[shown].tolist()],
        "worker": _names(trace, times.worker[shown]),
        "age": _seconds(age[shown]),
        "last seen": _seconds(times.last_seen[shown]),
    }
    judged = {name: float(v) for name, v in zip(names, limits, strict=True) if np.isfinite(v)}
    return Stuck(judged, len(open_), columns)


@dataclass(frozen=True)
class Little:
    """Little's law on the run so far: L measured beside λ·W."""

    arrival_rate: float  # λ: tasks sent per second of the run so far
    sojourn_mean: float  # W: mean sojourn of the finished
    in_system_mean: float  # L: time-average of tasks sent and not yet ended

    @property
    def predicted(self) -> float:
        """λ·W, which L equals on a complete run of a stable queue."""
        return self.arrival_rate * self.sojourn_mean


def little(trace: Trace, times: TaskTimes) -> Little:
    """λ, W and L of the run so far: an open task counts in L until now and not in W, so the two
    sides meet once every task has ended."""
    span = now(trace)
    sent = times.sent[~np.isnan(times.sent)]
    done = ~np.isnan(times.finished)
    if span <= 0 or not done.any():
        return Little(0.0, 0.0, 0.0)
    t, level = step_counts(sent, times.finished[done])
    area = float((level[:-1] * np.diff(t)).sum() + level[-1] * (span - t[-1]))
    sojourn = times.finished[done] - times.sent[done]
    return Little(len(sent) / span, float(sojourn.mean()), area / span)
