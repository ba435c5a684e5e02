"""The waits a live run takes at its time scale, and the largest time scale a scenario allows.

A live run turns scenario durations into wall seconds (``live.clock``); some of them become a
wait that Python, Celery or Redis bounds, and past the bound the run broke once it had started
(an OverflowError traceback, or a task failing where the scenario has it retry):

- a thread's wait or a sleep, at most ``threading.TIMEOUT_MAX`` (``time.sleep`` refuses the same
  range of int64 nanoseconds): the producer's wait for the next arrival (after the first
  ``--autoscale`` node's keepalive tick, where the run starts), the restart of a node a crash
  killed, the live task's sleep through its drawn work;
- Celery's ETA: ``apply_async(countdown=)`` adds the countdown to now as a ``datetime``
  (``celery.utils.time.add_seconds_to_datetime``), an OverflowError past ``datetime.max``, the
  end of the year 9999: a retry's countdown;
- Redis's EXPIRE of a stored result (``result_expires``), at most ``LLONG_MAX`` ms from now.

Not waits, so bound by none of these (Celery 5.7, kombu 5.7): the visibility timeout (kombu's
restore scan compares ``time() - visibility_timeout``), the time limits and the autoscaler's
keepalive inside Celery (entries of kombu's timer, whose hub polls at most 10 s at a time),
the drain (a deadline). So the bound is the scenario's own: mmc takes a time scale of millions,
where a bound from every field's most (1e9 s) held every scenario to 9.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from sim.engine.draws import Draws
from sim.rules import retry
from sim.scenario import Scenario

THREAD = "the longest a thread or a sleep can wait (threading.TIMEOUT_MAX)"
ETA = "the latest ETA Celery can write (a datetime, at most in the year 9999)"
EXPIRE = "the latest expire time Redis takes (2**63 - 1 ms)"


def limits() -> dict[str, float]:
    """Each bound in wall seconds from now."""
    latest = datetime.max.replace(tzinfo=UTC)
    return {
        THREAD: threading.TIMEOUT_MAX,
        ETA: (latest - datetime.now(UTC)).total_seconds(),
        EXPIRE: (2**63 - 1) / 1000 - time.time(),
    }


@dataclass(frozen=True)
class Wait:
    """A scenario time a live run waits out, scaled: what sets it and what bounds it."""

    what: str  # the field as a user sets it, or the drawn time and the field that draws it
    seconds: float  # scenario seconds
    bound: str  # THREAD, ETA or EXPIRE


def waits(sc: Scenario, draws: Draws) -> list[Wait]:
    """Every wait of a live run of ``sc`` with these draws, in scenario seconds: its drawn
    times by their first attempt's draws (a retry draws another service)."""
    found = [Wait("results.expires", sc.results.expires, EXPIRE)]
    if draws.n_tasks:
        gap = float(np.diff(draws.arrivals, prepend=0.0).max())
        found.append(Wait("the longest gap between arrivals", gap, THREAD))
    for j, kind in enumerate(sc.task_types):
        where = f"tasks.{kind.name}." if sc.tasks else ""
        longest = float(draws.services(0)[draws.type_of == j].max(initial=0.0))
        found.append(Wait(f"the longest time drawn from {where}service", longest, THREAD))
        if retry.type_may_retry(kind):
            countdown = retry.longest_countdown(kind.retry)
            lost = countdown == retry.lost_child_countdown(kind.retry)
            field = f"{where}retry.{'countdown' if lost else 'backoff_max'}"
            found.append(Wait(field, countdown, ETA))
    if any(t.failures.crash_probability and t.failures.crash_kind == "node" for t in sc.task_types):
        found.append(Wait("workers.restart_delay", sc.workers.restart_delay, THREAD))
    for pool in sc.worker_pools:
        if pool.workers.autoscale_max:
            field = sc.pool_field(pool.name, "autoscale_keepalive")
            found.append(Wait(field, pool.workers.autoscale_keepalive, THREAD))
    return [w for w in found if w.seconds > 0]


def largest_scale(sc: Scenario, draws: Draws) -> tuple[float, Wait] | None:
    """The largest time scale at which every wait of ``sc`` stays within its bound, and the
    wait that sets it; None where nothing is waited (no time > 0)."""
    bounds = limits()
    return min(
        ((bounds[w.bound] / w.seconds, w) for w in waits(sc, draws)),
        key=lambda pair: pair[0],
        default=None,
    )


def scale_error(sc: Scenario, draws: Draws, time_scale: float) -> str | None:
    """Why ``sc`` cannot run live at ``time_scale``: the wait past its bound, its value and the
    largest time scale this scenario takes; None where it can."""
    largest = largest_scale(sc, draws)
    if largest is None or time_scale <= largest[0]:
        return None
    most, wait = largest
    return (
        f"time scale {time_scale:g} makes {wait.what} = {wait.seconds:g} s a wait of "
        f"{wait.seconds * time_scale:.3g} wall seconds, past {wait.bound}, "
        f"{limits()[wait.bound]:.3g} s: this scenario runs live at a time scale of at most "
        f"{_down(most):g}"
    )


def _down(x: float) -> float:
    """``x`` to three significant figures, rounded down: a scale said is one that runs."""
    step = 10.0 ** (math.floor(math.log10(x)) - 2)
    return math.floor(x / step) * step
