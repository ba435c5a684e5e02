"""What a run will cost in memory, said before it starts, so a run too large for the machine is
refused with the figure to change instead of ending in ``MemoryError`` or the swap.

A simulated run keeps its trace: about four rows a task for every attempt it makes, plus the
draws. ``BYTES_PER_TASK`` is the peak measured by ``bench/sim_speed.py`` (404 MiB per million
tasks of M/M/8, one attempt each, trace and summary included).
"""

from __future__ import annotations

from pathlib import Path

from sim.scenario import Scenario, ScenarioError

BYTES_PER_TASK = 424
WARN_BYTES = 1 << 30  # a run above this says what it will hold before it starts


class RunTooLarge(ScenarioError):
    """The run would not fit in the memory this machine has available."""


def expected_tasks(s: Scenario) -> float:
    """Tasks the run submits: ``run.tasks``, or ``run.duration`` × ``arrivals.rate``."""
    return s.run.duration * s.arrivals.rate if s.run.duration > 0 else s.run.tasks


def expected_attempts(s: Scenario) -> float:
    """Mean attempts per task: each failed attempt while retries remain makes one more."""
    p = s.failures.probability
    return sum(p**k for k in range(min(s.retry.max_retries, 1000) + 1))


def estimated_bytes(s: Scenario) -> float:
    """Peak memory a simulation of ``s`` needs, from the measured bytes per task and attempt."""
    return expected_tasks(s) * expected_attempts(s) * BYTES_PER_TASK


def available_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Memory the machine can give without swapping (Linux's MemAvailable); None elsewhere."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_fits(s: Scenario, available: int | None = None) -> None:
    """Refuse a run whose estimated peak is above the available memory, naming the fix."""
    available = available_bytes() if available is None else available
    need = estimated_bytes(s)
    if available is None or need <= available:
        return
    per_task = need / expected_tasks(s)
    fits = int(available / per_task)
    field = "run.duration" if s.run.duration > 0 else "run.tasks"
    raise RunTooLarge(
        f"{field}: this run needs about {gib(need)} of memory ({per_task:,.0f} bytes a task), "
        f"more than the {gib(available)} available: lower it to at most {fits:,} tasks"
    )


def gib(n: float) -> str:
    """A byte count for people."""
    return f"{n / (1 << 30):,.1f} GiB"
