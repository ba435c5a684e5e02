"""A warm shutdown (SIGTERM) on a real Celery 5.7 node: what the simulator's deploys and node
autoscaler rely on (``sim.engine.deploy.warm_shutdown``; DESIGN.md, "A deploy restarts the
workers"). App: tests/live/autoscale_app.py on a ``--concurrency 1`` node, early ack, prefetch
multiplier 2; ~8-12 s wall a case on 2 cores."""

import json
import os
import signal
import time
import uuid

import pytest

from tests.live.measuring import celery_node, measuring_app, runs_client

pytestmark = pytest.mark.live

SERVICE = 3.0  # s: the running task's sleep
TERM_AT = 1.2  # s after the first send: the node holds what it will hold by then
HELD = {"eta", "r1", "r2"}  # un-acked on the node: an ETA message (a retry's countdown), reserved
QUEUED = ["q1", "q2"]  # beyond the prefetch window, in Redis


@pytest.fixture(scope="module")
def app(redis_url):
    with measuring_app("autoscale_app", "AUTOSCALE_REDIS_URL", redis_url) as module:
        yield module


def messages(client, queue: str) -> tuple[set[str], list[str]]:
    """The task ids of ``queue``'s un-acked messages, and of its list in the order a BRPOP pops
    them (kombu LPUSHes a message and BRPOP takes from the right end)."""
    unacked = {
        json.loads(raw)[0]["headers"]["id"]
        for raw in client.hvals("unacked")
        if json.loads(raw)[2] == queue
    }
    listed = [json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)]
    return unacked, listed[::-1]


def stopped(redis_url: str, app, kill_after: float | None):
    """A node running "run" (3 s), holding an ETA message and two reserved ones, two more
    queued, gets SIGTERM; with ``kill_after``, SIGKILL that much later. Returns what Redis held
    while it stopped, what it held after the node was gone, and the tasks that ran to their
    end."""
    queue = f"shutdown-{uuid.uuid4().hex[:8]}"
    env = {
        "AUTOSCALE_REDIS_URL": redis_url,
        "AUTOSCALE_MULTIPLIER": "2",
        "AUTOSCALE_ACKS_LATE": "0",
    }
    args = ["--concurrency", "1", "-Q", queue, "--hostname", f"{queue}@test"]
    with runs_client(redis_url, app.RUNS) as client:
        try:
            with celery_node(redis_url, "autoscale_app", args, env) as node:
                send = app.app.send_task
                send("autoscale.sleep", args=("warm", 0.01), queue=queue, task_id="warm")
                deadline = time.monotonic() + 30
                while client.llen(app.RUNS) < 1:
                    assert time.monotonic() < deadline, "the pool did not take a task"
                    time.sleep(0.02)
                start = time.monotonic()
                send(
                    "autoscale.sleep", args=("eta", 0.01), queue=queue, countdown=60, task_id="eta"
                )
                for label in ("run", "r1", "r2", *QUEUED):
                    send("autoscale.sleep", args=(label, SERVICE), queue=queue, task_id=label)
                time.sleep(max(0.0, start + TERM_AT - time.monotonic()))
                before = messages(client, queue)
                node.send_signal(signal.SIGTERM)
                if kill_after is None:
                    time.sleep(SERVICE / 2)
                    during = messages(client, queue)
                    node.wait(timeout=30)
                else:
                    time.sleep(kill_after)
                    during = messages(client, queue)
                    os.killpg(node.pid, signal.SIGKILL)
                    node.wait(timeout=30)
            time.sleep(0.2)
            after = messages(client, queue)
            ran = {row.split("|")[0] for row in client.lrange(app.RUNS, 0, -1)}
        finally:
            for tag, raw in client.hgetall("unacked").items():
                if json.loads(raw)[2] == queue:
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)
            client.delete(queue)
    assert before == (HELD, QUEUED), before  # the situation the test means
    return during, after, ran


def test_a_warm_shutdown_keeps_what_it_holds_until_it_exits_then_gives_it_back(
    redis_url, app, no_leftovers
):
    """SIGTERM: the running task ends normally, the reserved ones and the ETA message stay
    un-acked (none starts) until the node exits, then kombu puts them back where the next
    BRPOP reads, ahead of the two that waited in Redis all along."""
    during, after, ran = stopped(redis_url, app, kill_after=None)
    assert during == (HELD, QUEUED), during
    assert ran == {"warm", "run"}, ran
    unacked, listed = after
    assert not unacked and set(listed[:3]) == HELD and listed[3:] == QUEUED, after


def test_a_node_killed_in_its_warm_shutdown_gives_nothing_back(redis_url, app, no_leftovers):
    """SIGTERM, then SIGKILL 0.5 s later (a grace period run out): what it held stays un-acked,
    for the visibility timeout to restore; the running task, acked early, is gone."""
    during, after, ran = stopped(redis_url, app, kill_after=0.5)
    assert during == after == (HELD, QUEUED), (during, after)
    assert ran == {"warm"}, ran
