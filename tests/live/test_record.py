"""`queuelab record` on a separate Celery app with events on: the recorded scenario replays it."""

import contextlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import redis

from sim import scenario
from sim.analysis.metrics import sojourns, summarize
from sim.engine.model import simulate

pytestmark = pytest.mark.live

QUEUELAB = [sys.executable, "-m", "queuelab.cli"]
TASKS, RATE = 60, 6.0
DEPLOYMENT_WORKER = ["-A", "tests.live.deployment_app", "worker", "-E", "-c", "2"]
DEPLOYMENT_WORKER += ["-n", "deploy@test", "--without-gossip", "--without-mingle", "-l", "WARNING"]


@contextlib.contextmanager
def deployment(redis_url):
    """The user's own deployment: one Celery worker with events on (-E), as Flower needs."""
    env = {**os.environ, "DEPLOYMENT_REDIS_URL": redis_url}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", *DEPLOYMENT_WORKER],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@contextlib.contextmanager
def recording(redis_url, out, seconds=25):
    """`queuelab record --json` listening to it for ``seconds``; yields the process."""
    recorder = subprocess.Popen(
        [*QUEUELAB, "record", "--redis-url", redis_url, "--duration", str(seconds)]
        + ["--out", str(out), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield recorder
    finally:
        if recorder.poll() is None:
            recorder.kill()


def send_work(client, redis_url):
    """Send TASKS resize jobs at RATE a second, 15 % failing, and wait until they are done.

    Returns the drawn failures and each task's send time by id."""
    os.environ["DEPLOYMENT_REDIS_URL"] = redis_url
    from tests.live.deployment_app import resize_image

    rng = np.random.default_rng(5)
    seconds = rng.uniform(0.05, 0.3, TASKS)
    fails = rng.random(TASKS) < 0.15
    sent = {}
    start = time.time()
    for i in range(TASKS):
        time.sleep(max(0.0, start + i / RATE - time.time()))
        sent[resize_image.apply_async((float(seconds[i]), bool(fails[i]))).id] = time.time()
    deadline = time.time() + 30
    while client.llen("deployment:done") < TASKS and time.time() < deadline:
        time.sleep(0.1)
    return fails, sent


def observed_sojourns(client, sent) -> list[float]:
    """Each task's time from send to done, as the deployment saw it."""
    rows = (row.decode().split("|") for row in client.lrange("deployment:done", 0, -1))
    return [float(t) - sent[i] for i, t in rows]


def test_record_a_deployment_and_replay_it(redis_url, tmp_path, no_leftovers):
    client = redis.Redis.from_url(redis_url)
    client.delete("deployment:done", "untouched")
    client.rpush("untouched", *[f"m{i}" for i in range(5)])  # a queue nobody consumes
    out = tmp_path / "recorded.toml"
    with deployment(redis_url), recording(redis_url, out) as recorder:
        time.sleep(6)  # worker and recorder up
        fails, sent = send_work(client, redis_url)
        stdout, stderr = recorder.communicate(timeout=60)
    assert recorder.returncode == 0, stderr
    assert json.loads(stdout)["tasks"] == TASKS
    observed = observed_sojourns(client, sent)

    sc = scenario.load(out)
    assert sc.run.tasks == TASKS and sc.workers.count == 1 and sc.workers.concurrency == 2
    assert sc.failures.probability == pytest.approx(fails.mean(), abs=0.02)
    assert sc.retry.max_retries == 0  # the deployment did not retry
    trace = simulate(sc)
    s = summarize(trace, sc.workers.slots)
    assert s.tasks_submitted == TASKS
    # failures are drawn afresh at the recorded rate: within 3 binomial standard deviations
    sigma = np.sqrt(TASKS * sc.failures.probability * (1 - sc.failures.probability))
    assert abs(s.tasks_failed - fails.sum()) <= 3 * sigma
    # p50 sojourn: the recorded scenario replays the deployment within 25 %
    assert float(np.median(sojourns(trace))) == pytest.approx(np.median(observed), rel=0.25)
    assert client.llen("untouched") == 5  # recording read events only
