"""The retry decision and its countdown, as Celery's ``Task.retry`` and autoretry make them.

A failed attempt is retried while fewer than ``max_retries`` retries have happened; the retry is
re-published with a countdown: ``countdown`` when backoff is off, else the exponential backoff
as autoretry computes it (celery/app/autoretry.py, celery/utils/time.py
``get_exponential_backoff_interval``): in whole seconds, ``min(int(backoff_max),
int(max(1, backoff)) * 2**retries)``, and with full jitter ``random.randrange(cap + 1)``, a whole
number from 0 to the cap inclusive. Those are scenario seconds; a live run scales the countdown
it passes to ``Task.retry``. A task whose pool child died is retried too when
``on_worker_lost`` is set (``task_retry_on_worker_lost``), after ``countdown`` — Celery's
``default_retry_delay`` — whatever the backoff. ``max_retries`` may be ``FOREVER`` (inf,
Celery's None): every failure is retried, and the comparisons below need no case of their own;
the simulator follows such a task through ``FOLLOWED`` retries, where a run's work must end. One
definition for the simulator, the live mode, the invariants and the tests.
"""

from __future__ import annotations

import math

from sim.rules.outage import certain_until
from sim.rules.states import FAILURE, RETRY, SUCCESS
from sim.scenario import Failures, Retry, Scenario
from sim.sections import TaskType

FOREVER = math.inf  # retry.max_retries = inf: Celery's Task.max_retries = None
# The most retries the simulator follows a task retried for ever through, the most a bound may
# be: each attempt number draws a vector over all tasks, and an attempt that always fails would
# otherwise never let the run end. Such a task's last row is its RETRY; it never ends.
FOLLOWED = 1000


def celery_max_retries(max_retries: float) -> int | None:
    """``max_retries`` as Celery's ``Task.max_retries`` takes it: None retries for ever."""
    return None if max_retries == FOREVER else int(max_retries)


def max_retries(policy: Retry) -> float:
    """``policy.max_retries``: a count, or ``FOREVER``. Its field is declared an int (what a
    file gives), and a compiled module (``sim.compiled``) checks that a value read as an int is
    one: it reads the bound through this call, as a float."""
    return policy.max_retries


def most_retries(max_retries: float) -> int:
    """The most retries one task makes in a simulated run: ``max_retries``, or ``FOLLOWED``
    when it is retried for ever."""
    return int(min(max_retries, FOLLOWED))


def followed(attempt: int) -> bool:
    """Whether the simulator runs ``attempt`` (0 = the first) of a task that was retried: every
    one a finite ``max_retries`` allows; one retried for ever is left retrying past
    ``FOLLOWED``."""
    return attempt <= FOLLOWED


def never_ends(kind: TaskType, until: float = math.inf) -> bool:
    """Whether no task of this type can end: it retries for ever and every attempt fails, from
    the run's start until ``until`` (by default for ever: failure probability 1 and no outage
    of a lower one), by ``failures.probability`` or outages of probability 1
    (``outage.certain_until``)."""
    failures = kind.failures
    return (
        kind.retry.max_retries == FOREVER
        and certain_until(failures.probability, failures.outage) >= until
    )


def least_retrying(policy: Retry) -> float:
    """The least seconds the countdowns of the ``FOLLOWED`` retries the simulator follows a
    task through add up to: each retry's ``countdown``, or under backoff its cap (0 with
    jitter, which may draw 0 every time)."""
    if policy.backoff == 0:
        return FOLLOWED * policy.countdown
    if policy.jitter:
        return 0.0
    return float(sum(backoff_cap(k, policy.backoff, policy.backoff_max) for k in range(FOLLOWED)))


def backoff_cap(retries: int, factor: float, maximum: float) -> int:
    """The largest delay exponential backoff allows after ``retries`` retries, in whole seconds:
    Celery truncates ``retry_backoff`` to an integer of at least 1 and ``retry_backoff_max`` to
    an integer."""
    return min(int(maximum), int(max(1.0, factor)) * 2**retries)


def backoff_delay(retries: int, factor: float, maximum: float, jitter: bool, u: float) -> int:
    """Exponential backoff; with full jitter a uniform draw ``u`` in [0, 1) picks one of the
    ``cap + 1`` whole seconds from 0 to the cap, as ``random.randrange(cap + 1)`` does."""
    cap = backoff_cap(retries, factor, maximum)
    return min(cap, math.floor(u * (cap + 1))) if jitter else cap


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


def type_may_retry(kind: TaskType) -> bool:
    """Whether a task of this type can be retried: ``may_retry`` by its own tables, or a soft
    time limit (SoftTimeLimitExceeded raised in the task, a failure as any other)."""
    policy, failures = kind.retry, kind.failures
    return policy.max_retries > 0 and (may_retry(policy, failures) or kind.soft_time_limit > 0)


def longest_retry_wait(scenario: Scenario) -> float:
    """The longest countdown a retry of any task type of ``scenario`` that can retry may wait
    (0: none can)."""
    return max(
        (longest_countdown(t.retry) for t in scenario.task_types if type_may_retry(t)),
        default=0.0,
    )


def longest_countdown(policy: Retry) -> float:
    """The longest countdown any retry of ``policy`` can wait (a lost child's retry included)."""
    lost = lost_child_countdown(policy)
    if policy.backoff == 0:
        return lost
    last = max(most_retries(policy.max_retries) - 1, 0)
    cap = backoff_cap(last, policy.backoff, policy.backoff_max)
    return max(cap, lost) if policy.on_worker_lost else cap


def outcome(attempt: int, failed: bool, max_retries: float) -> int:
    """State an attempt ends in: SUCCESS, RETRY while retries remain (always, ``FOREVER``),
    else FAILURE."""
    if not failed:
        return SUCCESS
    return RETRY if attempt < max_retries else FAILURE
