"""The producer's sends (``live.producer``) on a real redis-server."""

import os
import signal
import threading
import time

import pytest
import redis
from kombu.exceptions import OperationalError

from live import redis_server
from live.celery_app import LiveConfig, make_app, sending_app
from live.producer import produce
from live.redis_server import private_redis
from sim import scenario
from tests.sim.helpers import make

pytestmark = pytest.mark.live


def connections(client: redis.Redis) -> int:
    """The connections Redis has accepted since it started."""
    return client.info("stats")["total_connections_received"]


def freeze(client: redis.Redis, counted: list[int]) -> None:
    """Stop Redis, counting first the connections it accepted."""
    counted.append(connections(client))
    os.kill(client.info("server")["process_id"], signal.SIGSTOP)


@pytest.mark.parametrize(("frozen", "stopped"), [("ready", True), ("send", False)])
def test_a_send_to_a_frozen_redis_is_not_retried(frozen, stopped, tmp_path, no_leftovers):
    """A Redis frozen (SIGSTOP: a paused VM, a network that drops packets): Celery retried the
    send in flight three times, each a new connection, which the frozen server's kernel takes,
    waiting ``redis_server.TIMEOUT`` for an answer: 40 s before the run counted Redis lost, and
    Ctrl-C waited them out too. No answer within ``TIMEOUT`` is a lost Redis by the run's own
    measure: the first timeout ends the run's sends, stopped (Ctrl-C while it waits) or not,
    frozen before the producer got ready for its first send or between two sends, and no
    connection but the producer's own reaches Redis (one the frozen server's kernel took is
    accepted when it resumes, and counted)."""
    path = tmp_path / "scenario.toml"
    path.write_text(scenario.dumps(make()))
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        config = LiveConfig(url, str(path), 1.0, 1, "frozen")
        app = make_app(config)
        app.conf.broker_transport_options = {
            **app.conf.broker_transport_options,
            **redis_server.GIVE_UP,
        }
        kind = config.scenario.task_types[0]
        clock = config.clock.started(time.time())
        sent: list[tuple[int, float]] = []
        produce(app, config, clock, [0.0], [kind], sent)  # the run's queue is bound
        counted: list[int] = []
        pid = client.info("server")["process_id"]
        stop = threading.Event()
        arrivals = [0.0] if frozen == "ready" else [0.0, 0.5]
        if frozen == "ready":
            freeze(client, counted)
        else:
            threading.Timer(0.25, freeze, [client, counted]).start()  # after the first send
        try:
            if stopped:
                threading.Timer(1.0, stop.set).start()  # Ctrl-C while the send waits
            with pytest.raises((redis.RedisError, OperationalError)):
                produce(
                    app,
                    config,
                    config.clock.started(time.time()),
                    arrivals,
                    [kind] * len(arrivals),
                    sent,
                    stop,
                )
        finally:
            os.kill(pid, signal.SIGCONT)
        app.close()
        tried = [] if frozen == "ready" else [0, 1]  # the second produce's sends
        assert [index for index, _ in sent] == [0, *tried]
        # no connection after the freeze but the producer's own, when it had none yet
        assert connections(client) == counted[0] + (frozen == "ready")


def test_the_first_send_finds_its_connections_ready(tmp_path, no_leftovers):
    """What the first send opened on its way out, while the tasks due meanwhile waited (the
    connection, its queue's declaration, the result backend's pub/sub subscription: 9-23 ms
    wall on a quiet host, 25-130 ms on a busy one), is open before its arrival is due."""
    path = tmp_path / "scenario.toml"
    path.write_text(scenario.dumps(make()))
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        config = LiveConfig(url, str(path), 1.0, 1, "ready")
        seen: dict[str, list] = {}
        sent: list[tuple[int, float]] = []

        def look() -> None:  # half way to the first arrival
            seen["sent"] = list(sent)
            seen["queues"] = client.keys("_kombu.binding.*")
            seen["subscribed"] = client.pubsub_channels()

        with sending_app(config) as app:
            kind = config.scenario.task_types[0]
            looking = threading.Timer(0.5, look)
            looking.start()
            produce(app, config, config.clock.started(time.time()), [1.0], [kind], sent)
            looking.join()
        client.close()
    assert seen["sent"] == []
    assert seen["queues"] == [f"_kombu.binding.{config.queue_name('celery')}".encode()]
    assert seen["subscribed"] == [f"celery-task-meta-{config.task_id(0)}".encode()]
    assert [index for index, _ in sent] == [0]
