"""What a busy node holds in Redis, by prefetch multiplier and ack mode, ETA messages included:
measured on a real Celery 5.7 node and pinned here, against the counts the simulator's own test
holds it to (``tests.sim.helpers.PREFETCH_HELD``; DESIGN.md, "A worker keeps consuming").
App: tests/live/autoscale_app.py on a fixed ``--concurrency 1`` pool; each case is one node,
~6-9 s wall on 2 busy cores."""

import json
import time

import pytest

from tests.live.measuring import fixed_node, measuring_app, runs_client
from tests.sim.helpers import PREFETCH_HELD

pytestmark = pytest.mark.live

SERVICE = 4.0  # s: every task's sleep; each count is read at least 0.7 s from any change
WINDOW = (-0.3, 0.7)  # s around a situation's look: every count read in it must be the expected
UNACKED, UNACKED_INDEX = "unacked", "unacked_index"  # kombu's keys (the app's defaults)


@pytest.fixture(scope="module")
def app(redis_url):
    with measuring_app("autoscale_app", "AUTOSCALE_REDIS_URL", redis_url) as module:
        yield module


def held(client, queue: str) -> tuple[int, int]:
    """(un-acked, queued) of ``queue``: its entries in kombu's unacked hash, and its list."""
    unacked = sum(json.loads(raw)[2] == queue for raw in client.hvals(UNACKED))
    return unacked, client.llen(queue)


def forget(client, queue: str) -> None:
    """Take ``queue``'s messages out of Redis: its list, and its un-acked entries, which a
    killed node leaves for the next consumer of this Redis to restore."""
    for tag, raw in client.hgetall(UNACKED).items():
        if json.loads(raw)[2] == queue:
            client.hdel(UNACKED, tag)
            client.zrem(UNACKED_INDEX, tag)
    client.delete(queue)


@pytest.mark.parametrize("situation", PREFETCH_HELD)
@pytest.mark.parametrize("late", [False, True])
@pytest.mark.parametrize("multiplier", [0, 1, 4])
def test_a_busy_node_holds_what_the_model_holds(
    redis_url, app, situation, multiplier, late, no_leftovers
):
    """One node of concurrency 1, its pool warmed by a first task; the situation's tasks sent
    at their times (a countdown as a retry sends it); every (un-acked, queued) read every
    0.05 s over ``WINDOW`` around its look is the count the model holds, in at least 5 reads (a
    0.1 s step read fewer at load 20). Measured 2026-11-30 (three runs of the file at load 2-7
    on 2 cores): every case showed its count throughout."""
    tasks, look, counts = PREFETCH_HELD[situation]
    queue, node = fixed_node(redis_url, late, multiplier, "prefetch")
    with runs_client(redis_url, app.RUNS) as client, node:
        try:
            app.app.send_task("autoscale.sleep", args=("warm", 0.01), queue=queue)
            deadline = time.monotonic() + 30
            while client.llen(app.RUNS) < 1:
                assert time.monotonic() < deadline, "the pool did not take a task"
                time.sleep(0.02)
            start = time.monotonic()
            for i, (at, countdown) in enumerate(tasks):
                time.sleep(max(0.0, start + at - time.monotonic()))
                app.app.send_task(
                    "autoscale.sleep", args=(f"t{i}", SERVICE), queue=queue, countdown=countdown
                )
            seen = []
            time.sleep(max(0.0, start + look + WINDOW[0] - time.monotonic()))
            while time.monotonic() < start + look + WINDOW[1]:
                seen.append(held(client, queue))
                time.sleep(0.05)
        finally:
            forget(client, queue)
    assert len(seen) >= 5 and set(seen) == {counts[multiplier, late]}, seen
