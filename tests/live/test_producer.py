"""The producer's sends (``live.producer``) on a real redis-server."""

import os
import signal
import threading
import time

import pytest
import redis
from kombu.exceptions import OperationalError

from live import redis_server
from live.celery_app import LiveConfig, make_app
from live.producer import produce
from live.redis_server import private_redis
from sim import scenario
from tests.sim.helpers import make

pytestmark = pytest.mark.live


def connections(client: redis.Redis) -> int:
    """The connections Redis has accepted since it started."""
    return client.info("stats")["total_connections_received"]


@pytest.mark.parametrize("stopped", [True, False])
def test_a_send_to_a_frozen_redis_is_not_retried(stopped, tmp_path, no_leftovers):
    """A Redis frozen (SIGSTOP: a paused VM, a network that drops packets): Celery retried the
    send in flight three times, each a new connection, which the frozen server's kernel takes,
    waiting ``redis_server.TIMEOUT`` for an answer: 40 s before the run counted Redis lost, and
    Ctrl-C waited them out too. No answer within ``TIMEOUT`` is a lost Redis by the run's own
    measure: the send's first timeout ends it, stopped (Ctrl-C while it waits) or not, and no
    connection but the send's own reaches Redis (one the frozen server's kernel took is
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
        before = connections(client)
        pid = client.info("server")["process_id"]
        stop = threading.Event()
        os.kill(pid, signal.SIGSTOP)
        try:
            if stopped:
                threading.Timer(1.0, stop.set).start()  # Ctrl-C while the send waits
            with pytest.raises((redis.RedisError, OperationalError)):
                produce(app, config, clock, [0.0], [kind], sent, stop)
        finally:
            os.kill(pid, signal.SIGCONT)
        app.close()
        assert len(sent) == 2
        assert connections(client) == before + 1  # each produce sends on a connection of its own
