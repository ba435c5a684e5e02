"""Timers: SimPy's ``Timeout`` for the model's hot path, without what a callback does not use.

A run waits a few times per task (an arrival, a delivery, an execution, a hand-over), each a
timer whose one callback reads one value. ``env.timeout(delay, value)`` builds a full ``Event``
(five attributes in an instance dict) through three calls; a ``Timer`` is two slots, pushed
straight onto the environment's queue with its own event counter, exactly as ``Timeout`` is
scheduled, so timers and SimPy's own events interleave in the same order as before.
``Environment.step`` reads only a timer's ``callbacks`` and ``_ok``. The hot path reads the
clock as ``env._now`` too, where ``env.now`` is a property call: a run reads it a few times a task.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any

import simpy
from simpy.events import NORMAL


class Timer:
    """A timeout with one callback, called with the timer; ``value`` is what it carries."""

    __slots__ = ("callbacks", "value")
    _ok = True  # it never fails: ``Environment.step`` reads this
    callbacks: Calls | None  # ``Environment.step`` sets it to None as it calls them
    value: Any


Calls = tuple[Callable[[Timer], None]]  # ``(callback,)``: what ``Environment.step`` iterates
Schedule = Callable[[float, Any, Calls], None]


def scheduler(env: simpy.Environment) -> Schedule:
    """``after(delay, value, calls)``: call the one callback of ``calls``, ``(callback,)``, with
    a timer carrying ``value`` ``delay`` seconds from now, ordered as ``env.timeout(delay,
    value)`` made now would be. A part makes the tuple of each callback it waits on often once:
    a bound method and a list made for every timer were a quarter of scheduling it."""
    queue: list[Any] = env._queue  # SimPy's events, and timers beside them
    eid = env._eid

    def after(delay: float, value: Any, calls: Calls) -> None:
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        timer = Timer()  # no __init__: its two slots set here, one call fewer
        timer.value, timer.callbacks = value, calls
        heappush(queue, (env._now + delay, NORMAL, next(eid), timer))

    return after
