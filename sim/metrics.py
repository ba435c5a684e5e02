"""The summary of a run, computed from its trace alone, the same way for every engine.

A task counts once, by its last terminal row; its wait is first STARTED − PENDING and its
sojourn is that terminal row − PENDING. Executions, retries and duplicate executions count rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sim.states import ENDS_EXECUTION, FAILURE, NAMES, PENDING, RETRY, STARTED, SUCCESS, TERMINAL
from sim.trace import Trace


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

    def to_dict(self) -> dict:
        return asdict(self)


def first_time(trace: Trace, state: int, last: bool = False) -> np.ndarray:
    """Per task, the time of its first (or last) row in ``state``; NaN where it has none."""
    rows = np.flatnonzero(trace.state == state)
    if last:
        rows = rows[::-1]
    tasks, first = np.unique(trace.task[rows], return_index=True)
    times = np.full(trace.n_tasks, np.nan)
    times[tasks] = trace.t[rows[first]]
    return times


def last_terminal(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """Per task, the time and state of its last terminal row (NaN and -1 where it has none)."""
    rows = np.flatnonzero(np.isin(trace.state, list(TERMINAL)))[::-1]
    tasks, first = np.unique(trace.task[rows], return_index=True)
    times = np.full(trace.n_tasks, np.nan)
    states = np.full(trace.n_tasks, -1, dtype=np.int8)
    times[tasks] = trace.t[rows[first]]
    states[tasks] = trace.state[rows[first]]
    return times, states


def waits(trace: Trace) -> np.ndarray:
    """First STARTED − PENDING of every task that started."""
    wait = first_time(trace, STARTED) - first_time(trace, PENDING)
    return wait[~np.isnan(wait)]


def sojourns(trace: Trace) -> np.ndarray:
    """Last terminal − PENDING of every task that ended."""
    end, _ = last_terminal(trace)
    sojourn = end - first_time(trace, PENDING)
    return sojourn[~np.isnan(sojourn)]


def execution_spans(trace: Trace) -> dict[str, np.ndarray]:
    """Every execution — a STARTED to the RETRY/SUCCESS/FAILURE that ends it — as columns
    ``start``, ``end``, ``worker``, ``task``, ``attempt``, ``state`` (the ending state).

    An execution that ends in a crash has no closing row, so it is left out.
    """
    order = np.lexsort((np.arange(len(trace)), trace.worker, trace.task))
    task, worker = trace.task[order], trace.worker[order]
    state, attempt, t = trace.state[order], trace.attempt[order], trace.t[order]
    start = np.flatnonzero(state[:-1] == STARTED)
    end = start + 1
    closes = (
        (task[end] == task[start])
        & (worker[end] == worker[start])
        & (attempt[end] == attempt[start])
        & np.isin(state[end], list(ENDS_EXECUTION))
    )
    start, end = start[closes], end[closes]
    return {
        "start": t[start],
        "end": t[end],
        "worker": worker[start],
        "task": task[start],
        "attempt": attempt[start],
        "state": state[end],
    }


def executions(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times of every execution that ended (see ``execution_spans``)."""
    spans = execution_spans(trace)
    return spans["start"], spans["end"]


def latest_states(trace: Trace) -> dict[str, int]:
    """How many tasks are in each state now, by their latest row (Flower's task counts)."""
    order = np.lexsort((np.arange(len(trace)), trace.task))
    last = (
        order[np.r_[trace.task[order][1:] != trace.task[order][:-1], True]] if len(trace) else order
    )
    codes, counts = np.unique(trace.state[last], return_counts=True)
    return {NAMES[c]: int(n) for c, n in zip(codes.tolist(), counts.tolist(), strict=True)}


def busy_time(trace: Trace) -> float:
    """Slot-seconds spent executing."""
    start, end = executions(trace)
    return float((end - start).sum())


def step_counts(up: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A count that rises by one at each ``up`` time and falls at each ``down``: (times, level)."""
    times = np.concatenate([up, down])
    steps = np.concatenate([np.ones(len(up)), -np.ones(len(down))])
    order = np.lexsort((steps, times))
    return times[order], np.cumsum(steps[order])


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
    written = np.isin(trace.state, [RETRY, *TERMINAL])
    rows = np.flatnonzero(written)
    tasks, first = np.unique(trace.task[rows], return_index=True)
    born = trace.t[rows[first]]
    last_rows = rows[::-1]
    _, last = np.unique(trace.task[last_rows], return_index=True)
    dies = trace.t[last_rows[last]] + expires
    times, keys = step_counts(born, dies)
    return times, keys * size


def backend_pending(trace: Trace, track_started: bool) -> np.ndarray:
    """Per task, how long the result backend answered PENDING for it: until its first stored
    state (STARTED when tracked, else RETRY or the end), or to the end of the run if never."""
    stored = [RETRY, *TERMINAL, *([STARTED] if track_started else [])]
    rows = np.flatnonzero(np.isin(trace.state, stored))
    tasks, first = np.unique(trace.task[rows], return_index=True)
    until = np.full(trace.n_tasks, float(trace.t.max()) if len(trace) else 0.0)
    until[tasks] = trace.t[rows[first]]
    pending = first_time(trace, PENDING)
    shown = until - pending
    return shown[~np.isnan(shown)]


def state_flows(trace: Trace) -> dict[str, int]:
    """How many times tasks moved from one state to the next, e.g. {"STARTED→RETRY": 12}."""
    order = np.lexsort((np.arange(len(trace)), trace.task))
    task, state = trace.task[order], trace.state[order]
    same = task[1:] == task[:-1]
    pairs = state[:-1][same].astype(np.int64) * len(NAMES) + state[1:][same]
    codes, counts = np.unique(pairs, return_counts=True)
    return {
        f"{NAMES[c // len(NAMES)]}→{NAMES[c % len(NAMES)]}": int(n)
        for c, n in zip(codes.tolist(), counts.tolist(), strict=True)
    }


def _stats(values: np.ndarray) -> tuple[float, float, float, float]:
    if len(values) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return float(values.mean()), float(p50), float(p95), float(p99)


def summarize(
    trace: Trace, slots: int, engine: str = "sim", scenario: str = "", seed: int = 0
) -> Summary:
    """The run's summary; ``slots`` is workers × concurrency, for utilisation."""
    submitted = int(np.count_nonzero(trace.state == PENDING))
    _, end_state = last_terminal(trace)
    started = trace.state == STARTED
    attempts_started = len(np.unique(trace.task[started] * (2**20) + trace.attempt[started]))
    makespan = float(trace.t.max()) if len(trace) else 0.0
    pending_at, started_at = first_time(trace, PENDING), first_time(trace, STARTED)
    queued = np.where(np.isnan(started_at), makespan, started_at) - pending_at
    queued = queued[~np.isnan(queued)]
    wait_mean, wait_p50, wait_p95, wait_p99 = _stats(waits(trace))
    soj_mean, soj_p50, soj_p95, soj_p99 = _stats(sojourns(trace))
    succeeded = int(np.count_nonzero(end_state == SUCCESS))
    failed = int(np.count_nonzero(end_state == FAILURE))
    per_second = 1.0 / makespan if makespan > 0 else 0.0
    return Summary(
        engine=engine,
        scenario=scenario,
        seed=seed,
        tasks_submitted=submitted,
        tasks_succeeded=succeeded,
        tasks_failed=failed,
        tasks_lost=submitted - succeeded - failed,
        executions=int(np.count_nonzero(started)),
        retries=int(np.count_nonzero(trace.state == RETRY)),
        duplicate_executions=int(np.count_nonzero(started)) - attempts_started,
        wait_mean=wait_mean,
        wait_p50=wait_p50,
        wait_p95=wait_p95,
        wait_p99=wait_p99,
        sojourn_mean=soj_mean,
        sojourn_p50=soj_p50,
        sojourn_p95=soj_p95,
        sojourn_p99=soj_p99,
        throughput=(succeeded + failed) * per_second,
        utilization=busy_time(trace) / slots * per_second,
        queue_len_mean=float(queued.sum()) * per_second,
        makespan=makespan,
    )
