"""The summary of a run, computed from its trace alone, the same way for every engine.

A task counts once, by its last terminal row; its wait is first STARTED − PENDING and its
sojourn is that terminal row − PENDING. Executions, retries and duplicate executions count rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from sim.analysis.cost import capacity_cost
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
from sim.trace import Capacity, Trace


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
    ``minimum.at`` pass, no sort.
    """
    rows = np.flatnonzero(_in(trace.state, states))
    index = np.full(trace.n_tasks, -1 if last else len(trace), dtype=np.int64)
    (np.maximum if last else np.minimum).at(index, trace.task[rows], rows)
    index[index == len(trace)] = -1
    return index


def _in(state: np.ndarray, states: list[int]) -> np.ndarray:
    """``np.isin(state, states)`` for state codes, by table lookup (several times faster)."""
    table = np.zeros(len(NAMES), dtype=bool)
    table[list(states)] = True
    return table[state]


def _times(trace: Trace, rows: np.ndarray) -> np.ndarray:
    """The times of ``rows`` (from ``first_rows``), NaN where -1."""
    return np.where(rows >= 0, trace.t[rows], np.nan) if len(trace) else np.full(len(rows), np.nan)


def first_time(trace: Trace, state: int, last: bool = False) -> np.ndarray:
    """Per task, the time of its first (or last) row in ``state``; NaN where it has none."""
    return _times(trace, first_rows(trace, [state], last))


def last_terminal(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """Per task, the time and state of its last terminal row (NaN and -1 where it has none)."""
    rows = first_rows(trace, list(TERMINAL), last=True)
    states = np.where(rows >= 0, trace.state[rows], -1).astype(np.int8) if len(trace) else rows
    return _times(trace, rows), states


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
    keep = ~np.isnan(values) if tasks is None else ~np.isnan(values) & tasks
    return values[keep]


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
    order, start, end, closes = _paired_starts(trace)
    return order[start[closes]], order[end[closes]]


def open_starts(trace: Trace) -> np.ndarray:
    """The STARTED rows no ending row closes (yet): running now, or their worker died."""
    order, start, _, closes = _paired_starts(trace)
    return np.sort(order[start[~closes]])


def _paired_starts(trace: Trace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """STARTED and ending rows grouped by task and worker (``order``); the positions in it of
    each STARTED, of the row after it, and whether that row ends the same execution. Only these
    rows matter: another row of the same worker and task cannot sit between the two."""
    order = by_task(
        trace, np.flatnonzero(_in(trace.state, [STARTED, *ENDS_EXECUTION])), worker=True
    )
    columns = (trace.task[order], trace.worker[order], trace.attempt[order], trace.state[order])
    return order, *paired(*columns)


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
        & _in(state[end], list(ENDS_EXECUTION))
    )
    return start, end, closes


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


def lost_tasks(trace: Trace) -> dict[str, list[str]]:
    """Tasks that never reached a terminal state, by id, grouped by where they were last seen."""
    _, end_state = last_terminal(trace)
    last = latest_rows(trace)
    lost = last[end_state[trace.task[last]] < 0]
    ids = trace.task_ids if trace.task_ids is not None else None
    found: dict[str, list[str]] = {}
    for task, state in zip(trace.task[lost].tolist(), trace.state[lost].tolist(), strict=True):
        found.setdefault(LOST_WHERE[state], []).append(str(ids[task] if ids is not None else task))
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


@dataclass(frozen=True, eq=False)
class Tally:
    """What a summary reads of a run: per task its first PENDING and STARTED times, its last
    terminal time and state (NaN and -1 where none); every execution that ended
    (``execution_spans`` columns ``start``, ``end``, ``worker``, in its order); row counts.
    A trace gives one (``tally``), and so does a run that keeps no rows
    (``sim.tally.TallyRecorder``): one definition of every figure, whichever recorded it."""

    pending: np.ndarray
    started: np.ndarray
    end: np.ndarray
    end_state: np.ndarray
    spans: dict[str, np.ndarray]
    starts_by_worker: np.ndarray  # STARTED rows per worker index
    submitted: int  # PENDING rows
    retries: int  # RETRY rows
    attempts_started: int  # distinct (task, attempt) with a STARTED row
    makespan: float
    workers: tuple[str, ...]
    type_of: np.ndarray  # per task, its index into ``types``
    types: tuple[tuple[str, str], ...]
    capacity: tuple[Capacity, ...]

    @property
    def executions(self) -> int:
        return int(self.starts_by_worker.sum())


def tally(trace: Trace) -> Tally:
    """A trace's ``Tally``: the executions first, then each figure in turn, every scratch
    vector freed before the next is made (the trace itself is the bulk of the memory)."""
    start, end = _span_rows(trace)
    spans = {"start": trace.t[start], "end": trace.t[end], "worker": trace.worker[start]}
    del start, end
    started = np.flatnonzero(trace.state == STARTED)
    attempts = trace.task[started].astype(np.int64) * (2**20) + trace.attempt[started]
    attempts.sort(kind="stable")
    attempts_started = int(np.count_nonzero(np.diff(attempts))) + 1 if len(attempts) else 0
    del attempts
    workers = np.bincount(trace.worker[started] + 1, minlength=len(trace.workers) + 1)[1:]
    del started
    end_at, end_state = last_terminal(trace)
    return Tally(
        pending=first_time(trace, PENDING),
        started=first_time(trace, STARTED),
        end=end_at,
        end_state=end_state,
        spans=spans,
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
    """``summarize`` from a run's ``Tally`` (``runs.summary`` names the scenario's)."""
    makespan, pending_at, started_at = run.makespan, run.pending, run.started
    queued = after(np.where(np.isnan(started_at), makespan, started_at), warmup) - after(
        pending_at, warmup
    )
    queued = float(queued[~np.isnan(queued)].sum())  # summed now: not held beside the latencies
    kept = pending_at >= warmup if warmup else None
    wait_mean, wait_p50, wait_p95, wait_p99 = latency_stats(_known(started_at - pending_at, kept))
    soj_mean, soj_p50, soj_p95, soj_p99 = latency_stats(_known(run.end - pending_at, kept))
    succeeded = int(np.count_nonzero(run.end_state == SUCCESS))
    failed = int(np.count_nonzero(run.end_state == FAILURE))
    ended = int(np.count_nonzero(run.end >= warmup))  # a task ends once, SUCCESS or FAILURE
    span = makespan - warmup
    per_second = 1.0 / span if span > 0 else 0.0
    start, end = run.spans["start"], run.spans["end"]
    busy = float((after(end, warmup) - after(start, warmup)).sum())
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
