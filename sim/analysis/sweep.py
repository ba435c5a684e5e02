"""Sweeps: the same scenario at several values of one field (worker counts, most often),
replicated over seeds, in parallel.

Replication ``r`` uses seed ``scenario.seed + r`` at every value, so each point sees the same
tasks (common random numbers) and differences between points are the field's, not luck's.
Each figure is reported as a mean with a 95 % Student-t confidence interval over replications,
clipped to the values the figure can take: with few replications of a skewed figure the
symmetric interval reaches below 0 or above 1, which says nothing and reads as a bug.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sim.analysis.groups import GROUP_FIGURES
from sim.analysis.metrics import Summary
from sim.analysis.runs import simulated
from sim.scenario import Scenario

# each figure the sweep reports, with the range its values can take
FIGURES: dict[str, tuple[float, float]] = {
    "wait_mean": (0.0, math.inf),
    "sojourn_p95": (0.0, math.inf),
    "utilization": (0.0, 1.0),
    "throughput": (0.0, math.inf),
}

# what a terminal (Ctrl-C, a closed one) or a supervisor sends a whole process group
STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class Estimate:
    """A mean over replications and its 95 % confidence interval, and the 95 % prediction
    interval of one more run (``run_low``, ``run_high``): where one real run of the scenario may
    land, which the mean's interval, narrowing as 1/√n, is not (a single live run read
    outside it as a miss). None with one replication."""

    mean: float
    low: float | None
    high: float | None
    run_low: float | None = None
    run_high: float | None = None


@dataclass(frozen=True)
class SweepPoint:
    workers: int
    reps: int
    wait_mean: Estimate
    sojourn_p95: Estimate
    utilization: Estimate
    throughput: Estimate

    def to_dict(self) -> dict:
        return asdict(self)


class Stopped(Exception):
    """A sweep that ended before its last replication (Ctrl-C; on a Celery cluster, its Redis
    lost or a replication failed on its worker), holding the summaries that had finished, keyed
    (value index, replication): minutes of work a caller can still report (``complete``).
    ``cause`` is what stopped it."""

    def __init__(self, finished: dict[tuple[int, int], Summary], cause: BaseException) -> None:
        super().__init__(str(cause))
        self.finished, self.cause = finished, cause

    def complete(self, values: Sequence, reps: int) -> tuple[list, list[list[Summary]]]:
        """The values whose every replication finished and, per value, their summaries (what
        ``sweep_field`` returns, for those values alone)."""
        done = [i for i in range(len(values)) if len(self.runs_of(i)) == reps]
        return [values[i] for i in done], [list(self.runs_of(i).values()) for i in done]

    def runs_of(self, i: int = 0) -> dict[int, Summary]:
        """The ``i``-th value's replications that finished, by replication number in order (the
        one value of ``replications``: its finished runs, which need not be the first ones)."""
        return {r: self.finished[j, r] for j, r in sorted(self.finished) if j == i}


def estimate(values: list[float], bounds: tuple[float, float] = (-math.inf, math.inf)) -> Estimate:
    """Mean, 95 % Student-t interval and one run's 95 % prediction interval (mean ± t·s·√(1 +
    1/n)) of independent replications, both clipped to ``bounds``, the values the figure can
    take. SciPy is imported here, not at the top: it would double the memory every command
    starts with."""
    from scipy import stats

    n, mean = len(values), float(np.mean(values))
    if n < 2:
        return Estimate(mean, None, None)
    spread = float(stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1))
    low, high = bounds
    half, run = spread / math.sqrt(n), spread * math.sqrt(1 + 1 / n)
    return Estimate(
        mean,
        max(mean - half, low),
        min(mean + half, high),
        max(mean - run, low),
        min(mean + run, high),
    )


def capped(scenario: Scenario, tasks: int) -> Scenario:
    """``scenario`` run by at most ``tasks`` tasks, for a sweep of many runs (a run by
    ``run.duration`` whole): its warm-up cut by the same share, so it stays that share of the
    shorter run (whole, it outlasted it: a warm-up of 1,000 s before 10,000 tasks at 10 a second
    is past the arrivals of 5,000)."""
    if scenario.run.duration or scenario.run.tasks <= tasks:
        return scenario
    share = tasks / scenario.run.tasks
    return scenario.replace(**{"run.tasks": tasks, "run.warmup": scenario.run.warmup * share})


def run_point(scenario: Scenario, changes: dict[str, Any], rep: int) -> Summary:
    """One replication with ``changes`` (dotted fields) made (top-level, so processes can run
    it)."""
    at = scenario.replace(**changes)
    seed = scenario.seed + rep
    return simulated(at, seed=seed)  # the summary alone: no trace kept


def sweep_field(
    scenario: Scenario,
    field: str,
    values: Sequence,
    reps: int = 1,
    processes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[list[Summary]]:
    """Per value of the dotted ``field``, the summaries of its ``reps`` replications;
    ``processes`` defaults to the core count (pass 1 inside Streamlit: worker processes would
    re-import the app script as their ``__main__``)."""
    return sweep_changes(scenario, [{field: v} for v in values], reps, processes, progress)


def sweep_changes(
    scenario: Scenario,
    plans: Sequence[dict[str, Any]],
    reps: int = 1,
    processes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    point: Callable[[Scenario, dict[str, Any], int], Any] = run_point,
) -> list[list[Any]]:
    """Per plan (dotted fields and their values, several at once), the summaries of its
    ``reps`` replications, as ``sweep_field``; or what ``point`` (``run_point``'s arguments,
    top-level, so processes can run it) makes of each. Ctrl-C raises ``Stopped`` with the
    replications that had finished; the processes running others are ended."""
    values = list(plans)
    jobs = [(i, r) for i in range(len(values)) for r in range(reps)]
    processes = min(processes or os.cpu_count() or 1, len(jobs))
    results: dict[tuple[int, int], Any] = {}
    try:
        if processes <= 1:
            for n, (i, r) in enumerate(jobs, 1):
                results[i, r] = point(scenario, values[i], r)
                if progress:
                    progress(n, len(jobs))
        else:
            _in_processes(scenario, values, jobs, processes, results, progress, point)
    except KeyboardInterrupt as stop:
        raise Stopped(results, stop) from None
    return [[results[i, r] for r in range(reps)] for i in range(len(values))]


def _in_processes(
    scenario: Scenario,
    values: list[dict[str, Any]],
    jobs: list[tuple[int, int]],
    processes: int,
    results: dict[tuple[int, int], Any],
    progress: Callable[[int, int], None] | None,
    point: Callable[[Scenario, dict[str, Any], int], Any],
) -> None:
    """Run ``jobs`` on ``processes`` processes into ``results``, as each finishes. Ctrl-C is the
    parent's alone (a terminal sends it to the children too, which died printing tracebacks):
    on it, every replication that finished is kept, and the processes are ended rather than left
    to run replications no one will read (the interpreter's exit waited for them). They are
    started, as the jobs are submitted, with the stopping signals ``_held``: one that comes while
    they import is held there, never raised, until ``_parent_stops`` ignores it, and one that
    comes while the parent starts them is acted on once they have their instructions."""
    context = multiprocessing.get_context("spawn")  # safe beside threads (Streamlit)
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(processes, mp_context=context, initializer=_parent_stops)
    futures: dict[Future, tuple[int, int]] = {}
    try:
        with _held():  # a Ctrl-C held is raised as the block ends
            for i, r in jobs:
                futures[pool.submit(point, scenario, values[i], r)] = (i, r)
        for n, future in enumerate(as_completed(futures), 1):
            results[futures[future]] = future.result()
            if progress:
                progress(n, len(jobs))
    except KeyboardInterrupt:
        for future, job in futures.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                results[job] = future.result()
        with _held():  # a second Ctrl-C waits for it
            for child in set(multiprocessing.active_children()) - before:
                child.kill()  # not terminate(): they ignore its SIGTERM, and the exit waited
            pool.shutdown(cancel_futures=True)  # its thread ends here, not in the exit's join
        raise
    finally:
        pool.shutdown()


@contextlib.contextmanager
def _held() -> Iterator[None]:
    """The stopping signals held over the block and acted on, as they would have been, at its
    end. Blocked (``pthread_sigmask``), they are held in this thread and in the processes it
    starts, which inherit its mask; not in the threads started before it (numpy's OpenBLAS
    pool), to which the kernel then delivers them, and Python runs its handler in the main
    thread all the same: a Ctrl-C raised in ``submit`` between a process's spawn and the write
    of its instructions left it reading an empty pipe (``EOFError: Ran out of input``, a
    traceback under "stopped"). So, in the main thread, where Python runs them, their handlers
    only note them until the end too."""
    came: list[int] = []
    noted = threading.current_thread() is threading.main_thread()
    handlers = {sig: signal.signal(sig, lambda s, _: came.append(s)) for sig in STOPS if noted}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one pending since is noted here
        for sig, handler in handlers.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        for sig in dict.fromkeys(came):
            signal.raise_signal(sig)


def _parent_stops() -> None:
    """A sweep process ignores the stopping signals, which a terminal or a supervisor sends
    the whole process group: the sweep decides what to keep and ends it. It starts with them
    blocked (``_in_processes``); one that came since is dropped as they are unblocked."""
    for sig in STOPS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)


def replications(
    scenario: Scenario,
    reps: int,
    processes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Summary]:
    """``reps`` runs of one scenario, at seeds ``seed``, ``seed + 1``, …: a sweep of one point."""
    return sweep_field(scenario, "seed", [scenario.seed], reps, processes, progress)[0]


def replicated(summaries: list[Summary]) -> dict[str, Estimate]:
    """Every number of a run's summary as an ``Estimate`` over replications, those per task
    type, queue and pool too (``by_task.report.sojourn_p95``, as a lesson names them): what
    ``simulate --reps`` reports, so one draw is never the answer."""
    numbers = [
        k for k, v in summaries[0].to_dict().items() if isinstance(v, int | float) and k != "seed"
    ]
    figures = {
        k: estimate([getattr(s, k) for s in summaries], FIGURES.get(k, (0.0, math.inf)))
        for k in numbers
    }
    for kind in GROUP_FIGURES:
        for name, group in getattr(summaries[0], kind).items():
            for field in group:
                values = [getattr(s, kind).get(name, {}).get(field, 0.0) for s in summaries]
                bounds = FIGURES.get(field, (0.0, math.inf))
                figures[f"{kind}.{name}.{field}"] = estimate(values, bounds)
    return figures


def reps_for(e: Estimate, reps: int, within: float = 0.05) -> int:
    """Replications that bring ``e``'s interval to ±``within`` of its mean (the half-width
    shrinks as 1/√reps): near saturation a run's mean is skewed and five are rarely enough."""
    if e.low is None or e.mean <= 0:
        return reps
    half = (e.high - e.low) / 2
    return max(reps, math.ceil(reps * (half / (within * e.mean)) ** 2))


def sweep(
    scenario: Scenario,
    workers: list[int],
    reps: int = 5,
    processes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    pool: str | None = None,
) -> list[SweepPoint]:
    """Every worker count (of ``pool``, with ``[[pools]]``) × ``reps`` replications, each figure
    as an ``Estimate``."""
    runs = sweep_field(
        scenario, scenario.pool_field(pool, "count"), workers, reps, processes, progress
    )
    return points(workers, runs)


def points(workers: Sequence[int], runs: list[list[Summary]]) -> list[SweepPoint]:
    """Each worker count's replications (``sweep_field``'s answer, however it was run: on local
    processes or on a Celery cluster) as a ``SweepPoint``, an ``Estimate`` per figure."""
    return [
        SweepPoint(
            workers=w,
            reps=len(summaries),
            **{
                f: estimate([getattr(s, f) for s in summaries], bounds)
                for f, bounds in FIGURES.items()
            },
        )
        for w, summaries in zip(workers, runs, strict=True)
    ]
