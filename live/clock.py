"""Wall time ↔ scenario time of a live run: the one place that scales.

A live run plays the scenario ``time_scale`` times as fast as written (0.02: one scenario second
is 20 ms of wall time) from its origin ``t0``, the wall time (epoch seconds) of scenario time 0.
Durations (a service time, a countdown, the visibility timeout) scale without the origin, so they
are known before the run starts; instants (an arrival, a recorded state change) need ``t0``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Clock:
    """The time scale of a run and, once it has started, its origin (None before)."""

    t0: float | None
    time_scale: float  # wall seconds per scenario second

    def started(self, t0: float) -> Clock:
        """This clock with its origin set: scenario time 0 is wall time ``t0``."""
        return replace(self, t0=t0)

    def wall_seconds(self, scenario_seconds: float) -> float:
        """A duration in wall seconds."""
        return scenario_seconds * self.time_scale

    def wall(self, t: float) -> float:
        """The wall time of scenario time ``t``."""
        return self._origin() + t * self.time_scale

    def scenario(self, wall: float) -> float:
        """The scenario time of wall time ``wall``."""
        return (wall - self._origin()) / self.time_scale

    def now(self) -> float:
        """Scenario time now."""
        return self.scenario(time.time())

    def sleep_until(self, t: float, stop: threading.Event | None = None) -> bool:
        """Sleep until scenario time ``t``; True when ``stop`` was set meanwhile, or before: a
        producer behind its arrivals (a burst) does not sleep, and must stop all the same."""
        delay = self.wall(t) - time.time()
        if delay <= 0:
            return stop is not None and stop.is_set()
        if stop is None:
            time.sleep(delay)
            return False
        return stop.wait(delay)

    def _origin(self) -> float:
        if self.t0 is None:
            raise RuntimeError("the run has not started: its clock has no t0 yet")
        return self.t0
