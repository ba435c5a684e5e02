"""The producer: the client that submits every task at its drawn arrival time.

Submitting a task records it PENDING in the backend and publishes its first message. The
producer is a chain of callbacks rather than a SimPy process: one event per distinct arrival
time, and every task due at that time submitted at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import simpy

from sim.engine.backend import Backend
from sim.engine.broker import Broker, Message
from sim.engine.timer import clock, scheduler
from sim.rules.states import PENDING


class Producer:
    """Submits task ``i`` at ``arrivals[i]`` (non-decreasing seconds) once ``start`` is called."""

    def __init__(
        self, env: simpy.Environment, arrivals: Sequence[float], backend: Backend, broker: Broker
    ) -> None:
        self.env = env
        self._clock = clock(env)  # the hot path's clock (``sim.engine.timer``)
        self.backend = backend
        self.broker = broker
        self._row, self._publish = backend.row, broker.publish  # its hot path's two calls
        self._after, self._arrives = scheduler(env), self._arrive  # its timer and callback
        self.produced = False  # every arrival submitted
        self._arrivals = arrivals
        self._next = 0  # the next task to submit
        self._last = 0.0  # the time it was last woken

    def submit(self, task: int) -> None:
        """Send task ``task`` now."""
        self._row((task, 0, PENDING, self._clock.now, -1))
        self._publish(Message(task, 0))

    def start(self) -> None:
        """Submit the tasks due at time 0 now, and the rest as their times come."""
        start = self.env.event()
        start.callbacks.append(self._arrive)
        start.succeed()

    def _arrive(self, _woken_by: simpy.Event | None = None) -> None:
        """Submit every task due now, then wait for the next arrival time."""
        arrivals, task, last = self._arrivals, self._next, self._last
        while task < len(arrivals):
            t = arrivals[task]
            if t > last:
                self._next, self._last = task, t
                self._after(t - last, None, self._arrives)
                return
            self.submit(task)
            task += 1
        self.produced = True
