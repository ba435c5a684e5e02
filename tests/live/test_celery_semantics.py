"""Celery 5.7 / kombu / Redis facts the model relies on, measured on a real worker node."""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

pytestmark = pytest.mark.live

HERE = Path(__file__).parent


def _where_the_next_message_went(redis_url: str, multiplier: int) -> str:
    """One late-ack node (concurrency 1) runs a task that kills the node; the next message is
    published as soon as the kill is stamped. Returns where that message is then: "queue",
    "unacked" or "lost" (neither: Redis handed it to the dead node's BRPOP)."""
    queue = f"killer-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "KILLER_REDIS_URL": redis_url,
        "KILLER_QUEUE": queue,
        "KILLER_MULTIPLIER": str(multiplier),
        "PYTHONPATH": str(HERE),
    }
    node = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "killer_app", "worker", "--pool", "prefork"]
        + ["--concurrency", "1", "--hostname", f"{queue}@test", "--without-gossip"]
        + ["--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    client = redis.Redis.from_url(redis_url)
    sys.path.insert(0, str(HERE))
    os.environ.update({k: env[k] for k in ("KILLER_REDIS_URL", "KILLER_QUEUE")})
    try:
        from killer_app import app

        app.conf.task_default_queue = queue
        deadline = time.monotonic() + 60
        while not any(c.get("cmd") == "brpop" for c in client.client_list()):
            assert time.monotonic() < deadline and node.poll() is None, "the node did not start"
            time.sleep(0.05)
        time.sleep(0.3)
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection()
            app.send_task("killer.die", queue=queue, producer=producer)
            assert client.blpop([f"{queue}:killed"], timeout=60), "the task did not run"
            app.send_task("killer.ok", queue=queue, producer=producer)
        node.wait(timeout=30)
        time.sleep(0.2)
        if any(
            json.loads(m)["headers"]["task"] == "killer.ok" for m in client.lrange(queue, 0, -1)
        ):
            return "queue"
        for raw in client.hvals("unacked"):
            message, _, routing_key = json.loads(raw)
            if routing_key == queue and message["headers"]["task"] == "killer.ok":
                return "unacked"
        return "lost"
    finally:
        sys.path.remove(str(HERE))
        if node.poll() is None:
            node.kill()
            node.wait()
        client.delete(queue, f"{queue}:killed")
        client.close()


@pytest.mark.alone
def test_a_killed_node_with_credit_takes_the_next_message_with_it(redis_url, no_leftovers):
    """Late ack, prefetch multiplier 2: while its one slot runs, the node still has credit and
    a BRPOP waiting in Redis. Killed, its connection lingers for tens of milliseconds (measured
    30–125 ms), and Redis hands the next message to that BRPOP: it is neither queued nor in
    ``unacked``, lost for good. Measured 5 of 5 on Celery 5.7 / redis-server 7 on a quiet host.
    Beside other live runs (load 4–5 on 2 cores) the node was seen to reserve the message
    before the kill took effect ("unacked") or not to have asked again yet ("queue"): 1 lost of
    3, which failed the two-of-three this test asked. So it asks for one loss in up to eight
    tries (a quiet host loses the first), which a Celery that never hands the dead BRPOP a
    message fails, as the test without credit below never loses one."""
    found = []
    while "lost" not in found and len(found) < 8:
        found.append(_where_the_next_message_went(redis_url, multiplier=2))
    assert "lost" in found, found


def test_a_killed_node_without_credit_leaves_the_next_message_queued(redis_url, no_leftovers):
    """Multiplier 1 and concurrency 1 under late ack: the running task uses the node's only
    credit, so no BRPOP waits, and the next message stays on the queue for another node."""
    found = [_where_the_next_message_went(redis_url, multiplier=1) for _ in range(3)]
    assert found == ["queue"] * 3, found
