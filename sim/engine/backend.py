"""Celery's result backend and event stream: every state change of a task becomes a trace row.

Workers append rows through ``row`` (one bound call on the hot path); a terminal state also
counts the task as finished, once, for the progress callback, and packs the rows when enough
have piled up (``Recording.pack``).
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from sim.engine.timer import clock
from sim.trace import Recording

Progress = Callable[[int, int], None]


class Backend:
    """The result backend and event stream: every state change becomes a trace row."""

    def __init__(
        self, env: simpy.Environment, recorder: Recording, n_tasks: int, progress: Progress | None
    ) -> None:
        self.env = env
        self._clock = clock(env)  # the hot path's clock (``sim.engine.timer``)
        self.recorder = recorder
        self.row = recorder.rows.append  # appends one (task, attempt, state, t, worker) row
        self.received = recorder.received  # takes a RECEIVED row (``Recording.received``)
        self._rows, self._chunk = recorder.rows, recorder.CHUNK  # rows waiting to be packed
        self.n_tasks = n_tasks
        self.progress = progress
        self.finished = 0  # tasks with a terminal state; a duplicate run's second end not counted
        self._ended = bytearray(-(-n_tasks // 8) if progress else 0)  # a bit a task: ended
        self._report_every = max(1, n_tasks // 100)

    def record(self, task: int, attempt: int, state: int, worker: int = -1) -> None:
        self.row((task, attempt, state, self._clock.now, worker))

    def node(self, worker: int, up: bool, processes: int) -> None:
        """A node started or stopped consuming, or its pool grew or shrank (worker-online,
        worker-offline and the autoscaler's log lines in Celery)."""
        self.recorder.node(self.env.now, worker, up, processes)

    def finish(self, task: int, attempt: int, state: int, worker: int) -> None:
        """Record a terminal state (SUCCESS or FAILURE)."""
        self.row((task, attempt, state, self._clock.now, worker))
        if len(self._rows) >= self._chunk:
            self.recorder.pack()  # here, once a task: workers append rows without checking
        if not self.progress:
            return  # finished tasks are counted for the progress callback alone
        byte, bit = task >> 3, 1 << (task & 7)
        if self._ended[byte] & bit:
            return
        self._ended[byte] |= bit
        self.finished += 1
        if self.finished % self._report_every == 0:
            self.progress(self.finished, self.n_tasks)

    def release(self) -> None:
        """Let go of the per-task flags once the run is over (a bit a task): the model's parts
        hold each other, so until the cycle collector runs they would outlive the run."""
        self._ended = bytearray()
