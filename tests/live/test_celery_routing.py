"""Several queues, priorities, rate and time limits: Celery 5.7 / kombu 5.7 / Redis 7 facts the
model relies on, measured on real worker nodes (tests/live/routing_app.py); DESIGN.md records the
figures. Every node runs late ack, concurrency 1 and multiplier 1 unless a test says otherwise."""

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.live.measuring import measuring_app, runs_client

pytestmark = pytest.mark.live

HERE = Path(__file__).parent
SEP = "\x06\x16"  # kombu's separator between a queue's name and its priority step


@pytest.fixture(scope="module")
def routing(redis_url):
    """The routing app's module, bound to the session's Redis, for publishing."""
    with measuring_app("routing_app", "ROUTING_REDIS_URL", redis_url) as app:
        yield app


@pytest.fixture
def client(redis_url, routing):
    """A Redis client; the runs list starts empty."""
    with runs_client(redis_url, routing.RUNS) as c:
        yield c


def fresh(name: str) -> str:
    """A queue name no other test uses."""
    return f"{name}-{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def node(redis_url, queues, *, concurrency=1, multiplier=1, order="round_robin"):
    """One ``celery worker -Q queues`` node, killed with its pool at the end."""
    env = {
        **os.environ,
        "ROUTING_REDIS_URL": redis_url,
        "ROUTING_MULTIPLIER": str(multiplier),
        "ROUTING_ORDER": order,
        "PYTHONPATH": str(HERE),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "routing_app", "worker", "--pool", "prefork"]
        + ["--concurrency", str(concurrency), "-Q", ",".join(queues)]
        + ["--hostname", f"{uuid.uuid4().hex[:8]}@test", "--without-gossip"]
        + ["--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def consuming(client, proc) -> None:
    """Wait until the node's BRPOP waits in Redis."""
    deadline = time.monotonic() + 60
    while not any(c.get("cmd") == "brpop" for c in client.client_list()):
        assert time.monotonic() < deadline and proc.poll() is None, "the node did not start"
        time.sleep(0.05)


def runs(client, routing, count: int, timeout: float = 30.0) -> list[tuple[str, float, str]]:
    """The first ``count`` stamps (label, start, end) once that many executions have stamped."""
    deadline = time.monotonic() + timeout
    while client.llen(routing.RUNS) < count:
        assert time.monotonic() < deadline, client.lrange(routing.RUNS, 0, -1)
        time.sleep(0.02)
    rows = [r.split("|") for r in client.lrange(routing.RUNS, 0, count - 1)]
    return [(label, float(start), end) for label, start, end in rows]


def unacked(client, queue: str) -> int:
    """How many of ``queue``'s messages a node holds un-acked (reserved or running)."""
    return sum(json.loads(raw)[2] == queue for raw in client.hvals("unacked"))


def labels(rows) -> list[str]:
    return [row[0] for row in rows]


def send(routing, task: str, *args, **options):
    return routing.app.send_task(f"routing.{task}", args=args, **options)


def _execution_order(redis_url, client, routing, order: str) -> str:
    """Queues a and b pre-filled with four messages each; one node with ``-Q b,a``: the queue
    of each message in the order the node ran them, e.g. "babababa"."""
    a, b = fresh("a"), fresh("b")
    for i in range(4):
        send(routing, "sleep", f"a{i}", 0.02, queue=a)
    for i in range(4):
        send(routing, "sleep", f"b{i}", 0.02, queue=b)
    with node(redis_url, [b, a], order=order):
        return "".join(label[0] for label in labels(runs(client, routing, 8)))


@pytest.mark.parametrize(
    ("order", "expected"),
    [("round_robin", "babababa"), ("sorted", "aaaabbbb"), ("priority", "bbbbaaaa")],
)
def test_queue_order_strategy(redis_url, client, routing, order, expected, no_leftovers):
    """``-Q b,a`` with both queues full: round_robin alternates starting with the first queue
    named; sorted drains the queue whose name sorts first; priority drains in ``-Q`` order."""
    assert _execution_order(redis_url, client, routing, order) == expected


def test_priority_steps_are_lists_and_zero_runs_first(redis_url, client, routing, no_leftovers):
    """Priorities 9 6 5 3 2 0 published in that order land in the lists of kombu's steps
    0/3/6/9 (5 in step 3, 2 in step 0); a node started after them (prefetch 1) runs step 0
    first, and within a step first in, first out."""
    q = fresh("p")
    for priority in (9, 6, 5, 3, 2, 0):
        send(routing, "sleep", f"p{priority}", 0.02, queue=q, priority=priority)
    lengths = {key: client.llen(key) for key in client.keys(f"{q}*")}
    assert lengths == {q: 2, f"{q}{SEP}3": 2, f"{q}{SEP}6": 1, f"{q}{SEP}9": 1}
    with node(redis_url, [q]):
        assert labels(runs(client, routing, 6)) == ["p2", "p0", "p5", "p3", "p6", "p9"]


def test_prefetched_messages_run_before_a_higher_priority(redis_url, client, routing, no_leftovers):
    """Multiplier 4 (concurrency 1, late ack): six priority-9 tasks, then, once the node holds
    four of them, two priority-0 tasks: the 0s run after the four the node had reserved and
    before the two 9s still in Redis."""
    q = fresh("p")
    with node(redis_url, [q], multiplier=4) as proc:
        consuming(client, proc)
        for i in range(6):
            send(routing, "sleep", f"low{i}", 0.1, queue=q, priority=9)
        deadline = time.monotonic() + 30
        while unacked(client, q) < 4:
            assert time.monotonic() < deadline, "the node did not prefetch four"
            time.sleep(0.01)
        for i in range(2):
            send(routing, "sleep", f"high{i}", 0.1, queue=q, priority=0)
        order = labels(runs(client, routing, 8))
    assert order == ["low0", "low1", "low2", "low3", "high0", "high1", "low4", "low5"]


def _starts(rows, prefix: str) -> list[float]:
    return [start for label, start, _ in rows if label.startswith(prefix)]


def _at_the_rate(starts: list[float]) -> bool:
    """Starts one by one at 5/s: gaps of 0.2 s, none together (a bucket of more than one token
    would start several at once). A body's start is the token's time plus the pool's hand-off,
    which a loaded machine delays: one start 0.1 s late then left a gap of 0.30 s and one of
    0.11 s after it (CI, 2026-11-30, -n 3 beside a pip install and a browser)."""
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    return min(gaps) > 0.05 and 0.18 < statistics.median(gaps) < 0.25


def test_rate_limited_requests_hold_prefetch_slots(redis_url, client, routing, no_leftovers):
    """Ten ``routing.limited`` (5/s) then four fast tasks in one queue; concurrency 2,
    multiplier 4. Starts 0.2 s apart, none together (the bucket holds one token); the node
    holds eight un-acked (its whole prefetch window) while the rest wait in Redis, so the fast
    tasks start only when two limited ones have run and freed room (at ≈ 0.4 s)."""
    q = fresh("r")
    for i in range(10):
        send(routing, "limited", f"lim{i}", queue=q)
    for i in range(4):
        send(routing, "sleep", f"fast{i}", 0.01, queue=q)
    held = []
    with node(redis_url, [q], concurrency=2, multiplier=4):
        while client.llen(routing.RUNS) < 14:
            held.append((unacked(client, q), client.llen(q)))
            time.sleep(0.02)
        rows = runs(client, routing, 14)
    most, waiting = max(held)
    assert most == 8 and waiting >= 4, held
    limited = _starts(rows, "lim")
    assert _at_the_rate(limited), rows
    fast = _starts(rows, "fast")
    assert limited[2] < min(fast) and max(fast) < limited[3], rows


def test_a_rate_limit_is_per_node(redis_url, client, routing, no_leftovers):
    """Two nodes on one queue of twelve ``routing.limited`` (5/s): each node spaces its own
    starts at least 0.2 s apart (a median gap of 0.18 s or more, none together), so together
    they run faster than one node's 5/s (measured: 0.2 s on each node, 0.1 s together). A
    node's gap can be longer where it ran out of prefetched messages while the other held
    them (CI, 2026-11-30: 0.45 s), so no upper bound per node."""
    q = fresh("r")
    for i in range(12):
        send(routing, "limited", f"lim{i}", queue=q)
    with node(redis_url, [q], multiplier=4), node(redis_url, [q], multiplier=4):
        rows = runs(client, routing, 12)
    by_node: dict[str, list[float]] = {}
    for label, start, _ in rows:
        by_node.setdefault(label.split("@", 1)[1], []).append(start)
    assert len(by_node) == 2 and all(len(starts) >= 3 for starts in by_node.values()), rows
    for starts in by_node.values():
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert min(gaps) > 0.05 and statistics.median(gaps) > 0.18, rows
    together = sorted(start for _, start, _ in rows)
    assert (together[-1] - together[0]) / (len(together) - 1) < 0.18, rows


def test_a_hard_time_limit_fails_acks_and_replaces_the_child(
    redis_url, client, routing, no_leftovers
):
    """``routing.hard`` (limit 0.5 s, sleeping 3 s) between short tasks; multiplier 2, so the
    task behind it is already reserved. FAILURE with TimeLimitExceeded recorded ≈ 10 ms after
    the limit; the message acked under late ack (none left un-acked, none run twice); the task
    behind it waits for the killed child's replacement: ≈ 0.2 s after the FAILURE when the pool
    sees the child exit, else until its next 5 s ``maintain_pool`` tick (measured 3.7-4.8 s),
    where two short tasks in a row are ≈ 0.02 s apart."""
    from celery.exceptions import TimeLimitExceeded

    q = fresh("t")
    send(routing, "sleep", "base0", 0.01, queue=q)
    send(routing, "sleep", "base1", 0.01, queue=q)
    result = send(routing, "hard", "hard", 3.0, queue=q)
    send(routing, "sleep", "next", 0.01, queue=q)
    with node(redis_url, [q], multiplier=2):
        rows = runs(client, routing, 4)
        result.get(timeout=10, propagate=False)
        time.sleep(0.5)
        assert unacked(client, q) == 0 and client.llen(q) == 0
    assert client.llen(routing.RUNS) == 4, "the hard-limited task ran again"
    start = {label: begin for label, begin, _ in rows}
    assert start["base1"] - float(rows[0][2]) < 0.3, rows
    assert result.state == "FAILURE" and isinstance(result.result, TimeLimitExceeded)
    failed = result.date_done.timestamp()
    assert 0 <= failed - start["hard"] - routing.TIME_LIMIT < 0.25, (failed, rows)
    assert 0.1 < start["next"] - failed < 5.5, (failed, rows)


def test_a_soft_time_limit_is_an_exception_the_task_can_retry_on(
    redis_url, client, routing, no_leftovers
):
    """``routing.soft`` (soft limit 0.3 s, sleeping 2 s) catches SoftTimeLimitExceeded at
    ≈ 0.3 s in the same child and retries; the retry runs and succeeds. The pool arms the limit
    before the task's first line stamps its start, so the caught time may read up to a few ms
    under 0.3 s (measured 0.2999 s on a loaded host)."""
    q = fresh("t")
    result = send(routing, "soft", "soft", 2.0, queue=q)
    with node(redis_url, [q]):
        assert result.get(timeout=20) is None
        rows = runs(client, routing, 2)
    (caught, start, end), (done, _, _) = rows
    assert (caught, done) == ("soft:soft0", "soft:done1")
    assert -0.02 <= float(end) - start - routing.SOFT_TIME_LIMIT < 0.25, rows


def test_priority_steps_come_before_the_queue_order(redis_url, client, routing, no_leftovers):
    """``-Q a,b`` round robin, a holding two priority-9 messages and b two priority-0 ones:
    the node drains b first (BRPOP names every queue's step-0 list before any step-3 list),
    instead of alternating."""
    a, b = fresh("a"), fresh("b")
    for i in range(2):
        send(routing, "sleep", f"a{i}", 0.02, queue=a, priority=9)
        send(routing, "sleep", f"b{i}", 0.02, queue=b, priority=0)
    with node(redis_url, [a, b]):
        assert labels(runs(client, routing, 4)) == ["b0", "b1", "a0", "a1"]


def test_prefetch_is_one_limit_across_the_queues(redis_url, client, routing, no_leftovers):
    """``-Q a,b``, multiplier 2, both queues holding 0.3 s tasks: the node holds two un-acked
    in all, not two per queue."""
    a, b = fresh("a"), fresh("b")
    for i in range(3):
        send(routing, "sleep", f"a{i}", 0.3, queue=a)
        send(routing, "sleep", f"b{i}", 0.3, queue=b)
    held = []
    with node(redis_url, [a, b], multiplier=2):
        while client.llen(routing.RUNS) < 3:
            held.append(unacked(client, a) + unacked(client, b))
            time.sleep(0.02)
    assert max(held) == 2, held


def test_the_default_queue_is_celery_and_a_new_route_makes_a_list(client, routing):
    """Without a route a task goes to the list ``celery``; a route to a queue no one declared
    simply makes its list (task_create_missing_queues), consumed or not."""
    nowhere = fresh("nowhere")
    before = client.llen("celery")
    send(routing, "sleep", "default", 0.0)
    send(routing, "sleep", "routed", 0.0, queue=nowhere)
    assert client.llen("celery") == before + 1
    assert client.llen(nowhere) == 1
    client.delete(nowhere)
    client.rpop("celery")
