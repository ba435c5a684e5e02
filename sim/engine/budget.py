"""What a run will cost in memory, said before it starts, so a run too large for the machine is
refused with the figure to change instead of ending in ``MemoryError`` or the swap.

A run that keeps its trace holds about four rows a task for every attempt it makes, plus the
draws and the summary's per-task arrays; a summary-only run (or one streaming its trace to
Parquet) only the latter. The figures are peak RSS of ``queuelab simulate`` on M/M/4, one
attempt a task (2026-11-30): with a CSV trace 213 MB at 1M tasks, summary-only 125 MB, the
trace streamed to Parquet 168 MB at 1M and 480 MB at 10M, from 88 MB at start.
"""

from __future__ import annotations

from pathlib import Path

from sim.engine.arrivals import bursts_before
from sim.rules import retry
from sim.scenario import Scenario, ScenarioError
from sim.sections import Arrivals, Failures

TRACE_BYTES_PER_TASK = 200  # the trace kept, written at the end: 128 measured at 1M tasks
SUMMARY_BYTES_PER_TASK = 100  # the summary only, or the trace streamed: 38 at 1M, 40 at 10M
BASE_BYTES = 256 << 20  # the interpreter, NumPy and Arrow, a Parquet row group's buffers
WARN_BYTES = 1 << 30  # a run above this says what it will hold before it starts


class RunTooLarge(ScenarioError):
    """The run would not fit in the memory this machine has available."""


def expected_tasks(s: Scenario) -> float:
    """Tasks the run submits: ``run.tasks``, or over ``run.duration`` those of [arrivals] (if
    some task type shares it) and of every task type's own [tasks.arrivals]."""
    if not s.run.duration:
        return s.run.tasks
    types = s.task_types
    shared = _submitted(s.arrivals, s.run.duration) if any(not t.arrivals for t in types) else 0
    return shared + sum(_submitted(t.arrivals, s.run.duration) for t in types if t.arrivals)


def _submitted(a: Arrivals, duration: float) -> float:
    """Arrivals ``a`` submits in ``duration`` seconds: ``rate`` × duration, or whole bursts
    (every one that starts before it)."""
    if a.process == "burst":
        return bursts_before(a, duration) * a.burst_size
    return duration * a.rate


def expected_attempts(s: Scenario) -> float:
    """Mean attempts per task over the task types, each by its part of the arrivals (its share
    of [arrivals].rate, or its own rate) and its own [tasks.failures] and [tasks.retry]: a type
    failing every attempt of 1,000 retries made the run 1,000 times what the scenario's
    own tables said."""
    parts = _parts(s)
    span = arrivals_span(s)
    each = [_attempts(t.failures, t.retry.max_retries, span) for t in s.task_types]
    return sum(p * a for p, a in zip(parts, each, strict=True)) / sum(parts)


def _parts(s: Scenario) -> list[float]:
    """Each task type's arrival rate: its share of [arrivals].rate, or its own rate."""
    return [
        t.arrivals.rate if t.arrivals else share * s.arrivals.rate
        for t, share in zip(s.task_types, s.shares, strict=True)
    ]


def arrivals_span(s: Scenario) -> float:
    """The seconds over which the run's tasks arrive: ``run.duration``, or ``run.tasks`` at the
    rate of every stream the types read ([arrivals] may be read by none)."""
    return s.run.duration or s.run.tasks / sum(_parts(s))


def _attempts(failures: Failures, max_retries: float, span: float) -> float:
    """Mean attempts of a task that fails with ``failures.probability``, or an outage's for the
    part of the arrivals' ``span`` the outage covers."""
    covered = [min(o.end, span) - min(o.start, span) for o in failures.outage]
    p = failures.probability * (1 - min(1.0, sum(covered) / span)) + sum(
        o.probability * c / span for o, c in zip(failures.outage, covered, strict=True)
    )
    return attempts(min(p, 1.0), max_retries)


def attempts(probability: float, max_retries: float) -> float:
    """Mean attempts of a task whose attempts fail with ``probability``: each failure while
    retries remain makes one more (retried for ever, as far as the simulator follows it)."""
    return sum(probability**k for k in range(retry.most_retries(max_retries) + 1))


def estimated_bytes(s: Scenario, trace: bool = True) -> float:
    """Peak memory a simulation of ``s`` needs, keeping its ``trace`` or not, from the measured
    bytes per task and attempt."""
    per_task = TRACE_BYTES_PER_TASK if trace else SUMMARY_BYTES_PER_TASK
    return BASE_BYTES + expected_tasks(s) * expected_attempts(s) * per_task


def available_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Memory the machine can give without swapping (Linux's MemAvailable); None elsewhere."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_fits(s: Scenario, available: int | None = None, trace: bool = True) -> None:
    """Refuse a run whose estimated peak is above the available memory, naming the fix."""
    available = available_bytes() if available is None else available
    need = estimated_bytes(s, trace)
    if available is None or need <= available:
        return
    per_task = (need - BASE_BYTES) / expected_tasks(s)
    fits = max(0, int((available - BASE_BYTES) / per_task))
    field = "run.duration" if s.run.duration > 0 else "run.tasks"
    raise RunTooLarge(
        f"{field}: this run needs about {gib(need)} of memory ({per_task:,.0f} bytes a task), "
        f"more than the {gib(available)} available: lower it to at most {fits:,} tasks"
    )


def large(s: Scenario, trace: bool = True) -> str | None:
    """What a run above ``WARN_BYTES`` will hold, said before it starts (None below it)."""
    need = estimated_bytes(s, trace)
    if need <= WARN_BYTES:
        return None
    return f"this run will hold about {gib(need)} in memory ({expected_tasks(s):,.0f} tasks)"


def gib(n: float) -> str:
    """A byte count for people."""
    return f"{n / (1 << 30):,.1f} GiB"
