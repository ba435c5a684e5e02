"""kombu's restore scan on a real node: when a message past its visibility timeout goes back
(the rule ``sim.rules.restore`` gives the simulator).

The test writes messages into the node's ``unacked`` hash and index itself, as kombu's
``QoS.append`` does on a delivery (the score is the delivery's time), each routed to a probe
list the node does not consume, and times when each lands there: a scan restores every message
whose score is a visibility timeout old, to the list its routing key names."""

import json
import threading
import time
import uuid

import pytest
import redis

from sim.rules.restore import next_scan, scan_period
from tests.live.measuring import celery_node

# alone: it times restores to tenths of a second, which CI's tests beside it delayed by 0.4 s
pytestmark = [pytest.mark.live, pytest.mark.alone]

INTERVAL, THROTTLE, VISIBILITY = 2.0, 3, 1.0  # kombu's options, small: a scan every 6 s
LATE = 1.0  # a restore may come this much after its scan (a busy host's event loop), seconds
EARLY = 0.3  # or this much before it (the test's polling, the scans' reference)


def _deliver(client: redis.Redis, keys: str, tag: str, probe: str, at: float) -> None:
    """An un-acked message delivered at ``at`` (epoch seconds), as ``QoS.append`` writes it."""
    payload = {"body": "", "headers": {}, "properties": {"delivery_info": {}, "delivery_tag": tag}}
    client.hset(f"{keys}:unacked", tag, json.dumps([payload, "", probe]))
    client.zadd(f"{keys}:unacked_index", {tag: at})


def _restored(client: redis.Redis, probe: str, tag: str, within: float) -> float:
    """When (epoch seconds) the message ``tag`` lands on the probe list, polled every 10 ms."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        raw = client.lpop(probe)
        if raw is not None:
            assert json.loads(raw)["properties"]["delivery_tag"] == tag
            return time.time()
        time.sleep(0.01)
    raise AssertionError(f"{tag} was not restored within {within:g} s")


def test_a_node_scans_as_it_connects_then_every_interval_times_throttle(redis_url, no_leftovers):
    """One node, interval 2 s and throttle 3: a message already past its deadline when the node
    starts comes back as it connects, before its first BRPOP; one past it just after comes
    back at the scan 6 s later, not at the timer's next call (2 s); one whose deadline falls
    just after the scan at 12 s waits for the one at 18 s. Each within -0.3/+1 s of the time
    ``next_scan`` gives from the first restore (measured five times at load 2-5 on 2 cores: the
    first restore 16-42 ms before the BRPOP was seen, the others -1 to +25 ms off; ~19 s)."""
    run = uuid.uuid4().hex[:8]
    keys, probe = f"restore-{run}", f"restore-{run}-probe"
    client = redis.Redis.from_url(redis_url)
    env = {
        "RESTORE_REDIS_URL": redis_url,
        "RESTORE_QUEUE": f"restore-{run}-work",
        "RESTORE_KEYS": keys,
        "RESTORE_VISIBILITY": str(VISIBILITY),
        "RESTORE_INTERVAL": str(INTERVAL),
        "RESTORE_THROTTLE": str(THROTTLE),
    }
    _deliver(client, keys, "before", probe, time.time() - 100)
    connected: list[float] = []
    watch = threading.Thread(
        target=lambda: connected.append(_restored(client, probe, "before", 60.0)), daemon=True
    )
    period = scan_period(INTERVAL, THROTTLE)
    try:
        watch.start()
        with celery_node(redis_url, "restore_app", ["--concurrency", "1"], env):
            consuming = time.time()  # its BRPOP is seen waiting (polled every 50 ms)
            watch.join(5.0)
            assert connected, "nothing restored as the node connected"
            up = connected[0]  # its first scan: its later ones count from here
            assert up <= consuming + INTERVAL / 4  # before it consumed, not at its timer's call
            sent = time.time()
            _deliver(client, keys, "due", probe, sent - 100)
            back = _restored(client, probe, "due", 3 * period)
            expected = next_scan(up, period, sent)
            assert expected - EARLY <= back <= expected + LATE, (back - up, expected - up)
            assert back - sent > INTERVAL  # not at the timer's next call
            deadline = up + 2 * period + 1.5  # past the scan at 12 s by more than LATE
            _deliver(client, keys, "later", probe, deadline - VISIBILITY)
            back = _restored(client, probe, "later", 3 * period)
            expected = next_scan(up, period, deadline)
            assert expected == pytest.approx(up + 3 * period)
            assert expected - EARLY <= back <= expected + LATE, (back - up, expected - up)
    finally:
        client.delete(probe, f"{keys}:unacked", f"{keys}:unacked_index")
        client.close()
