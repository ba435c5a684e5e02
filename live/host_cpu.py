"""How busy the host's CPUs were over a live run.

Celery's own work per task (the main process's dispatch, the result's way back, the ack) and
queuelab's producer and collector share the cores with the tasks. When a compressed time scale
asks for more of that work a second than the cores can do, every cost grows and the live run is
another queue than the one simulated: ``compare`` then names this cause. Read from Linux's
/proc/stat; elsewhere the share is unknown (None).
"""

from __future__ import annotations

import time
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
