"""The producer: sends each task at its drawn arrival time, on the run's clock."""

from __future__ import annotations

import threading
import time

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
    its queue), appending (task, wall time sent) to ``sent``: the trace's PENDING rows."""
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
            )
