"""A stand-in for a user's own Celery deployment, watched by `queuelab record` in the tests."""

import os
import time

import redis
from celery import Celery

URL = os.environ["DEPLOYMENT_REDIS_URL"]
app = Celery("deployment", broker=URL, backend=URL)
app.conf.update(task_default_queue="deployment", worker_hijack_root_logger=False)


@app.task(name="deployment.resize_image")
def resize_image(seconds: float, fail: bool) -> None:
    time.sleep(seconds)
    redis.Redis.from_url(URL).rpush("deployment:done", f"{resize_image.request.id}|{time.time()}")
    if fail:
        raise RuntimeError("corrupt image")
