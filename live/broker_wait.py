"""The wait in Redis that task events cannot show, estimated from the queues' lengths.

Without ``task-sent`` events an arrival is a worker's reservation (``task-received``): a message
that waited in the Redis list beyond the prefetch window waited unseen. The list holds exactly
those messages (kombu moves a reserved one out of it, into ``unacked``), so by Little's law their
mean wait is the list's mean length divided by the arrival rate. The sampler reads ``LLEN`` only:
it never takes, adds or deletes a message. The queue names come from ``inspect active_queues``.
"""

from __future__ import annotations

import threading
import time

import redis
from celery import Celery
from kombu.exceptions import OperationalError
from kombu.transport.redis import PRIORITY_STEPS, Channel

from live.redis_server import client
from live.worker_settings import INSPECT_TIMEOUT

SAMPLE_EVERY = 0.2  # seconds between LLEN samples
ASK_EVERY = 2.0  # seconds between asks for the queue names, until a node answers


class QueueSampler:
    """Samples the total length of the deployment's queues until ``stop``; runs in a thread."""

    def __init__(self, app: Celery, redis_url: str) -> None:
        self.app, self.client = app, client(redis_url)
        self.queues: list[str] = []
        self.samples: list[tuple[float, int]] = []  # (wall time, messages waiting)

    def find_queues(self) -> None:
        """Ask the nodes which queues they consume; they may not be up yet."""
        try:
            self.queues = queue_names(self.app)
        except (OSError, OperationalError, redis.RedisError):
            self.queues = []

    def run(self, stop: threading.Event) -> None:
        """Sample until ``stop``, asking again for the queues while no node has named them."""
        asked = time.monotonic()
        while not stop.wait(SAMPLE_EVERY):
            if not self.queues and time.monotonic() - asked > ASK_EVERY:
                asked = time.monotonic()
                self.find_queues()
            try:
                waiting = sum(self.client.llen(key) for key in self.queues)
            except redis.RedisError:
                return  # the broker went away: the samples so far stand
            if self.queues:
                self.samples.append((time.time(), waiting))

    def estimate(self, start: float, end: float, rate: float) -> str:
        """What the samples taken while tasks arrived (``start`` to ``end``, wall times, at
        ``rate`` a second) say of their unseen wait, in words."""
        lengths = [n for t, n in self.samples if start <= t <= end]
        if not lengths:
            return "no queue length was sampled (no node answered `inspect active_queues`)"
        wait = sum(lengths) / len(lengths) / rate
        return (
            f"{len(lengths)} LLEN samples of {', '.join(self.queues[:: len(PRIORITY_STEPS)])} "
            f"put that wait at {wait:.3g} s a task on average (Little's law: mean length "
            f"{sum(lengths) / len(lengths):.3g} ÷ {rate:.3g} tasks/s)"
        )


def queue_names(app: Celery) -> list[str]:
    """The Redis lists of the queues the nodes consume, every priority step included."""
    replies = app.control.inspect(timeout=INSPECT_TIMEOUT).active_queues() or {}
    names = sorted({q["name"] for queues in replies.values() for q in queues})
    return [
        name + (f"{Channel.sep}{step}" if step else "")  # kombu's list per priority step
        for name in names
        for step in PRIORITY_STEPS
    ]
