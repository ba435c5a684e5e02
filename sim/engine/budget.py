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
from sim.scenario import Scenario, ScenarioError

TRACE_BYTES_PER_TASK = 200  # the trace kept, written at the end: 128 measured at 1M tasks
SUMMARY_BYTES_PER_TASK = 100  # the summary only, or the trace streamed: 38 at 1M, 40 at 10M
BASE_BYTES = 256 << 20  # the interpreter, NumPy and Arrow, a Parquet row group's buffers
WARN_BYTES = 1 << 30  # a run above this says what it will hold before it starts


class RunTooLarge(ScenarioError):
    """The run would not fit in the memory this machine has available."""


def expected_tasks(s: Scenario) -> float:
    """Tasks the run submits: ``run.tasks``, or ``run.duration`` × ``arrivals.rate`` (whole
    bursts: every one that starts before it)."""
    if not s.run.duration:
        return s.run.tasks
    if s.arrivals.process == "burst":
        return bursts_before(s.arrivals, s.run.duration) * s.arrivals.burst_size
    return s.run.duration * s.arrivals.rate


def expected_attempts(s: Scenario) -> float:
    """Mean attempts per task: each failed attempt while retries remain makes one more."""
    p = s.failures.probability
    return sum(p**k for k in range(min(s.retry.max_retries, 1000) + 1))


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
