"""The producer: sends each task at its drawn arrival time, on the run's clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from celery import Celery

from live.celery_app import LiveConfig, task_name
from live.clock import Clock
from sim.scenario import TaskType


def produce(
    app: Celery,
    config: LiveConfig,
    clock: Clock,
    arrivals: list[float],
    types: list[TaskType],
    sent: list[tuple[int, float]],
    stop: threading.Event | None = None,
) -> None:
    """Send every task (task ``i`` of type ``types[i]``, at its priority; ``task_routes`` picks
    its queue), appending (task, wall time sent) to ``sent``: the trace's PENDING rows. Once
    ``stop`` is set, a send that failed is not retried (``_unless_stopped``)."""
    retry_policy = {"errback": _unless_stopped(stop)}
    with app.producer_or_acquire() as producer:
        for index, (at, kind) in enumerate(zip(arrivals, types, strict=True)):
            if clock.sleep_until(at, stop):
                break
            sent.append((index, time.time()))
            app.tasks[task_name(kind)].apply_async(
                args=[index],
                task_id=config.task_id(index),
                priority=kind.priority,
                producer=producer,
                retry_policy=retry_policy,
            )


def _unless_stopped(stop: threading.Event | None) -> Callable[[Exception, float], None]:
    """kombu's hook on each failed try of a send (``Connection.ensure``'s errback): once the run
    is stopped, the error ends the send. Each reconnection to a frozen Redis waits
    ``redis_server.TIMEOUT`` for an answer, and Ctrl-C waited out all of Celery's retries (a
    minute in all, against some 20 s)."""

    def errback(err: Exception, interval: float) -> None:
        if stop is not None and stop.is_set():
            raise err

    return errback
