"""A stand-in for a user's own Celery deployment, watched by `queuelab record` in the tests."""

import os
import time

import redis
from celery import Celery

URL = os.environ["DEPLOYMENT_REDIS_URL"]
app = Celery("deployment", broker=URL, backend=URL)
# two settings away from Celery's defaults, so a recording that reads them can be told from one
# that assumes them; reports routed to a queue of their own, as a deployment sizing it would
app.conf.update(
    task_default_queue="deployment",
    task_routes={"deployment.send_report": {"queue": "reports"}},
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=2,
    task_acks_late=True,
)


def done(task_id: str) -> None:
    """Say when a task ended, as the deployment itself saw it."""
    redis.Redis.from_url(URL).rpush("deployment:done", f"{task_id}|{time.time()}")


@app.task(name="deployment.resize_image")
def resize_image(seconds: float, fail: bool) -> None:
    time.sleep(seconds)
    done(resize_image.request.id)
    if fail:
        raise RuntimeError("corrupt image")


@app.task(bind=True, name="deployment.send_report", max_retries=1)
def send_report(self, seconds: float, fail: bool) -> None:
    """A failing report is retried once, 0.3 s later, and then goes through."""
    time.sleep(seconds)
    if fail and not self.request.retries:
        raise self.retry(countdown=0.3)
    done(self.request.id)


@app.task(name="deployment.call_api", rate_limit="5/s")
def call_api() -> None:
    """A downstream API that takes 5 calls a second: the worker holds the rest for a token."""
    time.sleep(0.01)
    done(call_api.request.id)


@app.task(name="deployment.export", soft_time_limit=0.3, time_limit=0.6)
def export(seconds: float) -> None:
    """An export cut short by its soft time limit when it runs past 0.3 s."""
    done(export.request.id)
    time.sleep(seconds)
