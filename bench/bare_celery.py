"""A bare Celery app with one no-op task, the baseline of ``bench/live_overhead.py``.

The task's only extra is one Redis INCR, so the benchmark can tell when all have run.
"""

import os

import redis
from celery import Celery

URL = os.environ.get("BARE_REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("bare", broker=URL, backend=URL)
app.conf.update(task_default_queue="bare", worker_hijack_root_logger=False)
_client = {}


@app.task(name="bare.noop")
def noop() -> None:
    pid = os.getpid()
    if pid not in _client:
        _client[pid] = redis.Redis.from_url(URL)
    _client[pid].incr("bare:done")
