"""Celery's ``--autoscale MAX,MIN``: how many pool processes a node runs, as pure rules.

Read in celery 5.7's ``celery/worker/autoscale.py`` (``Autoscaler``), ``components.py`` (the
``Pool`` and ``Consumer`` bootsteps), ``strategy.py`` and billiard's ``Pool.shrink``; the
simulator, the live mode and the tests share these functions. ``maybe_scale`` runs on every
task message the node receives (without an ETA or a rate limit) and every ``keepalive`` seconds:
it grows the pool at once to ``min(qty, max)`` when the node's reserved requests outnumber its
processes, and shrinks it to ``max(qty, min)`` only once ``keepalive`` seconds have passed since
its last scale-up or received task, never by a busy process.
"""

from __future__ import annotations

AUTOSCALE_KEEPALIVE = 30.0  # seconds; celery.worker.autoscale.AUTOSCALE_KEEPALIVE


def initial_processes(concurrency: int, autoscale_max: int, autoscale_min: int) -> int:
    """The pool a node starts with: ``min`` under autoscale (``Pool.create`` builds it with
    ``w.min_concurrency``, components.py:144 and 155), else its concurrency."""
    return autoscale_min if autoscale_max else concurrency


def prefetch_concurrency(concurrency: int, autoscale_max: int) -> int:
    """What the prefetch limit is multiplied from: ``max(max, 1)`` under autoscale, whatever the
    pool's size (``Consumer.create``, components.py:227-228; the autoscaler's grow and shrink
    never update it), else the concurrency."""
    return max(autoscale_max, 1) if autoscale_max else concurrency


def last_active(last_scale_up: float | None, last_received: float | None) -> float | None:
    """The later of the last scale-up and the last task received (``scale_down``,
    autoscale.py:129-133); None while neither happened."""
    if last_received is not None and (last_scale_up is None or last_received > last_scale_up):
        return last_received
    return last_scale_up


def scaled(
    qty: int,
    processes: int,
    busy: int,
    now: float,
    last_active_at: float | None,
    autoscale: tuple[int, int, float],
    previous_tick: float | None = None,
) -> int:
    """The pool's processes after one ``maybe_scale`` at ``now``.

    ``qty`` is the node's reserved requests (``len(state.reserved_requests)``: prefetched and
    running, not ETA messages nor requests waiting for a rate-limit token), ``busy`` the processes
    running a task, ``autoscale`` (max, min, keepalive). Up (autoscale.py:93-96): to
    ``min(qty, max)`` when that is more. Down (97-100, 128-136): to ``max(qty, min)`` when that
    is fewer and more than ``keepalive`` seconds passed since ``last_active_at``; billiard's
    ``Pool.shrink`` stops only idle processes, and when too few are idle it stops those and
    raises, which the autoscaler logs and ignores: the pool keeps its busy processes.

    ``previous_tick``, on a timer tick, is the time of the timer's tick before it: kombu re-arms
    the timer keepalive seconds after a tick's own work ends (``Timer.call_repeatedly``), so
    whatever happened at or before that tick (a scale-up the tick made) is more than keepalive
    old now, though the ticks are keepalive apart on the model's clock.
    """
    most, least, keepalive = autoscale
    grown = min(qty, most)
    if grown > processes:
        return grown
    shrunk = max(qty, least)
    if (
        shrunk < processes
        and last_active_at is not None
        and (
            now - last_active_at > keepalive
            or (previous_tick is not None and last_active_at <= previous_tick)
        )
    ):
        return max(shrunk, busy)
    return processes
