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

from live.celery_app import LiveConfig, make_app
from live.redis_server import private_redis
from live.run import run_live
from live.run_keys import KEEP, MAKERS, ExpiringRedis, own_keys
from sim import scenario as scenario_module
from sim.rules.states import SUCCESS
from tests.conftest import descendants, leftovers
from tests.sim.helpers import CRASHY, crashing_tasks, make

pytestmark = pytest.mark.live

QUEUELAB = [sys.executable, "-m", "queuelab.cli"]


def test_an_ended_run_leaves_only_its_expiring_results(no_leftovers):
    """Kombu's binding tables of the run's queues (``_kombu.binding.queuelab-<run>-celery``)
    stayed after every run, and piled up on a shared Redis; nor does its nodes' remote control
    leave kombu's keys of it (its table of bindings and their deadlines). A Redis of its own: on
    the session's, another test's processes write keys of their own meanwhile."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        run_live(make(**{"run.tasks": 10, "workers.count": 1}), url, time_scale=0.02)
        left = {key.decode() for key in client.keys("*")}
        assert all(key.startswith("celery-task-meta-") for key in left), left
        assert all(client.ttl(key) > 0 for key in left)  # result_expires


def test_a_killed_runs_keys_expire(no_leftovers):
    """SIGKILL: the run cannot delete its keys, which stayed for good (its events, one counter
    per execution, its queue, its bindings); each now expires within ``KEEP`` seconds."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        before = descendants(os.getpid())
        proc = live_mmc(url)
        deadline = time.monotonic() + 120
        while not any(client.llen(key) > 50 for key in client.keys("queuelab:*:events")):
            assert time.monotonic() < deadline and proc.poll() is None, "the run never began"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not leftovers(before)  # its nodes saw it die, and died with it
        run_id = client.keys("queuelab:*:events")[0].decode().split(":")[1]
        own = own_ttls(client, run_id)
        assert {f"queuelab:{run_id}:events", f"_kombu.binding.queuelab-{run_id}-celery"} <= set(own)
        assert all(0 < ttl <= KEEP for ttl in own.values()), own
        assert not naming(client, run_id)


def naming(client: redis.Redis, run_id: str) -> list[bytes]:
    """Members naming run ``run_id`` in kombu's binding tables shared with other apps, such as
    its remote control's (``_kombu.binding.celery.pidbox``), which every app's nodes on that
    Redis keep refreshing: a killed run's nodes' members stayed there for good."""
    shared = [k for k in client.keys("_kombu.binding*") if run_id.encode() not in k]
    sets = [k for k in shared if client.type(k) == b"set"]
    return [m for k in sets for m in client.smembers(k) if run_id.encode() in m]


def live_mmc(url: str) -> subprocess.Popen:
    """``queuelab live`` of mmc on ``url``: 300 tasks at time scale 0.05, its output dropped."""
    return subprocess.Popen(
        [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", url, "--time-scale", "0.05"]
        + ["--set", "run.tasks=300"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def own_ttls(client: redis.Redis, run_id: str) -> dict[str, int]:
    """The TTL of each key of run ``run_id``'s own (its results, which expire by
    ``result_expires``, left out)."""
    keys = [k for k in client.keys(f"*{run_id}*") if not k.startswith(b"celery-task-meta-")]
    return {key.decode(): client.ttl(key) for key in keys}


def test_each_command_that_makes_a_key_of_the_run_gives_it_its_expiry(redis_url):
    """An EXPIRE on a key not made yet does nothing, so a key renewed every second had none
    for up to a second after it was made; each is now made with it, in the same transaction,
    and the caller gets the command's own reply, alone or in a pipeline."""
    own = [f"queuelab:test-makers:{maker}" for maker in sorted(MAKERS)]
    client = ExpiringRedis(frozenset(own), connection_pool=redis.ConnectionPool.from_url(redis_url))
    other = "queuelab:test-makers:not-its-own"
    client.delete(*own, other)
    try:
        hset, hincrby, lpush, rpush, sadd, set_, zadd = own
        assert client.hset(hset, "field", 1) == 1
        assert [client.hincrby(hincrby, "n") for _ in range(2)] == [1, 2]
        assert client.lpush(lpush, "a", "b") == 2
        with client.pipeline() as pipe:
            replies = pipe.rpush(rpush, "a").sadd(sadd, "m").set(set_, "v").llen(rpush).execute()
        assert replies == [1, 1, True, 1]
        assert client.zadd(zadd, {"m": 1.0}) == 1
        client.rpush(other, "a")
        assert {key: 0 < client.ttl(key) <= KEEP for key in own} == dict.fromkeys(own, True)
        assert client.ttl(other) == -1  # not the run's: left as it was
    finally:
        client.delete(*own, other)
        client.close()


def test_kombu_makes_the_runs_queue_unacked_and_bindings_with_their_expiry(redis_url, tmp_path):
    """The run's Celery app sends (the queue's list, the binding tables), a consumer takes the
    message without acking (kombu's un-acked hash and index), gives it back (a restore makes
    the list again): every key of the run's own has its expiry as soon as it exists."""
    path = tmp_path / "scenario.toml"
    path.write_text(scenario_module.dumps(make(**{"run.tasks": 1})))
    config = LiveConfig(redis_url, str(path), 1.0, 1, "kombutest")
    app = make_app(config)
    client = redis.Redis.from_url(redis_url)

    def made() -> dict[str, int]:
        return {k: client.ttl(k) for k in own_keys(config) if client.exists(k)}

    queue = config.queue_name("celery")
    try:
        app.send_task("queuelab.task", args=[0], task_id=config.task_id(0))
        assert {queue, f"_kombu.binding.{queue}"} <= made().keys()
        with app.connection_for_read() as conn, conn.SimpleQueue(queue) as consumer:
            message = consumer.get(timeout=10)
            assert {config.key("unacked"), config.key("unacked_index")} <= made().keys()
            assert queue not in made()
            message.requeue()
            assert queue in made()
            assert all(0 < ttl <= KEEP for ttl in made().values()), made()
    finally:
        client.delete(*own_keys(config))
        client.close()
        app.close()


@pytest.mark.parametrize("part", ["ready", "events"])
def test_a_run_killed_with_its_nodes_as_it_makes_a_key_leaves_none_without_expiry(
    part, no_leftovers
):
    """The run and its nodes SIGKILLed at once (a lost host, an OOM-killed container) right
    after a key of its own is made: its first node ready (``ready``), its first event row
    (``events``, with the message's un-acked hash and index just before). A key made since
    the run's last renewal (every second) had no expiry yet, and nothing was left to renew it:
    it stayed in the user's Redis for good. Every key the run made now expires."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        before = descendants(os.getpid())
        proc = live_mmc(url)
        deadline = time.monotonic() + 120
        nodes: list[int] = []
        while len(nodes) < 4:  # mmc's four nodes, each the leader of its process group
            assert time.monotonic() < deadline and proc.poll() is None, "no nodes started"
            nodes = [pid for pid in descendants(proc.pid) if pid == group_of(pid)]
            time.sleep(0.05)
        while not client.keys(f"queuelab:*:{part}"):
            assert time.monotonic() < deadline and proc.poll() is None, f"no {part} made"
        for node in nodes:
            os.killpg(node, signal.SIGKILL)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not leftovers(before)
        run_id = client.keys(f"queuelab:*:{part}")[0].decode().split(":")[1]
        made = own_ttls(client, run_id)
        assert f"queuelab:{run_id}:{part}" in made
        assert all(0 < ttl <= KEEP for ttl in made.values()), made


def group_of(pid: int) -> int | None:
    """The process group of ``pid`` (None once it has gone)."""
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


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
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not leftovers(descendants(os.getpid()) - descendants(proc.pid))
        with Connection(url, transport_options={"visibility_timeout": 0}) as later:
            later.default_channel.qos.restore_visible(interval=1)
        own = own_ttls(client, run_id)
        assert all(0 < ttl <= KEEP for ttl in own.values()), own
        assert held(client) == 4  # none restored
        assert client.hlen(f"queuelab:{run_id}:unacked") == 4  # its own


def test_another_apps_restore_lock_does_not_stall_the_runs_redeliveries(no_leftovers):
    """Kombu's restore scan takes a lock in Redis, ``unacked_mutex`` for every app on it by
    default: another app's node that died holding it (the lock lives 300 s by default) stopped
    the run's nodes from restoring the messages of the nodes its crashes killed (late ack), and
    the run ended with those tasks lost; a node the run killed while it held the lock stopped
    the other app's restores as long. The run's lock is its own."""
    sc = make(**CRASHY, **{"ack.late": True})
    assert crashing_tasks(sc), "the scenario must draw a crash, whose message is restored"
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        client.set("unacked_mutex", "another-apps-dead-node", px=300_000)
        trace = run_live(sc, url, time_scale=0.05)
    ended = set(trace.task[trace.state == SUCCESS].tolist())
    assert ended == set(range(40))
