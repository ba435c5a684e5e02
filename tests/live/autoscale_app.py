"""A Celery app to measure ``celery worker --autoscale`` on a real node
(tests/live/test_celery_autoscale.py). Every execution stamps ``label|pid|start|end`` on the Redis
list ``autoscale:runs``, so a test sees which pool process ran what and when; the prefetch
multiplier and the ack mode come from the environment (tests/live/test_celery_costs.py uses it
on a fixed pool too)."""

import os
import time

import redis
from celery import Celery

URL = os.environ["AUTOSCALE_REDIS_URL"]
RUNS = "autoscale:runs"

app = Celery("autoscale", broker=URL, backend=URL, set_as_current=False)
app.conf.update(
    task_acks_late=os.environ.get("AUTOSCALE_ACKS_LATE", "1") == "1",
    worker_prefetch_multiplier=int(os.environ.get("AUTOSCALE_MULTIPLIER", "1")),
    broker_transport_options={"visibility_timeout": 3600},
    worker_hijack_root_logger=False,
)


@app.task(name="autoscale.sleep")
def sleep(label: str, seconds: float) -> None:
    start = time.time()
    time.sleep(seconds)
    stamp = f"{label}|{os.getpid()}|{start:.6f}|{time.time():.6f}"
    redis.Redis.from_url(URL).rpush(RUNS, stamp)
