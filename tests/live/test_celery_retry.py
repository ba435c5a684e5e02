"""``Task.max_retries = None``, Celery's "retry for ever", measured on a real worker node
(tests/live/retry_app.py; Celery 5.7, late ack, ``task_reject_on_worker_lost`` and
``task_retry_on_worker_lost`` on). queuelab's ``retry.max_retries = inf`` relies on it: a task
retried more times than Celery's default bound of 3 ends in SUCCESS, whether its attempts raise
or kill their pool child; with the bound it ends in FAILURE. DESIGN.md records it."""

import uuid

import pytest
import redis

from tests.live.measuring import celery_node, measuring_app

pytestmark = pytest.mark.live

RAISES = 6  # failed attempts before one succeeds: twice Celery's default bound
DIES = 4  # dead pool children: each is noticed at the pool's next check, up to 5 s


@pytest.fixture(scope="module")
def app(redis_url):
    """The measuring app's module, bound to the session's Redis, for publishing."""
    with measuring_app("retry_app", "RETRY_REDIS_URL", redis_url) as module:
        yield module


def _run(redis_url: str, app, task: str, fails: int) -> tuple[str, object, list[int]]:
    """``task`` sent once to a node of its own: its state, its result (or error) and the retry
    number of every execution, in order."""
    queue = f"retry-{uuid.uuid4().hex[:8]}"
    key = f"{queue}:attempts"  # not the queue's own list, which kombu reads messages from
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        args = ["--concurrency", "1", "-Q", queue, "--hostname", f"{queue}@test"]
        with celery_node(redis_url, "retry_app", args, {"RETRY_REDIS_URL": redis_url}):
            result = app.app.send_task(f"retry.{task}", args=(key, fails), queue=queue)
            outcome = result.get(timeout=120, propagate=False)
        return result.state, outcome, [int(r) for r in client.lrange(key, 0, -1)]
    finally:
        client.delete(key, queue)
        client.close()


def test_max_retries_none_retries_a_raising_task_until_it_succeeds(redis_url, app, no_leftovers):
    """``self.retry(max_retries=None)`` on a task registered with ``max_retries=None``: no
    MaxRetriesExceededError, every failure retried, attempt k carrying ``retries = k``."""
    state, result, attempts = _run(redis_url, app, "forever", RAISES)
    assert (state, result, attempts) == ("SUCCESS", RAISES, list(range(RAISES + 1)))


def test_celerys_default_bound_fails_the_same_task_after_three_retries(
    redis_url, app, no_leftovers
):
    """The contrast: the same task with Celery's ``max_retries = 3`` ends in FAILURE, raising
    its own error, after four attempts."""
    state, result, attempts = _run(redis_url, app, "bounded", RAISES)
    assert state == "FAILURE" and type(result).__name__ == "Failed", (state, result)
    assert attempts == [0, 1, 2, 3]


@pytest.mark.slow  # ~5-20 s: each dead child is noticed at once or at the pool's next 5 s check
def test_max_retries_none_retries_a_lost_child_until_it_succeeds(redis_url, app, no_leftovers):
    """``task_retry_on_worker_lost`` reads the task's ``max_retries`` (celery/worker/request.py
    ``on_failure``): with None it is never exceeded, so each dead child's task is retried as a
    new attempt, never requeued as the same one by ``reject_on_worker_lost`` nor failed."""
    state, result, attempts = _run(redis_url, app, "dies", DIES)
    assert (state, result, attempts) == ("SUCCESS", DIES, list(range(DIES + 1)))
