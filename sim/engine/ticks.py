"""How often a run's periodic timers may fire: ``--autoscale``'s keepalive timer and a node
autoscaler's polls.

Both fire every period while their pool holds work, so a run costs its span ÷ the period in
ticks whatever its task count: a keepalive of 1e-12 s, or tasks of 1e7 s under the default 30 s,
ticked for hours with nothing to show. As the broker bounds redeliveries (``RunawayError``), a
pool's timer may fire ``PER_TASK`` times a task submitted plus ``BASE``; past that the run stops
with an error naming the period's field. The shipped scenarios fire at most one tick in 30 tasks
(2026-11-30).
"""

from __future__ import annotations

from sim.engine.broker import RunawayError

PER_TASK = 100  # ticks a task submitted
BASE = 10_000  # ticks any run may fire


class Ticks:
    """The ticks one pool's timer may still fire in this run."""

    __slots__ = ("left", "limit", "field", "period", "what")

    def __init__(self, n_tasks: int, field: str, period: float, what: str) -> None:
        self.limit = PER_TASK * n_tasks + BASE
        self.left = self.limit
        self.field, self.period, self.what = field, period, what

    def spend(self) -> None:
        """One more tick; a ``RunawayError`` naming the period's field once none is left."""
        self.left -= 1
        if self.left < 0:
            raise RunawayError(
                f"{self.what} fired more than {self.limit:,} times, every {self.field} = "
                f"{self.period:g}s while the pool held work: the run spans more than "
                f"{self.limit:,} of them ({PER_TASK} a task). Raise {self.field} (Celery's "
                "and KEDA's default is 30 s), or shorten what holds the pool busy that long "
                "(service times, workers.process_start)"
            )
