"""A run leaves nothing of its own in the user's Redis: deleted when it ends, expiring when it
is killed (``live.run_keys``)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import redis
from kombu import Connection

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


def held(client: redis.Redis) -> int:
    """The delivered, un-acked messages of live runs: in kombu's hash shared by every app on
    that Redis (``unacked``, [message, exchange, routing key]) or in a run's own."""
    shared = sum(json.loads(raw)[2].startswith("queuelab-") for raw in client.hvals("unacked"))
    return shared + sum(client.hlen(key) for key in client.keys("queuelab:*:unacked"))


def test_a_killed_runs_messages_are_restored_by_no_other_consumer(no_leftovers):
    """Killed while its nodes ran its four tasks (late ack: delivered, not acked), a run left
    their messages in kombu's ``unacked`` hash, shared by every app on that Redis; the next
    consumer there restored them into the dead run's queue, a list then kept for good. They are
    now in the run's own hash, which expires with its other keys, and no other consumer sees
    them. The consumer is kombu's restore with a visibility timeout of 0, as any app's worker
    on that Redis runs it once the message's timeout has passed."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        proc = subprocess.Popen(
            [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", url, "--time-scale", "1"]
            + ["--set", "run.tasks=4", "--set", "service.dist=constant"]
            + ["--set", "service.mean=600"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while held(client) < 4:  # each of the four nodes runs one
            assert time.monotonic() < deadline and proc.poll() is None, "the run never began"
            time.sleep(0.1)
        run_id = client.keys("queuelab:*:events")[0].decode().split(":")[1]

        def own() -> list[str]:
            keys = client.keys(f"*{run_id}*")
            return [k.decode() for k in keys if b"celery-task-meta-" not in k]

        # killed once the run renewed its keys after the deliveries (every second): a key made
        # since its last renewal has no expiry yet (DESIGN, live.run_keys: a window of a second)
        while any(client.ttl(key) < 0 for key in own()):
            assert time.monotonic() < deadline, {k: client.ttl(k) for k in own()}
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not leftovers(descendants(os.getpid()) - descendants(proc.pid))
        with Connection(url, transport_options={"visibility_timeout": 0}) as later:
            later.default_channel.qos.restore_visible(interval=1)
        keys = own()
        assert all(0 < client.ttl(key) <= KEEP for key in keys), {k: client.ttl(k) for k in keys}
        assert held(client) == 4  # none restored
        assert client.hlen(f"queuelab:{run_id}:unacked") == 4  # its own
