"""A live run's node autoscaler on real Celery nodes: what it relies on (a node added while the
run goes boots in a few seconds, takes nothing while it is held, none after a warm shutdown) and
a run that adds nodes on a burst and removes them after the cooldown, as the rules say."""

import threading
import time

import pytest
import redis

from live.celery_app import LiveConfig, sending_app, task_name
from live.collector import read_events
from live.node_autoscaler import start_note
from live.redis_server import private_redis
from live.run import run_live
from live.workers import BOOT, Node, WorkerPool
from sim import scenario
from sim.analysis.cost import capacity_cost
from sim.analysis.runs import pools
from sim.rules import node_autoscale
from sim.rules.states import RECEIVED
from tests.sim.helpers import check_decisions_against_capacity, make

# A burst of 20 tasks of 10 s at 0 on one node of one slot, one more task at 200: the first
# poll (10 s) reads the burst and adds two nodes, consuming 80 s later; the burst drained, the
# polls want one node again and the cooldown (40 s) removes both before the last task comes.
BURST = {
    "run.tasks": 21,
    "arrivals.process": "burst",
    "arrivals.burst_size": 20,
    "arrivals.rate": 0.1,
    "service.dist": "constant",
    "service.mean": 10.0,
    "workers.count": 1,
    "workers.prefetch_multiplier": 1,
    "workers.node_autoscaler": "queue_length",
    "workers.min_nodes": 1,
    "workers.max_nodes": 3,
    "workers.node_target": 2,
    "workers.node_interval": 10.0,
    "workers.node_start": 80.0,  # 8 wall s at SCALE: longer than a boot here (BOOT_BAND)
    "workers.node_cooldown": 40.0,
}
SCALE = 0.1
LATE = 1.0 / SCALE  # scenario seconds a poll or a row may lag its time: 1 wall s, 2 busy cores
HOLD = 8.0  # wall seconds a held node waits from its spawn: longer than a boot here
BOOT_BAND = (0.5, 12.0)  # wall seconds from a node's spawn to its first task, on 2 busy cores


def first_received(rows, node: str) -> float | None:
    return min((t for _, _, state, t, w in rows if state == RECEIVED and w == node), default=None)


def wait_for(check, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.live
def test_an_added_node_boots_then_consumes_only_once_held_no_more(tmp_path, no_leftovers):
    """Thirty 0.5 s tasks queued, three nodes of one slot added: w1 unheld takes its first task
    a boot after its spawn (the band); w2, held ``HOLD`` s, takes none before its hold ends and
    one at once after it; w3, held, removed while held (SIGTERM), exits of itself taking
    nothing and never says it is ready; w1 removed (a warm shutdown) takes no message after it."""
    sc = make(
        **{"workers.count": 1, "workers.prefetch_multiplier": 1, "run.tasks": 30}
        | {"service.dist": "constant", "service.mean": 0.5}
    )
    (tmp_path / "scenario.toml").write_text(scenario.dumps(sc))
    with private_redis() as url:
        config = LiveConfig(url, str(tmp_path / "scenario.toml"), 1.0, 1, "nodes")
        client = redis.Redis.from_url(url)
        client.set(config.key("t0"), repr(time.time()))
        with sending_app(config) as app:
            for i in range(30):
                app.tasks[task_name(sc.task_types[0])].apply_async(
                    args=[i], task_id=config.task_id(i)
                )
        pool = WorkerPool(config, [], 1.0, tmp_path)
        pool.start()
        try:
            spawned = time.time()
            pool.add(Node("w1", "workers", 1), 0.0)
            held_until = time.time() + HOLD
            pool.add(Node("w2", "workers", 1), held_until)
            pool.add(Node("w3", "workers", 1), held_until + 60)  # booted as w2, still held
            ready = config.key("ready")
            wait_for(lambda: first_received(read_events(client, config), "w2") is not None)
            removed = time.time()
            pool.remove("w1", 10.0)
            pool.remove("w3", 10.0)
            wait_for(lambda: "w1" in pool.died and "w3" in pool.died, 15.0)
            rows = read_events(client, config)
            readies = {k.decode(): float(v) for k, v in client.hgetall(ready).items()}
        finally:
            pool.stop()
            client.close()
    boot = first_received(rows, "w1") - spawned
    assert BOOT_BAND[0] < boot < BOOT_BAND[1], boot
    assert first_received(rows, "w1") - readies["w1@nodes"] < 0.5
    w2 = first_received(rows, "w2")
    assert held_until <= readies["w2@nodes"] <= w2 < held_until + 0.5
    assert first_received(rows, "w3") is None and "w3@nodes" not in readies
    assert pool.procs["w3"].returncode == 0  # its own warm exit, not the grace's SIGKILL
    assert [t for _, _, s, t, w in rows if s == RECEIVED and w == "w1" and t > removed] == []
    assert pool.procs["w1"].returncode == 0


def test_a_node_start_shorter_than_a_boot_is_said():
    sc = make(**{"workers.node_autoscaler": "queue_length", "workers.node_start": 40.0})
    assert start_note(sc, 1.0) is None
    said = start_note(sc, 0.02)
    assert said.startswith("workers.node_start = 40 s is 0.8 wall seconds at time scale 0.02")
    assert f"at least {BOOT / 40:.2g}" in said
    assert start_note(make(), 0.001) is None


@pytest.mark.live
def test_a_burst_adds_nodes_and_the_cooldown_removes_them(no_leftovers):
    """Each poll reads the LLEN on time and decides as ``sim.rules.node_autoscale`` says for it;
    the burst adds w2 and w3, each down with 0 processes at its decision and up with its slot
    ``node_start`` later (later by what its boot took past that, if it did); the cooldown
    removes them, newest first, each down at the poll that removes it; they are in the pool
    and its ``node_seconds``; and no node is left running."""
    sc = make(**BURST)
    w = sc.workers
    polls, pools_seen = [], []
    with private_redis() as url:
        trace = run_live(sc, url, time_scale=SCALE, polled=polls.append, nodes=pools_seen.append)
    nodes, window = w.count, node_autoscale.Stabilization(w.count, w.node_cooldown)
    for number, poll in enumerate(polls, 1):
        d = poll.decision
        assert d.t == pytest.approx(number * w.node_interval)
        assert 0 <= poll.at - d.t < LATE
        want = node_autoscale.wanted(d.queued, w.node_target, w.min_nodes, w.max_nodes)
        goal = node_autoscale.scaled(nodes, want, window.polled(d.t, want), w.node_step)
        assert (d.want, d.nodes, d.goal) == (want, nodes, goal)
        assert (len(d.added), len(d.removed)) == (max(goal - nodes, 0), max(nodes - goal, 0))
        nodes = goal
    assert [n for p in polls for n in p.decision.added] == ["w2", "w3"]
    assert [n for p in polls for n in p.decision.removed] == ["w3", "w2"]
    last = polls[-1].decision
    assert last.nodes == 1 and last.t <= trace.t.max() + w.node_interval  # then end

    [pool] = pools_seen
    up_added = []
    for node in ("w2", "w3"):
        added = next(p for p in polls if node in p.decision.added)
        removed = next(p for p in polls if node in p.decision.removed)
        late = (pool.since[node] - pool.consume_at[node]) / SCALE  # a boot past node_start
        rows = [(t, up, n) for t, name, up, n in trace.capacity if name == node]
        (decided, *at_decision), (started, *consuming), (left, *at_removal) = rows[:3]
        assert added.at <= decided < added.at + LATE and at_decision == [False, 0]
        assert late >= 0 and started - decided == pytest.approx(w.node_start + late, abs=LATE)
        assert consuming == [True, 1]
        assert removed.at <= left < removed.at + LATE and at_removal[0] is False
        assert not any(up for _, up, _ in rows[2:])
        up_added.append(left - started)
    assert pools(trace, sc)["workers"][0] == [0, 1, 2]  # w1, w2, w3 by name
    end = float(trace.t.max())
    _, node_seconds = capacity_cost(trace.capacity, end)
    assert node_seconds == pytest.approx(end + sum(up_added))  # w1's whole run, w2's and w3's
    assert all(proc.poll() is not None for proc in pool.procs.values())


@pytest.mark.live
def test_a_run_stopped_while_its_added_nodes_start_stops_them(no_leftovers):
    """Stopped (Ctrl-C, the Live page's Stop) at the poll that adds w2 and w3, held and
    booting: the run ends with them stopped, down all along, and the polls end with it."""
    stop = threading.Event()
    polls, pools_seen = [], []

    def polled(poll) -> None:
        polls.append(poll)
        if poll.decision.added:
            stop.set()

    with private_redis() as url:
        trace = run_live(
            make(**BURST), url, time_scale=SCALE, stop=stop, polled=polled, nodes=pools_seen.append
        )
    [pool] = pools_seen
    assert pool.added == ["w2", "w3"] and polls[-1].decision.added == ("w2", "w3")
    assert all(proc.poll() is not None for proc in pool.procs.values())
    assert [(n, up) for _, n, up, _ in trace.capacity if n != "w1"] == [
        ("w2", False),
        ("w3", False),
    ]


@pytest.mark.live
def test_the_decisions_the_run_records_are_the_nodes_it_started_and_stopped(no_leftovers):
    """The trace's decisions, read back from the run's Redis list, are every poll's as the
    autoscaler made it, in order; read against the capacity rows, the nodes each starts and
    stops are those that appeared and went down at its poll (within a poll's lag), and the
    cooldown's holds are among them; the list goes with the run's keys."""
    sc = make(**BURST)
    polls = []
    with private_redis() as url:
        trace = run_live(sc, url, time_scale=SCALE, polled=polls.append)
        with redis.Redis.from_url(url) as client:
            left = client.keys("queuelab:*:node_decisions")
    assert trace.decisions == tuple(p.decision for p in polls) and len(polls) > 10
    assert {"start", "hold", "stop"} <= {d.kind for d in trace.decisions}
    check_decisions_against_capacity(trace, ["w1"], late=2 * LATE)
    assert left == []
