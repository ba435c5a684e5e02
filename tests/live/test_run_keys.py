"""A run leaves nothing of its own in the user's Redis: deleted when it ends, expiring when it
is killed (``live.run_keys``)."""

import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from live.redis_server import private_redis
from live.run import run_live
from live.run_keys import KEEP
from tests.conftest import descendants, leftovers
from tests.sim.helpers import make

pytestmark = pytest.mark.live

QUEUELAB = [sys.executable, "-m", "queuelab.cli"]
# kombu's own, shared by every app's remote control on that Redis (its bindings expire there)
KOMBUS = {"_kombu.binding_deadlines", "_kombu.binding.celery.pidbox"}


def test_an_ended_run_leaves_only_its_expiring_results(no_leftovers):
    """Kombu's binding tables of the run's queues (``_kombu.binding.queuelab-<run>-celery``)
    stayed after every run, and piled up on a shared Redis. A Redis of its own: on the
    session's, another test's processes write keys of their own meanwhile."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        run_live(make(**{"run.tasks": 10, "workers.count": 1}), url, time_scale=0.02)
        left = {key.decode() for key in client.keys("*")} - KOMBUS
        assert all(key.startswith("celery-task-meta-") for key in left), left
        assert all(client.ttl(key) > 0 for key in left)  # result_expires


def test_a_killed_runs_keys_expire(no_leftovers):
    """SIGKILL: the run cannot delete its keys, which stayed for good (its events, one counter
    per execution, its queue, its bindings); each now expires within ``KEEP`` seconds, those
    made since the run's last renewal too (its nodes renew them as they die with it)."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        before = descendants(os.getpid())
        proc = subprocess.Popen(
            [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", url, "--time-scale", "0.05"]
            + ["--set", "run.tasks=300"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while not any(client.llen(key) > 50 for key in client.keys("queuelab:*:events")):
            assert time.monotonic() < deadline and proc.poll() is None, "the run never began"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not leftovers(before)  # its nodes saw it die, and died with it
        run_id = client.keys("queuelab:*:events")[0].decode().split(":")[1]
        own = [
            key.decode()
            for key in client.keys(f"*{run_id}*")
            if not key.startswith(b"celery-task-meta-")  # result_expires
        ]
        assert {f"queuelab:{run_id}:events", f"_kombu.binding.queuelab-{run_id}-celery"} <= set(own)
        assert all(0 < client.ttl(key) <= KEEP for key in own), {k: client.ttl(k) for k in own}
