"""The worker nodes of a run: where the run's clock starts under --autoscale; what becomes of
them when Redis goes, or the run is stopped, while they start."""

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from live import events
from live.celery_app import LiveConfig, sending_app, task_name
from live.redis_server import RedisUnavailable, private_redis
from live.run import CURRENT, join_run, run_live
from live.workers import (
    BootStopped,
    Node,
    WorkerPool,
    WorkerStartError,
    on_keepalive_grid,
    why_exited,
)
from sim import scenario
from sim.rules.states import STARTED, SUCCESS
from tests.conftest import alive, descendants, hang_first_node, open_connections
from tests.sim.helpers import make


def pool_ready_at(sc, ready_at: dict[str, float], time_scale: float) -> WorkerPool:
    config = LiveConfig("redis://127.0.0.1:1/0", "unused.toml", time_scale, 1, "run")
    nodes = [Node(name, p.name, p.workers.concurrency) for name, p in sc.nodes]
    pool = WorkerPool(config, nodes, restart_delay=1.0)
    pool.ready_at = ready_at
    return pool


def test_an_autoscaling_run_starts_on_its_first_nodes_keepalive_tick():
    """Keepalive 30 s at time scale 0.05 ticks every 1.5 wall s from the node's ready time
    (100.0): a run that could start at 104.0 starts at 104.5, on the tick, as the simulator's
    timer ticks from the node's start at 0; one at 106.0 exactly stays there."""
    sc = make(**{"workers.count": 2, "workers.autoscale_max": 4, "workers.autoscale_min": 1})
    pool = pool_ready_at(sc, {"w1": 100.0, "w2": 100.7}, 0.05)
    assert on_keepalive_grid(pool, sc, 104.0) == pytest.approx(104.5)
    assert on_keepalive_grid(pool, sc, 106.0) == pytest.approx(106.0)


def test_a_fixed_pool_starts_at_once():
    sc = make(**{"workers.count": 2})
    assert on_keepalive_grid(pool_ready_at(sc, {"w1": 100.0}, 0.05), sc, 104.0) == 104.0


@pytest.mark.live
def test_redis_lost_while_the_nodes_start_stops_them_and_says_so(no_leftovers):
    """Redis killed once the run is announced, while its nodes still import Celery: the run
    says so (the CLI's exit 2 with the remedy, the app's message, not a traceback) and stops
    its nodes, which a process that lives on, the app, would otherwise keep for good."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        pid = client.info("server")["process_id"]

        def kill_once_announced() -> None:
            deadline = time.monotonic() + 60
            while not client.keys("queuelab:*:config") and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_once_announced)
        killer.start()
        with pytest.raises(RedisUnavailable, match="lost Redis at .* while the workers started"):
            run_live(make(**{"run.tasks": 10, "workers.count": 2}), url, time_scale=0.05)
        killer.join()


@pytest.mark.live
def test_nodes_waited_for_are_stopped_when_redis_goes(tmp_path, no_leftovers):
    """Redis killed while the nodes start: the wait for them raises, and the nodes, which would
    keep trying to reach Redis, are stopped first (their scenario file is still there)."""
    sc = make(**{"workers.count": 2})
    path = tmp_path / "scenario.toml"
    path.write_text(scenario.dumps(sc))
    with private_redis() as url:
        pid = redis.Redis.from_url(url).info("server")["process_id"]
        pool = pool_ready_at(sc, {}, 0.05)
        pool.config = LiveConfig(url, str(path), 0.05, 1, "gone")

        def kill_once_spawned() -> None:
            deadline = time.monotonic() + 60
            while len(pool.procs) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_once_spawned)
        killer.start()
        with pytest.raises(redis.ConnectionError):
            pool.start()
        killer.join()
    assert not any(pool.up().values())


def test_why_a_node_exited_names_its_error_and_a_full_redis_the_remedy():
    full = "redis.exceptions.OutOfMemoryError: command not allowed when used memory > 'maxmemory'."
    assert why_exited(full) == (
        ": Redis is out of memory (command not allowed when used memory > 'maxmemory'); free "
        "memory there or raise its maxmemory, then run again"
    )
    assert why_exited("ImportError: no module named x") == ": ImportError: no module named x"
    assert why_exited("") == ""
    # killed at boot: its last line is what it was writing, Celery's warning on running as root
    assert why_exited("_warn_or_raise_security_error(egid, euid, gid, uid,", -9) == (
        ": killed by SIGKILL"
    )


@pytest.mark.live
def test_a_node_redis_refuses_for_memory_says_so_and_how_to_fix_it(tmp_path, no_leftovers):
    """Redis at its maxmemory (policy noeviction) refuses the node's first write and the node
    exits: the run said only 'worker w1 exited'; it now says why, from the node's output."""
    sc = make(**{"workers.count": 1})
    (tmp_path / "scenario.toml").write_text(scenario.dumps(sc))
    with private_redis() as url:
        redis.Redis.from_url(url).config_set("maxmemory", 1)  # every write refused
        config = LiveConfig(url, str(tmp_path / "scenario.toml"), 0.05, 1, "full")
        pool = WorkerPool(config, [Node("w1", "workers", 1)], 1.0, tmp_path)
        with pytest.raises(WorkerStartError) as raised:
            pool.start()
    assert str(raised.value).startswith(
        "Celery workers failed to start: worker w1 exited: Redis is out of memory ("
    )
    assert str(raised.value).endswith("raise its maxmemory, then run again")


@pytest.mark.live
def test_a_run_whose_nodes_fail_to_start_leaves_nothing_in_redis(no_leftovers):
    """Redis with room for the run's announcement but not for its nodes' boot (its maxmemory
    300 kB above what it holds, policy noeviction): the run's announcement and config stayed
    there after the error, and `queuelab worker` could join the run that never was; nor a
    connection of the run's open on it."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        client.config_set("maxmemory", client.info("memory")["used_memory"] + 300_000)
        try:
            run_live(make(**{"workers.count": 1}), url, time_scale=0.05)
        except WorkerStartError as err:  # held while it is said, as the CLI's message holds it
            assert "Redis is out of memory" in str(err)
            assert open_connections(client) == []  # the run's client was, as long
        else:
            pytest.fail("the nodes started")
        assert client.keys("queuelab*") == []


@pytest.mark.live
def test_nodes_stopped_without_grace_get_no_warm_shutdown(tmp_path, no_leftovers):
    """A run whose Redis is lost stops its nodes with no grace: a warm shutdown would wait on
    that Redis until the grace ended (10 s of the minute a frozen Redis took to end a run), for
    rows the run can no longer read. They are SIGKILLed at once, never told of a shutdown."""
    sc = make(**{"workers.count": 1})
    (tmp_path / "scenario.toml").write_text(scenario.dumps(sc))
    with private_redis() as url:
        config = LiveConfig(url, str(tmp_path / "scenario.toml"), 0.05, 1, "nograce")
        pool = WorkerPool(config, [Node("w1", "workers", 1)], 1.0, tmp_path)
        pool.start()
        pool.stop(grace=0.0)
    assert not pool.up()["w1"]
    assert "shutdown" not in pool.log("w1").read_text()


def freeze_once(client: redis.Redis, made: str) -> threading.Thread:
    """A thread that stops Redis (SIGSTOP: a paused VM, a network that drops packets) once a key
    matching ``made`` exists; the caller resumes it (``resume``)."""

    def freeze() -> None:
        deadline = time.monotonic() + 60
        while not client.keys(made) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(client.info("server")["process_id"], signal.SIGSTOP)

    freezer = threading.Thread(target=freeze)
    freezer.start()
    return freezer


def resume(client: redis.Redis, pid: int) -> None:
    os.kill(pid, signal.SIGCONT)
    client.ping()


@pytest.mark.live
def test_nodes_waited_for_on_a_frozen_redis_are_killed_at_once(tmp_path, no_leftovers):
    """Redis frozen once a node reported ready, while the others start: the wait for them
    gives up after ``redis_server.TIMEOUT``, and the nodes got a warm shutdown, which waited on
    that Redis for the whole grace (10 s of the 32 a run took to say so). They are killed at
    once, never told of a shutdown."""
    sc = make(**{"workers.count": 4})
    (tmp_path / "scenario.toml").write_text(scenario.dumps(sc))
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        pid = client.info("server")["process_id"]
        config = LiveConfig(url, str(tmp_path / "scenario.toml"), 0.05, 1, "frozen")
        nodes = [Node(name, "workers", 1) for name, _ in sc.nodes]
        pool = WorkerPool(config, nodes, 1.0, tmp_path)
        freezer = freeze_once(client, config.key("ready"))
        try:
            with pytest.raises(redis.TimeoutError):
                pool.start()
        finally:
            freezer.join()
            resume(client, pid)
    assert not any(pool.up().values())
    assert not [n for n in pool.names if "shutdown" in pool.log(n).read_text()]


@pytest.mark.live
def test_a_redis_frozen_while_the_nodes_start_is_said_as_such(no_leftovers):
    """Frozen once the run is announced: the run says that Redis answered nothing, and for how
    long; a socket's timeout alone did not say Redis was frozen."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        pid = client.info("server")["process_id"]
        freezer = freeze_once(client, "queuelab:*:config")
        try:
            with pytest.raises(RedisUnavailable) as raised:
                run_live(make(**{"run.tasks": 10, "workers.count": 2}), url, time_scale=0.05)
        finally:
            freezer.join()
            resume(client, pid)
    assert "while the workers started (Timeout" in str(raised.value)
    assert "no answer within 10 s, as from a Redis stopped or paused" in str(raised.value)


def hang_a_node_then_stop(stop: threading.Event) -> int:
    """Freeze the first node this process spawns (a node hung in its boot), then set ``stop``
    (Ctrl-C, the Live page's Stop); returns the frozen node's pid (0: none spawned)."""
    try:
        return hang_first_node(os.getpid())
    finally:
        stop.set()


@pytest.mark.live
def test_a_stop_while_the_nodes_start_ends_the_wait_and_kills_them(tmp_path, no_leftovers):
    """Stopped while its two nodes start, one of them hung in its boot: the wait ends and
    every node it started is killed (SIGKILL, no grace: a hung node ignores a SIGTERM). The
    wait looked at no stop: it waited for the hung node until its 90 s timeout."""
    sc = make(**{"workers.count": 2})
    (tmp_path / "scenario.toml").write_text(scenario.dumps(sc))
    stop = threading.Event()
    with private_redis() as url:
        config = LiveConfig(url, str(tmp_path / "scenario.toml"), 0.05, 1, "bootstop")
        pool = WorkerPool(config, [Node(name, "workers", 1) for name, _ in sc.nodes], 1.0)
        with ThreadPoolExecutor(1) as stopper:
            hung = stopper.submit(hang_a_node_then_stop, stop)
            with pytest.raises(BootStopped):
                pool.start(stop=stop)
    assert hung.result() in {proc.pid for proc in pool.procs.values()}
    assert len(pool.procs) == 2 and not any(pool.up().values())


@pytest.mark.live
def test_a_run_stopped_while_its_nodes_start_returns_as_one_stopped_before_its_first_send(
    no_leftovers,
):
    """A run stopped (Ctrl-C, the Live page's Stop) while its nodes start, one hung in its boot:
    it returns a trace with no row, as a run stopped before its first send, never says its
    nodes are up, and leaves nothing in Redis; it waited 90 s for the hung node, then failed."""
    stop, told = threading.Event(), []
    with private_redis() as url, ThreadPoolExecutor(1) as stopper:
        hung = stopper.submit(hang_a_node_then_stop, stop)
        sc = make(**{"run.tasks": 10, "workers.count": 2})
        trace = run_live(sc, url, time_scale=0.05, stop=stop, nodes=told.append)
        assert redis.Redis.from_url(url).keys("queuelab*") == []
    assert hung.result()
    assert len(trace) == 0 and told == []


@pytest.mark.live
def test_queuelab_worker_stopped_while_its_nodes_start_leaves_at_once(no_leftovers):
    """`queuelab worker` stopped (Ctrl-C) while the nodes it adds to a run start, one hung in its
    boot: it returns without joining, its nodes killed; it waited 90 s for the hung one."""
    stop, joined = threading.Event(), []
    with private_redis() as url, ThreadPoolExecutor(1) as stopper:
        client = redis.Redis.from_url(url)
        client.hset(
            "queuelab:going:config",
            mapping={"scenario": scenario.dumps(make()), "time_scale": 0.05, "seed": 1},
        )
        client.set(CURRENT, "going")
        hung = stopper.submit(hang_a_node_then_stop, stop)
        assert join_run(url, 2, stop=stop, joined=lambda *_: joined.append(1)) is None
    assert hung.result() and joined == []


class Failing(RuntimeError):
    """What a failing ``nodes``/``joined`` callback raises (a Ctrl-C there, too)."""


def failing_callback(before: set[int], started: set[int]):
    """A ``nodes``/``joined`` callback that notes every process below this one not among
    ``before`` (the nodes the run just booted, and their pool children), then raises."""

    def fail(*_) -> None:
        started.update(alive(descendants(os.getpid()) - before))
        raise Failing

    return fail


def gone_after(started: set[int], wait: float = 20.0) -> set[int]:
    """Those of ``started`` still running after up to ``wait`` seconds (none once the run has
    stopped them); any left are killed, the test's own processes only."""
    deadline = time.monotonic() + wait
    while (left := alive(started)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


@pytest.mark.live
def test_a_run_whose_nodes_callback_fails_stops_its_nodes(no_leftovers):
    """``nodes(pool)`` raising (or a Ctrl-C coming then), after the boot and before the first
    send: the error comes out and the run's nodes are stopped. That step ran outside the
    ``try`` that stops them: they ran on, idle, until the process exited (the Streamlit
    server's: for good)."""
    started: set[int] = set()
    with private_redis() as url:
        before = descendants(os.getpid())
        with pytest.raises(Failing):
            run_live(make(**{"run.tasks": 10}), url, 0.05, nodes=failing_callback(before, started))
        assert started and not gone_after(started)


@pytest.mark.live
def test_queuelab_worker_whose_joined_callback_fails_stops_its_nodes(no_leftovers):
    """``joined(config, names)`` raising once the nodes added to a run are up: the error comes
    out and those nodes are stopped; they ran on, outside the ``try`` that stops them."""
    started: set[int] = set()
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        client.hset(
            "queuelab:going:config",
            mapping={"scenario": scenario.dumps(make()), "time_scale": 0.05, "seed": 1},
        )
        client.set(CURRENT, "going")
        before = descendants(os.getpid())
        with pytest.raises(Failing):
            join_run(url, 1, joined=failing_callback(before, started))
        assert started and not gone_after(started)


def hang_a_node_then_stop_once_another_is_ready(stop: threading.Event, url: str) -> int:
    """Freeze the first node this process spawns, then set ``stop`` once another node has
    reported ready; returns the frozen node's pid (0: none spawned)."""
    client = redis.Redis.from_url(url)
    try:
        hung = hang_first_node(os.getpid())
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any(
            client.hlen(key) for key in client.keys("queuelab:*:ready")
        ):
            time.sleep(0.05)
        return hung
    finally:
        stop.set()
        client.close()


@pytest.mark.live
def test_a_stop_while_the_nodes_start_kills_those_booting_and_warm_stops_those_up(
    tmp_path, no_leftovers
):
    """Stopped once one of its two nodes is ready, the other hung in its boot: the hung one is
    killed (it ignores a SIGTERM), the ready one gets the warm shutdown a stop after the boot
    gives (`queuelab worker`'s grace): it was SIGKILLed with whatever it ran."""
    sc = make(**{"workers.count": 2})
    (tmp_path / "scenario.toml").write_text(scenario.dumps(sc))
    stop = threading.Event()
    with private_redis() as url:
        config = LiveConfig(url, str(tmp_path / "scenario.toml"), 0.05, 1, "bootwarm")
        pool = WorkerPool(config, [Node(name, "workers", 1) for name, _ in sc.nodes], 1.0, tmp_path)
        with ThreadPoolExecutor(1) as stopper:
            hung = stopper.submit(hang_a_node_then_stop_once_another_is_ready, stop, url)
            with pytest.raises(BootStopped):
                pool.start(stop=stop)
    [booting] = [n for n, p in pool.procs.items() if p.pid == hung.result()]
    [ready] = set(pool.names) - {booting}
    assert list(pool.ready_at) == [ready]
    assert pool.procs[booting].returncode == -signal.SIGKILL
    assert "Warm shutdown" in pool.log(ready).read_text()
    assert pool.procs[ready].returncode == 0


@pytest.mark.live
def test_a_run_stopped_while_its_nodes_start_records_the_nodes_as_the_stop_found_them(
    no_leftovers,
):
    """Stopped once one of its two nodes is ready, the other hung in its boot: no task row, and
    a capacity row per node at time 0, the ready one up with its pool process, the other down
    (a run stopped at boot had none: its trace did not say which nodes had come up)."""
    stop = threading.Event()
    with private_redis() as url, ThreadPoolExecutor(1) as stopper:
        hung = stopper.submit(hang_a_node_then_stop_once_another_is_ready, stop, url)
        sc = make(**{"run.tasks": 10, "workers.count": 2})
        trace = run_live(sc, url, time_scale=0.05, stop=stop)
        assert redis.Redis.from_url(url).keys("queuelab*") == []
    assert hung.result() and len(trace) == 0
    assert [row[0] for row in trace.capacity] == [0.0, 0.0]
    assert {row[1] for row in trace.capacity} == {"w1", "w2"}
    assert sorted(row[2:] for row in trace.capacity) == [(False, 0), (True, 1)]


@pytest.mark.live
def test_queuelab_worker_stopped_while_its_nodes_start_lets_a_ready_one_end_its_task(
    tmp_path, no_leftovers
):
    """`queuelab worker` stopped while it adds two nodes to a run going on, one hung in its boot,
    the other ready and running the run's task (3 s): that task ends (SUCCESS, on that node), as
    after a stop once its nodes are up. The node was SIGKILLed with it: under early ack, lost."""
    sc = make(**{"service.dist": "constant", "service.mean": 60.0})
    (tmp_path / "scenario.toml").write_text(scenario.dumps(sc))
    stop = threading.Event()
    with private_redis() as url, ThreadPoolExecutor(2) as pool:
        client = redis.Redis.from_url(url)
        config = LiveConfig(url, str(tmp_path / "scenario.toml"), 0.05, 1, "going")
        client.hset(
            config.key("config"),
            mapping={"scenario": scenario.dumps(sc), "time_scale": 0.05, "seed": 1},
        )
        client.set(config.key("t0"), repr(time.time()))
        client.set(CURRENT, "going")
        hung = pool.submit(hang_first_node, os.getpid())
        joiner = pool.submit(join_run, url, 2, None, stop)
        assert hung.result()
        deadline = time.monotonic() + 90
        while not client.hlen(config.key("ready")) and time.monotonic() < deadline:
            time.sleep(0.05)
        with sending_app(config) as app:
            app.tasks[task_name(sc.task_types[0])].apply_async(args=[0], task_id=config.task_id(0))
        while time.monotonic() < deadline and STARTED not in {
            events.decode(row).state for row in client.lrange(config.key("events"), 0, -1)
        }:
            time.sleep(0.05)
        stop.set()
        assert joiner.result() is None
        rows = [events.decode(row) for row in client.lrange(config.key("events"), 0, -1)]
    [node] = {row.worker for row in rows if row.state == STARTED}
    assert (0, node) in {(row.task, row.worker) for row in rows if row.state == SUCCESS}


@pytest.mark.live
def test_nodes_killed_together_restart_together_a_delay_after_their_deaths(tmp_path, no_leftovers):
    """Two nodes killed at once (restart delay 2 s) both restart ≈ 2 s after their deaths, as
    the simulator's nodes each restart ``restart_delay`` after their own: the watcher slept the
    delay through in line, so the second came back 2 s after the first."""
    sc = make(**{"workers.count": 2})
    (tmp_path / "scenario.toml").write_text(scenario.dumps(sc))
    with private_redis() as url:
        config = LiveConfig(url, str(tmp_path / "scenario.toml"), 0.05, 1, "restarts")
        pool = WorkerPool(config, [Node("w1", "workers", 1), Node("w2", "workers", 1)], 2.0)
        pool.start()
        try:
            first = {name: proc.pid for name, proc in pool.procs.items()}
            for proc in pool.procs.values():
                os.killpg(proc.pid, signal.SIGKILL)
            killed = time.monotonic()
            back: dict[str, float] = {}
            while len(back) < 2 and time.monotonic() < killed + 20:
                for name, proc in list(pool.procs.items()):
                    if name not in back and proc.pid != first[name]:
                        back[name] = time.monotonic() - killed
                time.sleep(0.01)
        finally:
            pool.stop(grace=0.0)
    assert pool.crashes == 2 and sorted(back) == ["w1", "w2"], back
    assert all(1.9 < at < 4.0 for at in back.values()), back
    assert abs(back["w1"] - back["w2"]) < 1.0, back
