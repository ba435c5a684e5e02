"""The summary-only recorder: a run that keeps what its summary reads, and no rows.

Sweeps, Explore and ``simulate --json`` without ``--trace`` read only the summary. This recorder
takes the same rows as ``sim.trace.Recorder`` and, every chunk, folds them into per-task typed
arrays (first PENDING and STARTED times, last terminal time and state, highest attempt started)
and the executions that ended, paired as ``metrics.execution_spans`` pairs them. Most tasks run
once: that execution starts at the task's first STARTED and ends at its last terminal row, so
it is kept as its worker alone (a byte or two a task, not a second copy of its times); any
other execution is kept whole. Its ``tally()`` is the ``Tally`` (what a summary reads of a run,
defined here) the full trace would give (``metrics.tally``), value for value, so the summary
built from it is the same, floats included: the figures are computed by the same functions over
the same arrays in the same order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from sim.engine.columns import Columns
from sim.rules.states import ENDS_EXECUTION, NAMES, PENDING, RETRY, STARTED, TERMINAL
from sim.trace import ONE_TYPE, Capacity, ParquetStream, Recording, columns

PER_TASK = ("pending", "started", "end", "end_state")  # what ``Tally.per_task`` gives
Spans = Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]  # blocks of start, end, worker


def _read(name: str) -> property:
    """A ``Tally`` attribute that is ``per_task(name)``, read anew each time."""
    return property(lambda tally: tally.per_task(name), doc=f"``per_task({name!r})``")


@dataclass(frozen=True, eq=False)
class Tally:
    """What a summary reads of a run: per task its first PENDING and STARTED times, its last
    terminal time and state (NaN and -1 where none); every execution that ended
    (``execution_spans`` columns ``start``, ``end``, ``worker``, in its order); row counts.
    A trace gives one (``metrics.tally``), and so does a run that keeps no rows
    (``TallyRecorder``): one definition of every figure, whichever recorded it.

    The per-task vectors come from ``per_task`` (a name of ``PER_TASK``) as they are read: a
    recorder's are held, a trace's are made from its rows each time and held by their reader
    alone, so a summary holds one or two of them beside the trace, not all. The executions come
    from ``spans()`` a block of tasks at a time, in ``execution_spans`` order, made anew on each
    call: a reader that needs one figure of each keeps that figure, not their columns.

    ``take`` gives a per-task vector for its reader to overwrite, as the scratch room of what it
    computes from it: a trace's made anew, a recorder's own, which it no longer holds (a later
    read of it fails). A summary takes one or two last, after every other reader of them, so
    a recorder's run needs no scratch vector beside its own (``runs.summary``)."""

    per_task: Callable[[str], Any]
    take: Callable[[str], np.ndarray]
    spans: Callable[[], Spans]  # blocks of the columns start, end, worker
    starts_by_worker: np.ndarray  # STARTED rows per worker index
    submitted: int  # PENDING rows
    retries: int  # RETRY rows
    attempts_started: int  # distinct (task, attempt) with a STARTED row
    makespan: float
    workers: tuple[str, ...]
    type_of: np.ndarray  # per task, its index into ``types``
    types: tuple[tuple[str, str], ...]
    capacity: tuple[Capacity, ...]
    ended_by_worker: np.ndarray | None = None  # executions that ended per worker; None: uncounted

    pending = _read("pending")  # float64 per task: NaN where none
    started = _read("started")
    end = _read("end")
    end_state = _read("end_state")  # int8 per task: -1 where none

    @property
    def executions(self) -> int:
        return int(self.starts_by_worker.sum())

    def ended(self, workers: Sequence[int] | None = None) -> int | None:
        """How many executions of ``workers`` (None: every worker) ended, as ``spans`` gives
        them; None where the run did not count them (a trace's are counted by pairing)."""
        if self.ended_by_worker is None:
            return None
        return int(self.ended_by_worker[slice(None) if workers is None else list(workers)].sum())


def paired(
    task: np.ndarray, worker: np.ndarray, attempt: np.ndarray, state: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of STARTED and ending rows grouped by task and worker, in time order within each group:
    the position of each STARTED, of the row after it, and whether that row ends it."""
    start = np.flatnonzero(state == STARTED)
    end = np.minimum(start + 1, max(len(state) - 1, 0))
    closes = (
        (end > start)
        & (task[end] == task[start])
        & (worker[end] == worker[start])
        & (attempt[end] == attempt[start])
        & in_states(state[end], ENDS_EXECUTION)
    )
    return start, end, closes


# an execution kept whole: its start, end, worker and task, and whether it is its task's first
# (an own execution whose task ended again later); a worker index in two bytes while the workers
# fit (a chunk of more widens the column)
OTHER_TYPES = (np.float64, np.float64, np.int16, np.int32, np.bool_)
NONE, OTHERS = -1, -2  # ``TallyRecorder.own`` of a task: no ended execution yet, or none its own
BLOCK = 1 << 14  # tasks whose executions a recorder's ``Tally.spans`` gives at a time


def in_states(state: np.ndarray, states: frozenset[int] | list[int]) -> np.ndarray:
    """``np.isin(state, states)`` for state codes, by table lookup (several times faster)."""
    table = np.zeros(len(NAMES), dtype=bool)
    table[list(states)] = True
    return table[state]


class TallyRecorder(Recording):
    """A ``Recording`` whose ``fold`` folds rows into a ``Tally``'s arrays; ``tally()`` ends it.

    A task's own execution is its first ended one when it runs from the task's first STARTED
    to its last terminal row: ``own`` holds its worker, its times are the task's. Being its
    task's first, it comes first among its task's on its worker, as ``execution_spans`` orders
    them; one whose task ends again later is moved to the others, marked first.

    ``submitted`` is each task's arrival time, the producer's: the recorder keeps its tasks'
    PENDING times in it, each written over its arrival time as its row is folded (the two
    differ in the last bits at most), so a run holds one vector of them, not two."""

    def __init__(
        self,
        workers: tuple[str, ...],
        submitted: np.ndarray,
        type_of: np.ndarray | None = None,
        types: tuple[tuple[str, str], ...] = ONE_TYPE,
        stream: ParquetStream | None = None,
    ) -> None:
        super().__init__(workers, type_of, types)
        self.stream = stream  # where the rows go too, as they are folded (``--trace x.parquet``)
        # no figure reads a RECEIVED row: only the latest is kept, for the makespan, in a deque
        # of one, whose append drops the one before (a C call, as ``rows.append``, where a
        # method keeping its time was a Python call a task)
        self._last_received: deque[tuple] = deque(maxlen=1)
        if stream is None:
            self.received = self._last_received.append
        n_tasks = len(submitted)
        self.pending = submitted
        self.started = np.full(n_tasks, np.nan)
        self.end = np.full(n_tasks, np.nan)
        self.end_state = np.full(n_tasks, -1, np.int8)
        self.top_attempt = np.full(n_tasks, -1, np.int8)  # highest attempt started (widens)
        self.own = np.full(n_tasks, NONE, self._worker_type())  # its own execution's worker
        self.starts_by_worker = np.zeros(len(workers), np.int64)
        self.submitted = self.retries = 0
        self.makespan, self.n_seen = 0.0, 0  # tasks with rows: indices 0 … n_seen-1
        self._open = [c[:0] for c in columns([])]  # the last STARTED of a (task, worker), open
        self._others = Columns(OTHER_TYPES)  # the executions that ended, not their task's own

    def _worker_type(self) -> type:
        """The least integer type that holds every worker index (a byte up to 127 workers)."""
        return np.min_scalar_type(-max(len(self.workers), 2)).type  # -1 and -2 too (NONE, OTHERS)

    def _received_until(self) -> float:
        """The time of the latest RECEIVED row not kept (rows come in time order), else 0."""
        return self._last_received[0][3] if self._last_received else 0.0

    def fold(self, rows: list[np.ndarray]) -> None:
        """Fold rows into the per-task arrays and the ended executions."""
        task, attempt, state, t, worker = rows
        if self.stream is not None:
            self.stream.add(rows, self)
        self.n_seen = max(self.n_seen, int(task.max()) + 1)
        self.makespan = max(self.makespan, float(t.max()))
        self.submitted += int(np.count_nonzero(state == PENDING))
        self.retries += int(np.count_nonzero(state == RETRY))
        at = np.flatnonzero(state == PENDING)  # a task's only one: the producer submits it once
        self.pending[task[at]] = t[at]
        _first(self.started, task, t, state == STARTED)
        ends = np.flatnonzero(in_states(state, TERMINAL))[::-1]  # latest first: unique keeps it
        last, at = np.unique(task[ends], return_index=True)
        self._ended_again(last, t[ends[at]])
        self.end[last], self.end_state[last] = t[ends[at]], state[ends[at]]
        began = state == STARTED
        top = attempt[began]
        if len(top) and top.max() > np.iinfo(self.top_attempt.dtype).max:
            self.top_attempt = self.top_attempt.astype(np.int32)  # attempts beyond 127: rare
        top = top.astype(self.top_attempt.dtype)  # one dtype: maximum.at's fast loop, not a
        np.maximum.at(self.top_attempt, task[began], top)  # generic one fifty times slower
        counts = np.bincount(worker[began], minlength=len(self.workers))
        self.starts_by_worker = _padded(self.starts_by_worker, len(counts)) + counts
        executions = in_states(state, ENDS_EXECUTION | {STARTED})
        self._executions([column[executions] for column in rows])

    def _ended_again(self, tasks: np.ndarray, times: np.ndarray) -> None:
        """``tasks`` end (again) at ``times``: an own execution that ended earlier is moved to
        the others, as its task's first."""
        moved = tasks[(self.own[tasks] >= 0) & (self.end[tasks] != times)]
        if len(moved):
            first = np.ones(len(moved), bool)
            self._others.append(
                [self.started[moved], self.end[moved], self.own[moved], moved, first]
            )
            self.own[moved] = OTHERS

    def _executions(self, rows: list[np.ndarray]) -> None:
        """Pair the open STARTED rows and these STARTED and ending rows, as
        ``metrics.execution_spans`` pairs a whole trace's; keep a group's last STARTED open."""
        task, attempt, state, t, worker = (
            np.concatenate([held, new]) for held, new in zip(self._open, rows, strict=True)
        )
        order = np.lexsort((worker, task))  # stable: time order within each (task, worker)
        task, attempt, state, t, worker = (c[order] for c in (task, attempt, state, t, worker))
        start, end, closes = paired(task, worker, attempt, state)
        done_s, done_e = start[closes], end[closes]
        self._ended(task[done_s].astype(np.int32), t[done_s], t[done_e], worker[done_s])
        last = (end == start) | (task[end] != task[start]) | (worker[end] != worker[start])
        still = start[~closes & last]
        self._open = [c[still] for c in (task, attempt, state, t, worker)]

    def _ended(
        self, task: np.ndarray, start: np.ndarray, end: np.ndarray, worker: np.ndarray
    ) -> None:
        """Executions that ended, in ``execution_spans`` order: the first of a task that has
        none yet is its own if its times are the task's; the rest are kept whole."""
        if self.own.dtype != self._worker_type():
            self.own = self.own.astype(self._worker_type())  # a node autoscaler's: rare
        first = np.r_[True, task[1:] != task[:-1]] if len(task) else np.zeros(0, bool)
        own = first & (self.own[task] == NONE)
        own &= (start == self.started[task]) & (end == self.end[task])
        self.own[task[own]] = worker[own]
        rest = ~own
        others = task[rest]
        self.own[others[self.own[others] == NONE]] = OTHERS
        first = np.zeros(len(others), bool)
        self._others.append([start[rest], end[rest], worker[rest], others, first])

    def tally(self) -> Tally:
        self.flush()
        if self.stream is not None:
            self.stream.close(self)
        n = self.n_seen
        type_of = self.type_of if self.type_of is not None else np.broadcast_to(np.int16(0), n)
        held = {
            "pending": self.pending[:n],
            "started": self.started[:n],
            "end": self.end[:n],
            "end_state": self.end_state[:n],
        }
        others, own = self._sorted(), self.own[:n]
        return Tally(
            per_task=held.__getitem__,
            take=held.pop,
            spans=partial(_spans, held["started"], held["end"], own, others),
            starts_by_worker=_padded(self.starts_by_worker, len(self.workers)),
            submitted=self.submitted,
            retries=self.retries,
            attempts_started=self._attempts_started(),
            makespan=max(self.makespan, self._received_until()),
            workers=self.workers,
            type_of=type_of,
            types=self.types,
            capacity=tuple(self.capacity),
            ended_by_worker=_ended_by_worker(own, others[1], len(self.workers)),
        )

    def _attempts_started(self) -> int:
        """Distinct (task, attempt) started: a task's attempts start in turn, 0 to its highest.
        The recorder ends here: its highest attempts are let go, not held by the model's parts
        (which hold each other) until the cycle collector runs."""
        n = self.n_seen
        started = int(self.top_attempt[:n].sum(dtype=np.int64)) + n
        self.top_attempt = self.top_attempt[:0]
        return started

    def _sorted(self) -> tuple[np.ndarray, ...]:
        """The other executions' task, worker, start and end, by task, worker and then their
        order (a task's first before the rest): ``execution_spans``' order, its own aside."""
        start, end, worker, task, first = self._others.view()
        self._others = Columns(OTHER_TYPES)  # only the views hold them: each freed once reordered
        order = np.lexsort((~first, worker, task))
        del first
        task = task[order]
        worker = worker[order]  # one column at a time: one spare copy at most
        start = start[order]
        end = end[order]
        return task, worker, start, end


def _spans(
    started: np.ndarray, end: np.ndarray, own: np.ndarray, others: tuple[np.ndarray, ...]
) -> Spans:
    """A recorder's ``Tally.spans``: a block of tasks at a time, their own executions and their
    others (``TallyRecorder._sorted``), merged into ``execution_spans`` order by one stable sort
    where a block has others (an own execution comes first among its task's on its worker)."""
    o_task, o_worker, o_start, o_end = others
    for lo in range(0, len(own), BLOCK):
        tasks = np.flatnonzero(own[lo : lo + BLOCK] >= 0) + lo
        a, z = np.searchsorted(o_task, [lo, lo + BLOCK])
        if a == z:
            yield started[tasks], end[tasks], own[tasks]
            continue
        worker = np.concatenate([own[tasks], o_worker[a:z]])
        order = np.lexsort((worker, np.concatenate([tasks, o_task[a:z]])))
        start = np.concatenate([started[tasks], o_start[a:z]])[order]
        yield start, np.concatenate([end[tasks], o_end[a:z]])[order], worker[order]


def _ended_by_worker(own: np.ndarray, others: np.ndarray, n_workers: int) -> np.ndarray:
    """Executions that ended per worker: the tasks' own (``own``, a worker index or less than
    0 per task) and the ``others``' workers; counted a block at a time, as ``bincount`` widens
    what it counts to 8 bytes each."""
    ended = np.zeros(n_workers, np.int64)
    for column in (own, others):
        for lo in range(0, len(column), BLOCK):
            block = column[lo : lo + BLOCK]
            ended += np.bincount(block[block >= 0], minlength=n_workers)[:n_workers]
    return ended


def _first(times: np.ndarray, task: np.ndarray, t: np.ndarray, rows: np.ndarray) -> None:
    """Set ``times`` of tasks that have none yet to their first of ``rows`` (a mask)."""
    at = np.flatnonzero(rows)
    tasks, first = np.unique(task[at], return_index=True)
    new = np.isnan(times[tasks])
    times[tasks[new]] = t[at[first[new]]]


def _padded(counts: np.ndarray, n: int) -> np.ndarray:
    """``counts`` with zeros for the nodes added since (a node autoscaler's)."""
    out = np.zeros(n, np.int64)
    out[: len(counts)] = counts
    return out
