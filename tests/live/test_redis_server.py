"""The private redis-server of a run: on a free loopback port, and its own."""

import pytest
import redis

from live import redis_server

pytestmark = pytest.mark.live


def test_a_port_taken_before_the_server_binds_it_gives_no_one_elses_redis(
    redis_url, monkeypatch, no_leftovers
):
    """A port found free can be taken before redis-server binds it (here by the session's
    Redis): the private Redis is then a server of its own on another port. It was the one
    found there, so the run would have gone on it and ended when that one stopped."""
    taken = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    ports = iter([taken])
    free = redis_server.free_port
    monkeypatch.setattr(redis_server, "free_port", lambda: next(ports, None) or free())
    other = redis.Redis.from_url(redis_url).info("server")["process_id"]
    with redis_server.private_redis() as url:
        assert url != redis_url
        assert redis.Redis.from_url(url).info("server")["process_id"] != other
