"""``celery worker --autoscale MAX,MIN``: Celery 5.7 / kombu 5.7 / Redis 7 facts the model of
autoscale relies on, measured on real nodes (tests/live/autoscale_app.py, late ack); DESIGN.md
("Autoscale: measured") records the figures. Pool processes are counted in /proc (the node's
living children) and checked against what ``celery inspect stats`` says."""

import contextlib
import json
import statistics
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import alive, descendants
from tests.live.measuring import celery_node, measuring_app, runs_client

pytestmark = pytest.mark.live

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def autoscale(redis_url):
    """The autoscale app's module, bound to the session's Redis, for publishing and inspecting."""
    with measuring_app("autoscale_app", "AUTOSCALE_REDIS_URL", redis_url) as app:
        yield app


class Node:
    """One ``celery worker --autoscale`` node on its own queue, and what it says about itself."""

    def __init__(self, proc: subprocess.Popen, queue: str, app) -> None:
        self.proc, self.queue, self.app = proc, queue, app
        self.hostname = f"{queue}@test"

    def pids(self) -> frozenset[int]:
        """The pool processes running now: the node's living children."""
        return frozenset(alive(descendants(self.proc.pid)))

    def stats(self) -> dict:
        """The node's ``inspect stats`` reply."""
        inspect = self.app.control.inspect(timeout=2.0, destination=[self.hostname])
        for _ in range(5):  # a reply can miss the window on a loaded machine
            if reply := (inspect.stats() or {}).get(self.hostname):
                return reply
        raise AssertionError(f"{self.hostname} did not answer inspect stats")

    def send(self, label: str, seconds: float) -> float:
        """Publish one task to the node's queue; returns when (wall time)."""
        at = time.time()
        self.app.send_task("autoscale.sleep", args=(label, seconds), queue=self.queue)
        return at


@contextlib.contextmanager
def node(redis_url, autoscale, scale: str, *, multiplier=1, keepalive=30.0):
    """A node with ``--autoscale scale`` (AUTOSCALE_KEEPALIVE from the environment, the only way
    to set it: celery/worker/autoscale.py reads it at import), consuming once yielded."""
    queue = f"as-{uuid.uuid4().hex[:8]}"
    env = {
        "AUTOSCALE_REDIS_URL": redis_url,
        "AUTOSCALE_MULTIPLIER": str(multiplier),
        "AUTOSCALE_KEEPALIVE": str(keepalive),
    }
    args = ["--autoscale", scale, "-Q", queue, "--hostname", f"{queue}@test"]
    with celery_node(redis_url, "autoscale_app", args, env) as proc:
        deadline = time.monotonic() + 60
        started = Node(proc, queue, autoscale.app)
        low = int(scale.partition(",")[2] or 0)
        while len(started.pids()) < low:  # BRPOP can come before the pool's first process
            assert time.monotonic() < deadline, "the pool did not start"
            time.sleep(0.05)
        started.stats()
        yield started


@pytest.fixture
def client(redis_url, autoscale):
    """A Redis client; the runs list starts empty."""
    with runs_client(redis_url, autoscale.RUNS) as c:
        yield c


def unacked(client, queue: str) -> int:
    """How many of ``queue``'s messages the node holds un-acked (reserved or running)."""
    return sum(json.loads(raw)[2] == queue for raw in client.hvals("unacked"))


def runs(client, autoscale, count: int, timeout: float = 30.0) -> dict[str, tuple[int, float]]:
    """Label → (pid, start) of the first ``count`` executions, once that many have stamped."""
    deadline = time.monotonic() + timeout
    while client.llen(autoscale.RUNS) < count:
        assert time.monotonic() < deadline, client.lrange(autoscale.RUNS, 0, -1)
        time.sleep(0.02)
    rows = [r.split("|") for r in client.lrange(autoscale.RUNS, 0, count - 1)]
    return {label: (int(pid), float(start)) for label, pid, start, _ in rows}


def watch(node: Node, client, until, timeout: float = 30.0) -> list:
    """(wall time, pool process ids, un-acked) every ~0.1 s until ``until()`` is true."""
    seen, deadline = [], time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, seen[-5:]
        seen.append((time.time(), node.pids(), unacked(client, node.queue)))
        time.sleep(0.1)
    return seen


def test_a_burst_grows_the_pool_to_max_and_prefetch_follows_max(
    redis_url, client, autoscale, no_leftovers
):
    """``--autoscale 4,1``, multiplier 2: the pool starts with 1 process (MIN) but the prefetch
    count is 8 (MAX × multiplier), and stays 8 however many processes run. Ten 1.5 s tasks: the
    node reserves them one by one (un-acked, processes) = (2, 1), (3, 2), (4-5, 3-4), (8, 4):
    one process more per received message up to min(reserved 8, MAX 4); every task ran on one
    of those 4; once idle the pool is back to 1 and the prefetch count still 8."""
    with node(redis_url, autoscale, "4,1", multiplier=2, keepalive=1.0) as n:
        stats = n.stats()
        assert (len(stats["pool"]["processes"]), stats["prefetch_count"]) == (1, 8)
        assert stats["autoscaler"] == {"max": 4, "min": 1, "current": 1, "qty": 0}
        assert len(n.pids()) == 1
        for i in range(10):
            n.send(f"t{i}", 1.5)
        seen = watch(n, client, lambda: client.llen(autoscale.RUNS) == 10)
        done = runs(client, autoscale, 10)
        watch(n, client, lambda: len(n.pids()) == 1, timeout=10)
        stats = n.stats()
    assert max(held for _, _, held in seen) == 8, seen
    assert max(len(pids) for _, pids, _ in seen) == 4, seen
    assert len({pid for pid, _ in done.values()}) == 4, done
    assert (stats["autoscaler"]["current"], stats["prefetch_count"]) == (1, 8), stats


def test_scale_down_after_keepalive_leaves_the_busy_processes(
    redis_url, client, autoscale, no_leftovers
):
    """``--autoscale 4,1``, keepalive 1 s: two 1 s tasks and two 6 s tasks grow the pool to
    4 (scale-up counts reserved requests as each message arrives, so all four must arrive
    while the first short task runs: with 0.3 s ones a host kept busy by other processes
    received the last after the first had ended and grew to 3); once the short ones end, the
    pool shrinks to 2 (max(reserved 2, MIN 1): the running tasks count as reserved) 0.8-4 s
    after the last message was sent (measured 1.9-2.0 s at load 3-6 on 2 cores; 2.4-3.1 s
    with 0.3 s tasks on a quiet host: the last scale-up, not the last message, starts the
    keepalive), keeping exactly the two busy processes, whose tasks end normally; after them
    it shrinks to 1 within 3 s (0.1-1.1 s; 0.5-0.9 s busy)."""
    with node(redis_url, autoscale, "4,1", keepalive=1.0) as n:
        for label, seconds in (("s0", 1.0), ("long0", 6.0), ("s1", 1.0), ("long1", 6.0)):
            last = n.send(label, seconds)
        seen = watch(n, client, lambda: client.llen(autoscale.RUNS) == 4)
        done = runs(client, autoscale, 4)
        watch(n, client, lambda: len(n.pids()) == 1, timeout=10)
        alone = time.time() - done["long1"][1] - 6.0
    busy = {done["long0"][0], done["long1"][0]}
    assert max(len(pids) for _, pids, _ in seen) == 4 and len(busy) == 2, (seen, done)
    full = next(i for i, (_, pids, _) in enumerate(seen) if len(pids) == 4)
    shrunk, pids = next((at, pids) for at, pids, _ in seen[full:] if len(pids) <= 2)
    assert pids == busy and 0.8 < shrunk - last < 4.0, (shrunk - last, pids, busy)
    assert all(pids == busy for at, pids, _ in seen if at >= shrunk), seen
    assert alone < 3.0, alone


def test_without_min_a_node_starts_empty_and_each_task_waits_for_a_process_start(
    redis_url, client, autoscale, no_leftovers
):
    """``--autoscale 4`` means 4,0 and keepalive 1 s: the node starts with no pool process
    (prefetch count 4 = MAX). Three rounds: a 0.2 s task on the empty node waits for a process
    to start (median 0.05-2 s after it was sent; measured 0.07-0.12 s on a quiet host, 0.29-0.56 s
    on a busy one), a second one sent while
    that process lives starts sooner (measured 0.010-0.040 s), and the idle node shrinks back
    to no process 1-4.5 s after the last message was sent (measured 1.7-2.2 s)."""
    with node(redis_url, autoscale, "4", keepalive=1.0) as n:
        stats = n.stats()
        assert (stats["pool"]["processes"], stats["prefetch_count"]) == ([], 4)
        assert stats["autoscaler"] == {"max": 4, "min": 0, "current": 0, "qty": 0}
        cold, warm, empty = [], [], []
        for i in range(3):
            assert not n.pids()
            sent = n.send(f"cold{i}", 0.2)
            cold.append(runs(client, autoscale, 2 * i + 1)[f"cold{i}"][1] - sent)
            time.sleep(0.3)  # the first request is released: the second needs no new process
            sent = n.send(f"warm{i}", 0.2)
            warm.append(runs(client, autoscale, 2 * i + 2)[f"warm{i}"][1] - sent)
            watch(n, client, lambda: not n.pids(), timeout=10)
            empty.append(time.time() - sent)
    assert 0.05 < statistics.median(cold) < 2.0, cold
    assert statistics.median(warm) < statistics.median(cold), (cold, warm)
    assert all(1.0 < e < 4.5 for e in empty), empty
