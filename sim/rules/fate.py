"""What one execution of a task's attempt does: crash → work → fail → outcome → countdown.

The draws decide it all, so the simulator and the live task run the same sequence. As it starts,
an execution learns its work (seconds of service) and whether it dies part-way through it
(keyed by the execution number, so a redelivered message draws afresh); when its work ends at
scenario time ``t`` — the moment it would have the downstream API's answer, which an outage may
change — whether it raises, and so the state it ends in and the countdown before its retry.
``Fates`` is the same decisions cached per attempt for the simulator's hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sim.engine.draws import Blocks, Draws
from sim.rules.retry import lost_child_countdown, max_retries, outcome
from sim.rules.states import RETRY, SUCCESS


@dataclass(frozen=True, slots=True)
class Work:
    """How an execution runs: ``service`` seconds, or dying ``crash_at`` (0–1) through them."""

    service: float
    crash_at: float | None  # None: it runs to the end


@dataclass(frozen=True, slots=True)
class Ending:
    """The state an execution ends in (SUCCESS, RETRY or FAILURE), and a retry's countdown."""

    state: int
    countdown: float  # 0 unless RETRY


def work(draws: Draws, task: int, attempt: int, execution: int) -> Work:
    """The work of execution ``execution`` (0 = first delivery) of ``attempt`` of ``task``."""
    return Work(draws.service(task, attempt), draws.crash_point(task, attempt, execution))


def ending(draws: Draws, task: int, attempt: int, t: float, raised: bool = False) -> Ending:
    """How ``attempt`` of ``task`` ends when its work ends at scenario time ``t`` (``raised``:
    it raised whatever its draw, as on a soft time limit)."""
    failed = raised or draws.fails(task, attempt, t)
    state = outcome(attempt, failed, max_retries(draws.task_type(task).retry))
    return Ending(state, draws.countdown(task, attempt) if state == RETRY else 0.0)


SUCCEEDED: Final = (SUCCESS, 0.0)  # ``ending`` of an execution that did not raise


class Fates:
    """``work`` and ``ending`` for every task of one run, cached per attempt.

    Equal to the functions above (a test holds them so over many draws). Service times are
    read a block of tasks at a time (``Draws.service_blocks``), the other per-task vectors
    through memoryviews of the draws' arrays and failures as one byte a task (none
    where no type can fail: every execution that does not raise succeeds): indexing
    either gives a Python number (no NumPy scalar per execution) as fast as a list does, at
    no copy or a byte a task rather than a list's 8 bytes of pointers. It counts executions of
    each (task, attempt) as they start, as the live worker counts them in Redis.
    """

    def __init__(self, draws: Draws) -> None:
        self.draws = draws
        self._outages = any(t.failures.outage for t in draws.types)
        self._fails = any(t.failures.probability for t in draws.types)
        self.timed = self._outages  # whether ``ending`` needs the time its work ends
        self.succeeds = not (self._outages or self._fails)  # ``ending`` is SUCCEEDED unless raised
        self.type_of = draws.type_of.data  # per task, its type's index
        self._max_retries = [max_retries(t.retry) for t in draws.types]
        self._service: dict[int, Blocks] = {}
        self._attempt, self._block, self._shift, self._lo = -1, -1, 0, 0  # ``_values``' block
        self._values: Sequence[float] = ()
        self._delivery: dict[int, Sequence[float]] = {}
        self._failures: dict[int, bytes] = {}
        self._executions: dict[tuple[int, int], int] = {}

    def service(self, task: int, attempt: int) -> float:
        """Seconds of work of ``attempt`` of ``task``: most often from the block the last
        execution read (tasks start about in turn), else its block (``Draws.service_blocks``)."""
        if attempt == self._attempt and task >> self._shift == self._block:
            return self._values[task - self._lo]
        blocks = self._service.get(attempt)
        if blocks is None:
            blocks = self._service[attempt] = self.draws.service_blocks(attempt)
        self._attempt, self._shift, self._block = attempt, blocks.shift, task >> blocks.shift
        self._lo, self._values = self._block << blocks.shift, blocks.block(self._block)
        return self._values[task - self._lo]

    def delivery(self, attempt: int) -> Sequence[float]:
        """Seconds Celery takes to deliver ``attempt`` of every task to a worker, before it can
        run (``Draws.deliveries``), indexed by task."""
        try:
            return self._delivery[attempt]
        except KeyError:
            return self._delivery.setdefault(attempt, self.draws.deliveries(attempt).data)

    def crash_point(self, task: int, attempt: int) -> float | None:
        """``work(...).crash_at`` of the next execution of (task, attempt), which it counts."""
        key = (task, attempt)
        execution = self._executions.get(key, 0)
        self._executions[key] = execution + 1
        return self.draws.crash_point(task, attempt, execution)

    def ending(self, task: int, attempt: int, t: float, raised: bool = False) -> tuple[int, float]:
        """``ending(...)`` as a (state, countdown) pair; ``t`` is read only when ``timed``."""
        if raised:
            failed = True
        elif self._outages:
            failed = self.draws.fails(task, attempt, t)
        elif self._fails:
            failed = bool(self._failed(attempt)[task])
        else:
            return SUCCEEDED
        if not failed:
            return SUCCEEDED  # most executions: no call, no new tuple
        state = outcome(attempt, failed, self.max_retries(task))
        return state, self.draws.countdown(task, attempt) if state == RETRY else 0.0

    def max_retries(self, task: int) -> float:
        """``max_retries`` of the task's type (inf: for ever)."""
        return self._max_retries[self.type_of[task]]

    def lost_child_countdown(self, task: int) -> float:
        """Before the retry of ``task`` whose pool child died (``task_retry_on_worker_lost``)."""
        return lost_child_countdown(self.draws.task_type(task).retry)

    def release(self) -> None:
        """Let go of the draws and every per-task vector once the run is over: its workers and
        broker hold each other (and so this), so until the cycle collector runs they would
        outlive the run, beside the arrays its summary is built from."""
        self._service.clear()
        self._values = ()
        self._delivery.clear()
        self._failures.clear()
        self._executions.clear()
        self.type_of.release()
        self.draws = None  # type: ignore[assignment]

    def _failed(self, attempt: int) -> bytes:
        try:
            return self._failures[attempt]
        except KeyError:
            return self._failures.setdefault(attempt, self.draws.failures(attempt).tobytes())
