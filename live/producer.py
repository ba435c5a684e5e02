"""The producer: sends each task at its scenario arrival time × time scale, as drawn."""

from __future__ import annotations

import threading
import time

from celery import Celery

from live.celery_app import TASK_NAME, LiveConfig


def produce(
    app: Celery,
    config: LiveConfig,
    arrivals: list[float],
    t0: float,
    stop: threading.Event | None = None,
) -> list[tuple[int, float]]:
    """Send every task; return (task, wall time sent) pairs: the PENDING rows of the trace."""
    task = app.tasks[TASK_NAME]
    sent = []
    with app.producer_or_acquire() as producer:
        for index, at in enumerate(arrivals):
            delay = t0 + at * config.time_scale - time.time()
            if delay > 0 and (stop.wait(delay) if stop else time.sleep(delay)):
                break
            sent.append((index, time.time()))
            task.apply_async(args=[index], task_id=config.task_id(index), producer=producer)
    return sent
