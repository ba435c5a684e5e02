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
    sent: list[tuple[int, float]],
    stop: threading.Event | None = None,
) -> None:
    """Send every task, appending (task, wall time sent) to ``sent``: the trace's PENDING rows."""
    task = app.tasks[TASK_NAME]
    with app.producer_or_acquire() as producer:
        for index, at in enumerate(arrivals):
            delay = t0 + at * config.time_scale - time.time()
            if delay > 0 and (stop.wait(delay) if stop else time.sleep(delay)):
                break
            sent.append((index, time.time()))
            task.apply_async(args=[index], task_id=config.task_id(index), producer=producer)
