"""The retry decision and its countdown, as Celery's ``Task.retry`` and autoretry make them.

A failed attempt is retried while fewer than ``max_retries`` retries have happened; the retry is
re-published with a countdown: ``countdown`` when backoff is off, else the exponential backoff
``min(backoff_max, backoff * 2**retries)``, drawn uniformly below that cap with full jitter
(celery/utils/time.py ``get_exponential_backoff_interval``, made continuous so it can be
time-scaled). One definition for the simulator, the live mode and the tests.
"""

from __future__ import annotations

from sim.scenario import Retry
from sim.states import FAILURE, RETRY, SUCCESS


def backoff_cap(retries: int, factor: float, maximum: float) -> float:
    """The largest delay exponential backoff allows before the ``retries``-th retry."""
    return min(maximum, factor * 2.0 ** min(retries, 1023))


def backoff_delay(retries: int, factor: float, maximum: float, jitter: bool, u: float) -> float:
    """Exponential backoff; with full jitter a uniform draw ``u`` in [0, 1) scales the cap."""
    cap = backoff_cap(retries, factor, maximum)
    return u * cap if jitter else cap


def retry_delay(policy: Retry, retries: int, u: float) -> float:
    """Countdown before retry number ``retries + 1``; ``u`` is this attempt's jitter draw."""
    if policy.backoff > 0:
        return backoff_delay(retries, policy.backoff, policy.backoff_max, policy.jitter, u)
    return policy.countdown


def longest_countdown(policy: Retry) -> float:
    """The longest countdown any retry of ``policy`` can wait (a retry after a lost pool child
    waits ``countdown``, Celery's ``default_retry_delay``, even when backoff is on)."""
    if policy.backoff == 0:
        return policy.countdown
    cap = backoff_cap(max(policy.max_retries - 1, 0), policy.backoff, policy.backoff_max)
    return max(cap, policy.countdown) if policy.on_worker_lost else cap


def outcome(attempt: int, failed: bool, max_retries: int) -> int:
    """State an attempt ends in: SUCCESS, RETRY while retries remain, else FAILURE."""
    if not failed:
        return SUCCESS
    return RETRY if attempt < max_retries else FAILURE
