"""Celery's time limits and rate limits as rules: when a limit ends an execution, when a
rate-limited request may start.

A soft time limit raises ``SoftTimeLimitExceeded`` inside the task, which here retries as on any
failure; a hard one kills the pool child, the task ends in FAILURE (``TimeLimitExceeded``, never
retried) and the child is replaced. The earlier limit wins; 0 is none. A rate limit is a token
bucket per worker node and task type, holding one token: the first request goes to the pool at
once, the next ones ``1 / rate`` apart, and requests waiting for a token stay reserved (un-acked,
counted against the prefetch limit). The token gates the hand-over to the pool, not the start:
requests handed over while every slot is busy start as slots free.
"""

from __future__ import annotations

RUNS, SOFT, HARD = range(3)  # how an execution's work ends: it runs out, or a limit stops it


def time_limited(service: float, soft: float, hard: float) -> tuple[float, int]:
    """Seconds an execution runs, and whether it ``RUNS`` out or a ``SOFT``/``HARD`` limit
    stops it."""
    cut, kind = service, RUNS
    if soft and soft < service:
        cut, kind = soft, SOFT
    if hard and hard < service and hard <= cut:
        cut, kind = hard, HARD
    return cut, kind


def dies_first(service: float, crash_at: float, cut: float) -> bool:
    """Whether an execution drawn to die ``crash_at`` (0–1) through its ``service`` seconds of
    work dies before ``cut`` (``time_limited``'s) ends it. A time limit that comes first, or at
    the same moment, ends it and the drawn death never happens: a soft one raises
    ``SoftTimeLimitExceeded`` in the task (its retry then waits the drawn countdown, not
    ``default_retry_delay``), a hard one kills the child as a FAILURE."""
    return service * crash_at < cut


def soft_limit_error(soft: float, hard: float, where: str) -> str | None:
    """Why a soft limit at or above the hard one is refused (None when it is not): it never
    fires. The model ends such an execution by the hard limit (``time_limited``: the earlier
    wins, the hard one at a tie). Celery refuses a soft limit above the hard one when the task is
    sent (``Task.apply_async``: a ValueError); at a tie its pool arms the hard timer when the
    soft one fires, ``hard - soft`` = 0 s later, so the child is killed as SoftTimeLimitExceeded
    is raised in it, before its failure path (its retry) can finish."""
    if not (soft and hard and soft >= hard):
        return None
    return (
        f"{where}soft_time_limit = {soft:g} must be < {where}time_limit = {hard:g}: at or above "
        "it the hard limit kills the pool child first and the soft one never fires (0 < "
        "soft_time_limit < time_limit, or 0 for no soft limit)"
    )
