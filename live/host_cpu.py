"""How busy the host's CPUs were over a live run.

Celery's own work per task (the main process's dispatch, the result's way back, the ack) and
queuelab's producer and collector share the cores with the tasks. When a compressed time scale
asks for more of that work a second than the cores can do, every cost grows and the live run is
another queue than the one simulated: ``compare`` then names this cause. Read from Linux's
/proc/stat; elsewhere the share is unknown (None).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

STAT = Path("/proc/stat")
IDLE_COLUMNS = (3, 4)  # idle and iowait, of user nice system idle iowait irq softirq steal


def ticks(stat: str) -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat's text."""
    fields = [int(v) for v in stat.split("\n", 1)[0].split()[1:9]]
    idle = sum(fields[i] for i in IDLE_COLUMNS)
    return sum(fields) - idle, sum(fields)


class BusyShare:
    """A context: on exit ``share`` is the fraction of CPU time busy while it was open, and
    ``seconds`` how long it was open (wall)."""

    def __init__(self) -> None:
        self.share: float | None = None
        self.seconds = 0.0
        self._start: tuple[int, int] | None = None
        self._began = 0.0

    def __enter__(self) -> BusyShare:
        self._start, self._began = _read(), time.monotonic()
        return self

    def __exit__(self, *_) -> None:
        end, self.seconds = _read(), time.monotonic() - self._began
        if self._start is not None and end is not None and end[1] > self._start[1]:
            self.share = (end[0] - self._start[0]) / (end[1] - self._start[1])


def _read() -> tuple[int, int] | None:
    try:
        return ticks(STAT.read_text())
    except (OSError, ValueError, IndexError):
        return None


# CPU seconds Celery, Redis and queuelab's producer and collector spend on a task, measured per
# process on a 2-core host (worker main process 3.7 ms, pool child 3.0, producer and collector
# 2.3, redis-server 0.8): a live run's own load on the host, whatever its tasks do
CPU_PER_TASK = 0.010
# the share of the host's CPUs a run may ask for and still time the scenario, not the host: on 2
# cores the runs at 25-65 % busy missed by the model's errors, from 74 % by hundreds of percent
LIGHT = 0.25


def cores() -> int:
    """This host's CPUs, which a live run's Celery work shares."""
    return os.cpu_count() or 1


def demand(rate: float, time_scale: float, cores: int) -> float:
    """The share of ``cores`` CPUs a live run keeps busy with Celery's own work when its tasks
    arrive at ``rate`` a scenario second: a smaller time scale sends them faster."""
    return rate / time_scale * CPU_PER_TASK / cores


def lightest_scale(rate: float, cores: int) -> float:
    """The least time scale at which a run at ``rate`` asks ``LIGHT`` of ``cores`` CPUs: what to
    give ``queuelab live --time-scale`` when every scale a page offers asks more."""
    return rate * CPU_PER_TASK / (cores * LIGHT)


def carried_time_scale(rate: float, choices: Sequence[float], cores: int) -> float:
    """The smallest of ``choices`` at which a run at ``rate`` asks at most ``LIGHT`` of the
    host, so it runs fast and still measures the scenario; the largest choice when none does."""
    light = [s for s in sorted(choices) if demand(rate, s, cores) <= LIGHT]
    return light[0] if light else max(choices)


def load_note(rate: float, time_scale: float, cores: int) -> str:
    """What a run at ``rate`` and ``time_scale`` asks of ``cores`` CPUs, in a sentence."""
    return (
        f"at time scale {time_scale:g} this run sends about {rate / time_scale:.0f} tasks a wall "
        f"second: Celery, Redis and queuelab then keep about {demand(rate, time_scale, cores):.0%}"
        f" of this host's {cores} CPUs busy ({CPU_PER_TASK * 1000:.0f} ms of CPU a task, measured)"
    )
