"""A Celery app to measure queue order, priorities, rate limits and time limits on a real worker
(tests/live/test_celery_routing.py). Every execution stamps ``label|start|end`` (end empty when
the task never got to its end) on the Redis list ``routing:runs``; the worker's prefetch
multiplier and queue order come from the environment, so one module serves every measurement."""

import os
import time

import redis
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

URL = os.environ["ROUTING_REDIS_URL"]
RUNS = "routing:runs"
RATE_LIMIT = "5/s"
SOFT_TIME_LIMIT = 0.3
TIME_LIMIT = 0.5

app = Celery("routing", broker=URL, backend=URL, set_as_current=False)
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=int(os.environ.get("ROUTING_MULTIPLIER", "1")),
    broker_transport_options={
        "visibility_timeout": 3600,
        "queue_order_strategy": os.environ.get("ROUTING_ORDER", "round_robin"),
    },
    worker_hijack_root_logger=False,
)


def _stamp(label: str, start: float, end: float | None) -> None:
    """Append one execution's stamps to ``routing:runs``."""
    stamp = f"{label}|{start:.6f}|{'' if end is None else f'{end:.6f}'}"
    redis.Redis.from_url(URL).rpush(RUNS, stamp)


@app.task(name="routing.sleep")
def sleep(label: str, seconds: float) -> None:
    start = time.time()
    time.sleep(seconds)
    _stamp(label, start, time.time())


@app.task(name="routing.limited", rate_limit=RATE_LIMIT)
def limited(label: str) -> None:
    """A rate-limited task type: the node's token bucket decides when it starts; the label
    gains the node's name, since the bucket is the node's."""
    now = time.time()
    _stamp(f"{label}@{limited.request.hostname}", now, now)


@app.task(name="routing.hard", time_limit=TIME_LIMIT)
def hard(label: str, seconds: float) -> None:
    """Stamps its start first: the pool kills it at the hard limit, before any end."""
    _stamp(label, time.time(), None)
    time.sleep(seconds)


@app.task(name="routing.soft", bind=True, soft_time_limit=SOFT_TIME_LIMIT, max_retries=1)
def soft(self, label: str, seconds: float) -> None:
    """Catches the soft limit, stamps when it was raised, and retries at once without the sleep."""
    start = time.time()
    try:
        time.sleep(seconds)
    except SoftTimeLimitExceeded:
        _stamp(f"{label}:soft{self.request.retries}", start, time.time())
        raise self.retry(args=(label, 0.0), countdown=0) from None
    _stamp(f"{label}:done{self.request.retries}", start, time.time())
