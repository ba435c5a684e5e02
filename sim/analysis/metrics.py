"""The summary of a run, computed from its trace alone, the same way for every engine.

A task counts once, by its last terminal row; its wait is first STARTED − PENDING and its
sojourn is that terminal row − PENDING. Executions, retries and duplicate executions count rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np

from sim.analysis.cost import capacity_cost
from sim.analysis.sums import Sum
from sim.engine.columns import Columns
from sim.rules.retry import FOLLOWED, followed
from sim.rules.states import (
    ENDS_EXECUTION,
    FAILURE,
    NAMES,
    PENDING,
    RECEIVED,
    RETRY,
    STARTED,
    SUCCESS,
    TERMINAL,
)
from sim.tally import BLOCK, Spans, Tally, in_states, paired
from sim.trace import Trace, index_type


@dataclass(frozen=True)
class Summary:
    """What ``--json`` prints; times in seconds of scenario time."""

    engine: str
    scenario: str
    seed: int
    tasks_submitted: int
    tasks_succeeded: int
    tasks_failed: int
    tasks_lost: int
    executions: int
    retries: int
    duplicate_executions: int
    wait_mean: float
    wait_p50: float
    wait_p95: float
    wait_p99: float
    sojourn_mean: float
    sojourn_p50: float
    sojourn_p95: float
    sojourn_p99: float
    throughput: float
    utilization: float
    queue_len_mean: float
    makespan: float
    worker_seconds: float = 0.0  # pool processes of up nodes × time (0: no capacity rows)
    node_seconds: float = 0.0  # up nodes × time
    by_task: dict[str, dict[str, float]] = field(default_factory=dict)  # per task type
    by_queue: dict[str, dict[str, float]] = field(default_factory=dict)  # per queue
    by_pool: dict[str, dict[str, float]] = field(default_factory=dict)  # per worker pool

    def to_dict(self) -> dict:
        return asdict(self)


def first_rows(trace: Trace, states: list[int], last: bool = False) -> np.ndarray:
    """Per task, the index of its first (or last) row in one of ``states``; -1 where none.

    Rows are in time order, so that is the least (greatest) row index: one unbuffered
    ``minimum.at`` pass, no sort, over a slice of rows at a time (the row numbers found are
    a slice's, not the whole trace's: a summary of a trace makes its third per-task vector
    beside the other two).
    """
    index = np.full(trace.n_tasks, -1 if last else len(trace), dtype=np.int64)
    for lo in range(0, len(trace), _ROWS):
        rows = np.flatnonzero(in_states(trace.state[lo : lo + _ROWS], states))
        rows += lo
        (np.maximum if last else np.minimum).at(index, trace.task[rows], rows)
    index[index == len(trace)] = -1
    return index


def _times(trace: Trace, rows: np.ndarray) -> np.ndarray:
    """The times of ``rows`` (from ``first_rows``, int64), NaN where -1, written over ``rows``
    (its eight bytes a task read as a float) a block at a time: one vector, not two."""
    times = rows.view(np.float64)
    for lo in range(0, len(rows), BLOCK):
        block = rows[lo : lo + BLOCK]
        found = trace.t[block] if len(trace) else np.zeros(len(block))
        found[block < 0] = np.nan
        times[lo : lo + BLOCK] = found
    return times


def first_time(trace: Trace, state: int, last: bool = False) -> np.ndarray:
    """Per task, the time of its first (or last) row in ``state``; NaN where it has none."""
    return _times(trace, first_rows(trace, [state], last))


def last_terminal(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """Per task, the time and state of its last terminal row (NaN and -1 where it has none)."""
    rows = first_rows(trace, list(TERMINAL), last=True)
    states = _states(trace, rows)
    return _times(trace, rows), states  # the times written over the rows: read last


def _states(trace: Trace, rows: np.ndarray) -> np.ndarray:
    """The states of ``rows`` (from ``first_rows``), -1 where -1."""
    if not len(trace):
        return np.full(len(rows), -1, np.int8)
    return np.where(rows >= 0, trace.state[rows], -1).astype(np.int8)


def by_task(trace: Trace, rows: np.ndarray | None = None, *, worker: bool = False) -> np.ndarray:
    """``rows`` (default: all) grouped by task (and worker), in time order within each group.

    A stable sort of one integer key: runs of rows for a task are nearly in order already
    (tasks arrive in index order), which the stable sort takes advantage of.
    """
    rows = np.arange(len(trace)) if rows is None else rows
    key = trace.task[rows]
    if worker:  # in eight bytes (task × workers passes four), then in place: one key vector
        key = key.astype(np.int64)
        key *= len(trace.workers) + 1
        key += trace.worker[rows]
        key += 1
    return rows[np.argsort(key, kind="stable")]


def waits(trace: Trace, tasks: np.ndarray | None = None) -> np.ndarray:
    """First STARTED − PENDING of every task that started (of ``tasks``, a mask over task
    indices, when given)."""
    return _known(first_time(trace, STARTED) - first_time(trace, PENDING), tasks)


def sojourns(trace: Trace, tasks: np.ndarray | None = None) -> np.ndarray:
    """Last terminal − PENDING of every task that ended (of ``tasks``, when given)."""
    end, _ = last_terminal(trace)
    return _known(end - first_time(trace, PENDING), tasks)


def _known(values: np.ndarray, tasks: np.ndarray | None) -> np.ndarray:
    """``values`` that are not NaN (of ``tasks``, a mask), in order: ``values`` itself when
    that is all of them, else moved to its front a block at a time (``values`` is scratch) and
    a view of them, so no second vector is made. Without ``tasks``, the least value says
    whether any is NaN (``min`` propagates NaN), so a vector with none costs no mask."""
    if tasks is None and not (len(values) and np.isnan(values.min())):
        return values
    known = 0
    for lo in range(0, len(values), BLOCK):
        block = values[lo : lo + BLOCK]
        keep = np.isnan(block)
        np.logical_not(keep, out=keep)
        if tasks is not None:
            keep &= tasks[lo : lo + BLOCK]
        block = block[keep]  # a copy: the front it moves to may overlap it
        values[known : known + len(block)] = block
        known += len(block)
    return values[:known]


def execution_spans(trace: Trace) -> dict[str, np.ndarray]:
    """Every execution — a STARTED to the RETRY/SUCCESS/FAILURE that ends it — as columns
    ``start``, ``end``, ``worker``, ``task``, ``attempt``, ``state`` (the ending state).

    An execution that ends in a crash has no closing row, so it is left out (``open_starts``
    has it).
    """
    start, end = _span_rows(trace)
    return {
        "start": trace.t[start],
        "end": trace.t[end],
        "worker": trace.worker[start],
        "task": trace.task[start],
        "attempt": trace.attempt[start],
        "state": trace.state[end],
    }


def _span_rows(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """The rows of each ended execution's STARTED and of the row that ends it."""
    blocks = list(_span_blocks(trace))
    if not blocks:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return tuple(np.concatenate(c) for c in zip(*blocks, strict=True))  # type: ignore[return-value]


BLOCKS = 16  # a trace's executions are paired about a 16th of its tasks at a time
LEAST_BLOCK = 1 << 13  # tasks: a short trace's are paired at once
_ROWS = 1 << 18  # rows scanned at a time for the STARTED and ending ones


def _span_blocks(trace: Trace) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``_span_rows`` a block of tasks at a time, in task order. A task's rows are all in its
    block, so pairing each block alone pairs as the whole trace does; the sort key and order
    are a block's, not the whole trace's (they were a third of a summary's peak at 1M tasks),
    and a row's block is a byte (its task shifted: a block is a power of two of tasks)."""
    shift = max(-(-trace.n_tasks // BLOCKS), LEAST_BLOCK).bit_length()
    kinds = (index_type(len(trace), np.int32), np.int8)
    found = Columns(kinds, trace.n_tasks * 2)
    for lo in range(0, len(trace), _ROWS):
        rows = np.flatnonzero(in_states(trace.state[lo : lo + _ROWS], [STARTED, *ENDS_EXECUTION]))
        rows += lo
        found.append((rows.astype(kinds[0]), (trace.task[rows] >> shift).astype(np.int8)))
    rows, of_block = found.view()
    del found
    blocks = ((trace.n_tasks - 1) >> shift) + 1 if trace.n_tasks else 0
    for b in range(blocks):
        mine = rows[of_block == b] if blocks > 1 else rows
        order = by_task(trace, mine, worker=True)
        columns = (trace.task[order], trace.worker[order], trace.attempt[order], trace.state[order])
        start, end, closes = paired(*columns)
        yield order[start[closes]].astype(np.int64), order[end[closes]].astype(np.int64)


def open_starts(trace: Trace) -> np.ndarray:
    """The STARTED rows no ending row closes (yet): running now, or their worker died."""
    order, start, _, closes = _paired_starts(trace)
    return np.sort(order[start[~closes]])


def _paired_starts(trace: Trace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """STARTED and ending rows grouped by task and worker (``order``); the positions in it of
    each STARTED, of the row after it, and whether that row ends the same execution. Only these
    rows matter: another row of the same worker and task cannot sit between the two."""
    order = by_task(
        trace, np.flatnonzero(in_states(trace.state, [STARTED, *ENDS_EXECUTION])), worker=True
    )
    columns = (trace.task[order], trace.worker[order], trace.attempt[order], trace.state[order])
    return order, *paired(*columns)


def executions(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times of every execution that ended (see ``execution_spans``)."""
    spans = execution_spans(trace)
    return spans["start"], spans["end"]


def latest_rows(trace: Trace) -> np.ndarray:
    """Per task that has rows, the index of its latest row, in task order."""
    order = by_task(trace)
    return (
        order[np.r_[trace.task[order][1:] != trace.task[order][:-1], True]] if len(trace) else order
    )


def latest_states(trace: Trace) -> dict[str, int]:
    """How many tasks are in each state now, by their latest row (Flower's task counts)."""
    codes, counts = np.unique(trace.state[latest_rows(trace)], return_counts=True)
    return {NAMES[c]: int(n) for c, n in zip(codes.tolist(), counts.tolist(), strict=True)}


def task_history(trace: Trace) -> dict[int, list[str]]:
    """Per task index, the names of its states in the order they happened (Flower's task view)."""
    history: dict[int, list[str]] = {}
    for task, state in zip(trace.task.tolist(), trace.state.tolist(), strict=True):
        history.setdefault(task, []).append(NAMES[state])
    return history


LOST_WHERE = {
    PENDING: "never reached a worker",
    RETRY: "retry never reached a worker",
    RECEIVED: "reserved by a worker, never started",
    STARTED: "died while running",
}
# a task retried for ever whose every attempt fails: the simulator follows it through
# ``retry.FOLLOWED`` retries and stops there, its last row the RETRY of the last one; no retry
# of it was lost, so "retry never reached a worker" told the wrong story
LEFT_RETRYING = (
    f"left retrying after {FOLLOWED} retries (retried for ever: the simulator follows a task "
    f"through retry.FOLLOWED = {FOLLOWED} retries)"
)


def lost_tasks(trace: Trace) -> dict[str, list[str]]:
    """Tasks that never reached a terminal state, by id, grouped by where they were last seen
    (or, retried past ``retry.FOLLOWED``, as left retrying)."""
    _, end_state = last_terminal(trace)
    last = latest_rows(trace)
    lost = last[end_state[trace.task[last]] < 0]
    ids = trace.task_ids if trace.task_ids is not None else None
    found: dict[str, list[str]] = {}
    rows = zip(*(c[lost].tolist() for c in (trace.task, trace.state, trace.attempt)), strict=True)
    for task, state, attempt in rows:
        left = state == RETRY and not followed(attempt + 1)
        where = LEFT_RETRYING if left else LOST_WHERE[state]
        found.setdefault(where, []).append(str(ids[task] if ids is not None else task))
    return found


def after(times: np.ndarray, warmup: float) -> np.ndarray:
    """``times`` moved up to ``warmup``: what is left of each span after it (NaN stays)."""
    return np.maximum(times, warmup) if warmup else times


def step_counts(up: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A count that rises by one at each ``up`` time and falls at each ``down``: (times, level).

    At a tie a fall comes first. The falls lead the array and the sort is stable, so one sort
    of the times does it, with the steps a byte each: a third of a two-key sort's memory."""
    times = np.concatenate([down, up])
    order = np.argsort(times, kind="stable")
    times = times[order]
    steps = np.ones(len(order), np.int8)
    steps[: len(down)] = -1
    return times, np.cumsum(steps[order], dtype=np.float64)


def binned_steps(
    t: np.ndarray, level: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A step function (``level[i]`` from ``t[i]`` until ``t[i + 1]``) over ``bins`` equal spans
    of its time range: each span's middle, its time-weighted mean and its peak. At 100k tasks a
    queue's steps are too many to draw one by one; the mean and the peak of each span read."""
    edges = np.linspace(t[0], t[-1], bins + 1)
    area = np.concatenate(([0.0], np.cumsum(level[:-1] * np.diff(t))))
    mean = np.diff(np.interp(edges, t, area)) / np.diff(edges)
    inside = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, bins - 1)
    peak = level[np.clip(np.searchsorted(t, edges[:-1], side="right") - 1, 0, None)].copy()
    np.maximum.at(peak, inside, level)  # the level carried into a span, and every step inside it
    return (edges[:-1] + edges[1:]) / 2, mean, peak


def queue_length(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """Tasks submitted but not yet started, over time."""
    pending, started = first_time(trace, PENDING), first_time(trace, STARTED)
    return step_counts(pending[~np.isnan(pending)], started[~np.isnan(started)])


def busy_slots(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """Executions in progress, over time."""
    return step_counts(*executions(trace))


def result_memory(trace: Trace, expires: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Bytes of results the backend holds over time: a task's result key lives from its first
    write (RETRY or terminal) until ``expires`` seconds after its last (``result_expires``)."""
    first = first_rows(trace, [RETRY, *TERMINAL])
    last = first_rows(trace, [RETRY, *TERMINAL], last=True)
    born, dies = trace.t[first[first >= 0]], trace.t[last[last >= 0]] + expires
    times, keys = step_counts(born, dies)
    return times, keys * size


def backend_pending(trace: Trace, track_started: bool) -> np.ndarray:
    """Per task, how long the result backend answered PENDING for it: until its first stored
    state (STARTED when tracked, else RETRY or the end), or to the end of the run if never."""
    stored = [RETRY, *TERMINAL, *([STARTED] if track_started else [])]
    first = first_rows(trace, stored)
    until = np.full(trace.n_tasks, float(trace.t.max()) if len(trace) else 0.0)
    until[first >= 0] = trace.t[first[first >= 0]]
    pending = first_time(trace, PENDING)
    shown = until - pending
    return shown[~np.isnan(shown)]


def state_flows(trace: Trace) -> dict[str, int]:
    """How many times tasks moved from one state to the next, e.g. {"STARTED→RETRY": 12}."""
    order = by_task(trace)
    task, state = trace.task[order], trace.state[order]
    same = task[1:] == task[:-1]
    pairs = state[:-1][same].astype(np.int64) * len(NAMES) + state[1:][same]
    codes, counts = np.unique(pairs, return_counts=True)
    return {
        f"{NAMES[c // len(NAMES)]}→{NAMES[c % len(NAMES)]}": int(n)
        for c, n in zip(codes.tolist(), counts.tolist(), strict=True)
    }


def latency_stats(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, p50, p95 and p99 of ``values`` (all 0 when there are none). ``values`` is a
    scratch vector: after the mean, the percentiles partition it in place rather than a copy."""
    if len(values) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    mean = float(values.mean())
    p50, p95, p99 = np.percentile(values, [50, 95, 99], overwrite_input=True)
    return mean, float(p50), float(p95), float(p99)


def busy_share(busy: float, slots: int, per_second: float, alive: float | None) -> float:
    """Utilisation: busy slot-seconds over the ``slots`` of the whole span (``per_second`` is
    1 / span), or over the ``alive`` slot-seconds of a pool whose capacity varies (autoscale)."""
    if alive is None:
        return busy / slots * per_second
    return busy / alive if alive > 0 else 0.0


def tally(trace: Trace) -> Tally:
    """A trace's ``Tally``: its counts now, its per-task vectors and executions made when
    read (``_made``, ``_spans``)."""
    started = np.flatnonzero(trace.state == STARTED)
    attempts = trace.task[started].astype(np.int64) * (2**20) + trace.attempt[started]
    attempts.sort(kind="stable")
    attempts_started = int(np.count_nonzero(np.diff(attempts))) + 1 if len(attempts) else 0
    del attempts
    workers = np.bincount(trace.worker[started] + 1, minlength=len(trace.workers) + 1)[1:]
    del started
    made = partial(_made, trace, {})
    return Tally(
        per_task=made,
        take=made,
        spans=partial(_spans, trace),
        starts_by_worker=workers,
        submitted=int(np.count_nonzero(trace.state == PENDING)),
        retries=int(np.count_nonzero(trace.state == RETRY)),
        attempts_started=attempts_started,
        makespan=float(trace.t.max()) if len(trace) else 0.0,
        workers=trace.workers,
        type_of=trace.task_types(),
        types=trace.types,
        capacity=trace.capacity,
    )


def _made(trace: Trace, ends: dict[str, np.ndarray], name: str) -> np.ndarray:
    """``Tally.per_task`` of a trace: the vector ``name`` made from its rows, kept by no one;
    but making ``end`` keeps the states of the same rows in ``ends`` (a byte a task) for the
    next read of ``end_state``, which a summary makes next: one search of the rows, not two."""
    if name == "pending":
        return first_time(trace, PENDING)
    if name == "started":
        return first_time(trace, STARTED)
    if name == "end_state" and "end_state" in ends:
        return ends.pop("end_state")
    rows = first_rows(trace, list(TERMINAL), last=True)
    if name == "end_state":
        return _states(trace, rows)
    ends["end_state"] = _states(trace, rows)
    return _times(trace, rows)


def _spans(trace: Trace) -> Spans:
    """``Tally.spans`` of a trace: its executions a block of tasks at a time (``_span_blocks``)."""
    for start, end in _span_blocks(trace):
        yield trace.t[start], trace.t[end], trace.worker[start]


def summarize(
    trace: Trace,
    slots: int,
    engine: str = "sim",
    scenario: str = "",
    seed: int = 0,
    warmup: float = 0.0,
    alive: float | None = None,
) -> Summary:
    """The run's summary; ``slots`` (every pool's workers × concurrency) or ``alive`` give
    utilisation (``busy_share``). ``by_task``, ``by_queue`` and ``by_pool`` are
    ``sim.analysis.groups``' (``runs.summarize`` fills them in: a pool's workers come from the
    scenario). After a ``warmup`` (run.warmup), as steady-state studies do: latencies of the
    tasks submitted from then on, time averages from then on; counts over the whole run."""
    return summary_of(tally(trace), slots, engine, scenario, seed, warmup, alive)


def summary_of(
    run: Tally,
    slots: int,
    engine: str,
    scenario: str,
    seed: int,
    warmup: float,
    alive: float | None = None,
) -> Summary:
    """``summarize`` from a run's ``Tally`` (``runs.summary`` names the scenario's). Its end
    times are taken (``Tally.take``): their room holds the sojourns, then the waits, so a
    summary adds no vector of its own to a recorder's (a trace's are made as read: its
    executions are summed first, before its three per-task vectors are made)."""
    (busy,) = busy_seconds(run, warmup)  # first: a trace's executions are made as they are read
    end = run.take("end")  # before the others: a trace's is made with the least beside it
    ended = count(end, lambda e: e >= warmup)  # a task ends once, SUCCESS or FAILURE
    end_state = run.end_state
    succeeded = count(end_state, lambda s: s == SUCCESS)
    failed = count(end_state, lambda s: s == FAILURE)
    del end_state
    makespan, pending = run.makespan, run.pending
    kept = pending >= warmup if warmup else None
    soj_mean, soj_p50, soj_p95, soj_p99 = latency_stats(
        _known(np.subtract(end, pending, out=end), kept)
    )
    started = run.started
    queued = queued_seconds(pending, started, makespan, warmup)
    wait_mean, wait_p50, wait_p95, wait_p99 = latency_stats(
        _known(np.subtract(started, pending, out=end), kept)
    )
    del end, started, pending, kept
    span = makespan - warmup
    per_second = 1.0 / span if span > 0 else 0.0
    worker_seconds, node_seconds = capacity_cost(run.capacity, makespan)  # whole run
    return Summary(
        engine=engine,
        scenario=scenario,
        seed=seed,
        tasks_submitted=run.submitted,
        tasks_succeeded=succeeded,
        tasks_failed=failed,
        tasks_lost=run.submitted - succeeded - failed,
        executions=run.executions,
        retries=run.retries,
        duplicate_executions=run.executions - run.attempts_started,
        wait_mean=wait_mean,
        wait_p50=wait_p50,
        wait_p95=wait_p95,
        wait_p99=wait_p99,
        sojourn_mean=soj_mean,
        sojourn_p50=soj_p50,
        sojourn_p95=soj_p95,
        sojourn_p99=soj_p99,
        throughput=ended * per_second,
        utilization=busy_share(busy, slots, per_second, alive),
        queue_len_mean=queued * per_second,
        makespan=makespan,
        worker_seconds=worker_seconds,
        node_seconds=node_seconds,
    )


def count(values: np.ndarray, test: Callable[[np.ndarray], np.ndarray]) -> int:
    """How many of ``values`` pass ``test`` (elementwise), a block at a time: no mask of a
    byte a task, which, freed inside the heap (below glibc's mmap threshold up to a million
    tasks), stays resident beside the run's vectors."""
    blocks = range(0, len(values), BLOCK)
    return sum(int(np.count_nonzero(test(values[lo : lo + BLOCK]))) for lo in blocks)


def queue_times(
    pending: np.ndarray, started: np.ndarray, makespan: float, warmup: float
) -> np.ndarray:
    """Each task's time in the queue after ``warmup``: to its start, or the end of the run.

    One new vector, worked on in place: ``fmin`` gives a start, or the makespan where there is
    none (NaN; no start is later than the makespan), and a task submitted before the warm-up
    queues from it on (``after``, as masks of a byte a task rather than a vector of floats)."""
    queued = np.fmin(started, makespan)
    if not warmup:
        queued -= pending
        return queued
    np.maximum(queued, warmup, out=queued)
    early = pending < warmup
    np.subtract(queued, warmup, out=queued, where=early)
    np.logical_not(early, out=early)  # the rest, a NaN too: ``after`` keeps it NaN
    np.subtract(queued, pending, out=queued, where=early)
    return queued


def queued_seconds(
    pending: np.ndarray, started: np.ndarray, makespan: float, warmup: float, lost: bool = False
) -> float:
    """The sum of ``queue_times``, a block of tasks at a time (``Sum``: the float of the whole
    vector's sum, without the vector); a task with no PENDING time (NaN) left out, or counted
    as 0 with ``lost``."""
    total = Sum(len(pending) if lost else len(pending) - count(pending, np.isnan))
    for lo in range(0, len(pending), BLOCK):
        queued = queue_times(pending[lo : lo + BLOCK], started[lo : lo + BLOCK], makespan, warmup)
        total.add(np.nan_to_num(queued, copy=False, nan=0.0) if lost else _known(queued, None))
    return total.total()


def busy_seconds(
    run: Tally, warmup: float, groups: Sequence[Sequence[int] | None] = (None,)
) -> list[float]:
    """Slot-seconds the executions of ``run`` (``Tally.spans``) were busy after ``warmup``, of
    each group of workers (None: every worker): the float of the sum of one vector of every
    execution's seconds, in order, gathered block by block into a ``Sum`` (which holds a
    part of them at a time where the run counted its executions, ``Tally.ended``)."""
    if not groups:
        return []  # no spans made
    busy = [Sum(run.ended(workers)) for workers in groups]
    for start, end, worker in run.spans():
        seconds = after(end, warmup) - after(start, warmup)
        for total, workers in zip(busy, groups, strict=True):
            total.add(seconds if workers is None else seconds[np.isin(worker, workers)])
    return [total.total() for total in busy]
