"""Acknowledgement and prefetch: which messages a worker may hold and which a crash loses.

Redis keeps every delivered, un-acked message in its ``unacked`` hash and puts it back on the
queue ``visibility_timeout`` seconds after delivery. Early ack (Celery's default) acks just before
a task runs; late ack after it ends. The prefetch limit counts un-acked messages only, so under
early ack a running task no longer counts; an ETA message does not while it waits for its ETA
(``increment_eventually``), and does again once due (``decrement_eventually``), until acked.
"""

from __future__ import annotations


def prefetch_limit(multiplier: int, concurrency: int) -> int | None:
    """Most un-acked messages a worker reserves; None when the multiplier is 0 (no limit)."""
    return multiplier * concurrency if multiplier else None


def counted_unacked(reserved: int, running: int, acks_late: bool) -> int:
    """Messages that count against the prefetch limit: running ones only under late ack."""
    return reserved + (running if acks_late else 0)


def acked_before_run(acks_late: bool) -> bool:
    """Whether the message is acked as the task starts, so a crash mid-run loses it."""
    return not acks_late


RETRY_LOST, REQUEUE, FAIL = "retry", "requeue", "fail"


def requeues_lost_child(
    acks_late: bool, reject_on_worker_lost: bool, retry_on_worker_lost: bool
) -> bool:
    """Whether the task of a dead pool child goes back on the queue at once, to be delivered
    again without waiting out the visibility timeout: under late ack with
    ``reject_on_worker_lost``, unless ``retry_on_worker_lost`` retries it instead (or, its retries
    exhausted, fails it)."""
    return acks_late and reject_on_worker_lost and not retry_on_worker_lost


def on_worker_lost(
    acks_late: bool,
    reject_on_worker_lost: bool,
    retry_on_worker_lost: bool,
    attempt: int,
    max_retries: float,
) -> str:
    """What Celery does when the pool child running a task dies (``WorkerLostError``;
    celery/worker/request.py ``on_failure``): retry it while retries remain if
    ``retry_on_worker_lost`` (always, when ``max_retries`` is inf: Celery's None); else under
    late ack requeue it if ``reject_on_worker_lost``; else FAILURE, with the message acked even
    under late ack."""
    if retry_on_worker_lost and attempt < max_retries:
        return RETRY_LOST
    if requeues_lost_child(acks_late, reject_on_worker_lost, retry_on_worker_lost):
        return REQUEUE
    return FAIL
