"""Timers: SimPy's ``Timeout`` for the model's hot path, without what a callback does not use.

A run waits a few times per task (an arrival, a delivery, an execution, a hand-over), each a
timer whose one callback reads one value. ``env.timeout(delay, value)`` builds a full ``Event``
(five attributes in an instance dict) through three calls, and ``Environment.step`` then walks
its list of callbacks. A timer is no object at all: an entry ``(time, NORMAL, id, callback,
value)`` pushed straight onto the environment's queue with SimPy's own event counter, exactly
as a ``Timeout`` is scheduled (whose entry is ``(time, NORMAL, id, event)``), so timers and
SimPy's events interleave in the same order as ``env.timeout`` would make them; ``run`` calls a
timer's callback with its value, and hands every SimPy event to ``Environment.step``. The hot
path reads the clock as ``clock(env).now``, which ``run`` keeps equal to SimPy's ``env._now``
(``env.now`` is a property call): a run reads it a few times a task.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, Final
from weakref import WeakKeyDictionary

import simpy
from simpy.events import NORMAL, URGENT

Callback = Callable[[Any], None]  # called with the timer's value
Schedule = Callable[[float, Any, Callback], None]
TIMER: Final = 5  # the length of a timer's entry on the queue; a SimPy event's is 4


class Clock:
    """SimPy's clock, ``env._now``, where the hot path reads it. A compiled module
    (``sim.compiled``) reads a field of a compiled class in a few instructions, and a Python
    object's attribute, ``env._now``, by a dict lookup: ~190 instructions, nine reads a task."""

    __slots__ = ("now",)

    def __init__(self, now: float) -> None:
        self.now = now


_clocks: WeakKeyDictionary[simpy.Environment, Clock] = WeakKeyDictionary()


def clock(env: simpy.Environment) -> Clock:
    """The clock of ``env``: one per environment, set by ``run`` as SimPy's moves."""
    if env not in _clocks:
        _clocks[env] = Clock(env._now)
    return _clocks[env]


def scheduler(env: simpy.Environment) -> Schedule:
    """``after(delay, value, callback)``: call ``callback(value)`` ``delay`` seconds from now,
    ordered as ``env.timeout(delay, value)`` made now would be. Only ``run`` fires timers."""
    queue: list[Any] = env._queue  # SimPy's events, and timers beside them
    # the closure's own: a compiled build reads them as fields, where globals are dict lookups
    eid, push, normal, now = env._eid, heappush, NORMAL, clock(env)

    def after(delay: float, value: Any, callback: Callback) -> None:
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        push(queue, (now.now + delay, normal, next(eid), callback, value))

    return after


class _Stop(Exception):
    """Raised by the timer ``run(env, until)`` sets to end the run there."""


def _stop(_value: None) -> None:
    raise _Stop


def run(env: simpy.Environment, until: float | None = None) -> None:
    """``env.run()`` for an environment with timers: until nothing is left to happen, or with
    ``until``, as ``env.run(until)`` does, until a stop made now for that time, before any
    event due then. A timer is taken from the queue here, its callback called; a SimPy event is
    left to ``Environment.step``, which takes it and does all it would under ``env.run()``.

    The loop is ``while True`` on purpose: CPython 3.11 specializes a function's bytecode once it
    has warmed up, counted at its calls and at a plain backward jump, and ``while queue:`` ends
    in a conditional jump that counts nothing: a loop called once never warms up and ran every
    instruction unspecialized (a run's other loops are short and their functions called often).
    """
    queue: list[Any] = env._queue
    step, pop, now = env.step, heappop, clock(env)
    if until is not None:
        if until <= env._now:
            raise ValueError(f"until ({until}) must be greater than the current time")
        heappush(queue, (until, URGENT, next(env._eid), _stop, None))
    try:
        while True:
            if not queue:
                return
            if len(queue[0]) == TIMER:
                at, _, _, callback, value = pop(queue)
                env._now = now.now = at
                callback(value)
            else:
                now.now = queue[0][0]  # the time ``step`` moves SimPy's clock to
                step()
    except _Stop:
        return
