"""A Celery app whose task kills its own worker node, to measure what Redis does with the node's
pending BRPOP (tests/live/test_celery_semantics.py)."""

import os
import signal
import time

import redis
from celery import Celery

URL = os.environ["KILLER_REDIS_URL"]
QUEUE = os.environ["KILLER_QUEUE"]
app = Celery("killer", broker=URL, set_as_current=False)
app.conf.update(
    task_default_queue=QUEUE,
    task_acks_late=True,
    worker_prefetch_multiplier=int(os.environ.get("KILLER_MULTIPLIER", "2")),
    broker_transport_options={"visibility_timeout": 3600},
    worker_hijack_root_logger=False,
)


@app.task(name="killer.die")
def die() -> None:
    """Stamp the time, then SIGKILL the whole node (main process and pool), as the OOM killer
    or ``kill -9`` of a container would."""
    redis.Redis.from_url(URL).rpush(f"{QUEUE}:killed", f"{time.time():.6f}")
    os.killpg(os.getpgid(0), signal.SIGKILL)


@app.task(name="killer.ok")
def ok() -> None:
    """The message published right after the kill."""
