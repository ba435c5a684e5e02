"""The producer: sends each task at its drawn arrival time, on the run's clock."""

from __future__ import annotations

import threading
import time

from celery import Celery

from live.celery_app import TASK_NAME, LiveConfig
from live.clock import Clock


def produce(
    app: Celery,
    config: LiveConfig,
    clock: Clock,
    arrivals: list[float],
    sent: list[tuple[int, float]],
    stop: threading.Event | None = None,
) -> None:
    """Send every task, appending (task, wall time sent) to ``sent``: the trace's PENDING rows."""
    task = app.tasks[TASK_NAME]
    with app.producer_or_acquire() as producer:
        for index, at in enumerate(arrivals):
            if clock.sleep_until(at, stop):
                break
            sent.append((index, time.time()))
            task.apply_async(args=[index], task_id=config.task_id(index), producer=producer)
