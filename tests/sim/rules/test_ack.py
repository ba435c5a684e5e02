"""Celery's decision when a pool child dies, as a table."""

import math

import pytest

from sim.rules import ack


@pytest.mark.parametrize(
    ("late", "reject", "retry", "attempt", "expected"),
    [
        (False, False, False, 0, ack.FAIL),  # early ack: already acked, FAILURE
        (True, False, False, 0, ack.FAIL),  # late ack alone does not save it
        (True, True, False, 0, ack.REQUEUE),  # reject_on_worker_lost requeues
        (False, True, False, 0, ack.FAIL),  # ... only under late ack
        (False, False, True, 0, ack.RETRY_LOST),  # retry_on_worker_lost retries
        (True, True, True, 3, ack.FAIL),  # retries exhausted: FAILURE, not a requeue loop
        (True, True, False, 3, ack.REQUEUE),  # without retry_on_worker_lost max_retries is moot
    ],
)
def test_on_worker_lost(late, reject, retry, attempt, expected):
    assert ack.on_worker_lost(late, reject, retry, attempt, max_retries=3) == expected


@pytest.mark.parametrize(("late", "reject"), [(False, False), (True, True)])
def test_a_lost_child_retried_for_ever_is_never_failed_nor_requeued(late, reject):
    """``max_retries = inf``: Celery's None is never exceeded (celery/worker/request.py
    ``on_failure``), so ``retry_on_worker_lost`` retries the task however often its child died
    (measured: tests/live/test_celery_retry.py)."""
    for attempt in (0, 3, 1000, 10**6):
        verdict = ack.on_worker_lost(late, reject, True, attempt, max_retries=math.inf)
        assert verdict == ack.RETRY_LOST


def test_prefetch_counts_running_tasks_only_under_late_ack():
    assert ack.prefetch_limit(4, 2) == 8 and ack.prefetch_limit(0, 2) is None
    assert ack.counted_unacked(reserved=1, running=2, acks_late=False) == 1
    assert ack.counted_unacked(reserved=1, running=2, acks_late=True) == 3


@pytest.mark.parametrize("late", [False, True])
@pytest.mark.parametrize("reject", [False, True])
@pytest.mark.parametrize("retry", [False, True])
def test_a_lost_child_is_requeued_at_once_only_when_celery_requeues_it(late, reject, retry):
    """The rule the invariants use for an immediate redelivery agrees with the verdict, at every
    attempt: with retry_on_worker_lost the task is retried or, retries exhausted, failed."""
    verdicts = {ack.on_worker_lost(late, reject, retry, attempt, 3) for attempt in range(5)}
    requeued = ack.REQUEUE in verdicts
    assert ack.requeues_lost_child(late, reject, retry) == requeued
    assert requeued == (late and reject and not retry)
