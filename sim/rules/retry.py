"""The retry decision and its countdown, as Celery's ``Task.retry`` and autoretry make them.

A failed attempt is retried while fewer than ``max_retries`` retries have happened; the retry is
re-published with a countdown: ``countdown`` when backoff is off, else the exponential backoff
``min(backoff_max, backoff * 2**retries)``, drawn uniformly below that cap with full jitter
(celery/utils/time.py ``get_exponential_backoff_interval``, made continuous so it can be
time-scaled). A task whose pool child died is retried too when ``on_worker_lost`` is set
(``task_retry_on_worker_lost``), after ``countdown`` — Celery's ``default_retry_delay`` — whatever
the backoff. One definition for the simulator, the live mode, the invariants and the tests.
"""

from __future__ import annotations

from sim.rules.states import FAILURE, RETRY, SUCCESS
from sim.scenario import Failures, Retry


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


def lost_child_countdown(policy: Retry) -> float:
    """Countdown before the retry of a task whose pool child died: ``default_retry_delay``."""
    return policy.countdown


def retries_lost_child(policy: Retry, failures: Failures) -> bool:
    """Whether a pool child can die (a node's death raises nothing) and its task be retried."""
    return (
        policy.on_worker_lost and failures.crash_kind == "child" and failures.crash_probability > 0
    )


def may_retry(policy: Retry, failures: Failures) -> bool:
    """Whether any attempt can be retried: it can raise, or its pool child die and be retried."""
    return failures.probability > 0 or bool(failures.outage) or retries_lost_child(policy, failures)


def longest_countdown(policy: Retry) -> float:
    """The longest countdown any retry of ``policy`` can wait (a lost child's retry included)."""
    lost = lost_child_countdown(policy)
    if policy.backoff == 0:
        return lost
    cap = backoff_cap(max(policy.max_retries - 1, 0), policy.backoff, policy.backoff_max)
    return max(cap, lost) if policy.on_worker_lost else cap


def outcome(attempt: int, failed: bool, max_retries: int) -> int:
    """State an attempt ends in: SUCCESS, RETRY while retries remain, else FAILURE."""
    if not failed:
        return SUCCESS
    return RETRY if attempt < max_retries else FAILURE
