"""A Celery app whose tasks fail a given number of times, by raising or by killing their pool
child, then succeed: to measure ``max_retries = None`` (tests/live/test_celery_retry.py). Every
execution appends its ``request.retries`` to the Redis list named by its first argument."""

import os
import signal

import redis
from celery import Celery

URL = os.environ["RETRY_REDIS_URL"]
app = Celery("retry", broker=URL, backend=URL, set_as_current=False)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_retry_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_transport_options={"visibility_timeout": 3600},
    worker_hijack_root_logger=False,
)


class Failed(Exception):
    """A failed attempt, as a downstream API that is down would raise."""


def _attempt(task, key: str) -> int:
    """Stamp this execution's retry number on ``key``; return it."""
    retries = task.request.retries
    redis.Redis.from_url(URL).rpush(key, retries)
    return retries


@app.task(name="retry.forever", bind=True, max_retries=None, default_retry_delay=0)
def forever(self, key: str, fails: int) -> int:
    """Raises ``fails`` times, each retried through ``self.retry`` with ``max_retries=None``
    passed as queuelab's live task passes its bound, then succeeds."""
    retries = _attempt(self, key)
    if retries < fails:
        raise self.retry(countdown=0, max_retries=None, exc=Failed(retries))
    return retries


@app.task(name="retry.bounded", bind=True, default_retry_delay=0)
def bounded(self, key: str, fails: int) -> int:
    """``forever`` with Celery's own ``max_retries`` (3): the contrast."""
    retries = _attempt(self, key)
    if retries < fails:
        raise self.retry(countdown=0, max_retries=None, exc=Failed(retries))
    return retries


@app.task(name="retry.dies", bind=True, max_retries=None, default_retry_delay=0)
def dies(self, key: str, fails: int) -> int:
    """Kills its own pool child ``fails`` times (``WorkerLostError``, retried by
    ``task_retry_on_worker_lost``), then succeeds."""
    retries = _attempt(self, key)
    if retries < fails:
        os.kill(os.getpid(), signal.SIGKILL)
    return retries
