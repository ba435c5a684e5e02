"""A stand-in for a user's own Celery deployment, watched by `queuelab record` in the tests."""

import os
import time

import redis
from celery import Celery

URL = os.environ["DEPLOYMENT_REDIS_URL"]
app = Celery("deployment", broker=URL, backend=URL)
# two settings away from Celery's defaults, so a recording that reads them can be told from one
# that assumes them
app.conf.update(
    task_default_queue="deployment",
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=2,
    task_acks_late=True,
)


@app.task(name="deployment.resize_image")
def resize_image(seconds: float, fail: bool) -> None:
    time.sleep(seconds)
    redis.Redis.from_url(URL).rpush("deployment:done", f"{resize_image.request.id}|{time.time()}")
    if fail:
        raise RuntimeError("corrupt image")
