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


def test_a_redis_that_asks_for_a_password_is_said_so_with_how_to_give_it(no_leftovers):
    """A password missing from the URL, or wrong, was told "start Redis there" (it was up)."""
    with redis_server.private_redis() as url:
        redis.Redis.from_url(url).config_set("requirepass", "sekret")
        for given, why in [
            (url, "it asks for a password, and the URL has none"),
            (url.replace("redis://", "redis://:wrong@"), "invalid username-password pair"),
        ]:
            with pytest.raises(redis_server.RedisUnavailable) as refused:
                redis_server.ping(given, remedy=redis_server.OWN_REDIS)
            said = str(refused.value)
            assert why in said and "redis://:PASSWORD@HOST:PORT/N" in said
            assert "start Redis there" not in said
            assert "wrong" not in said  # masked, as Celery prints a broker URL
        redis_server.ping(url.replace("redis://", "redis://:sekret@"))  # the remedy works


def test_a_database_redis_does_not_have_is_said_with_those_it_has(redis_url):
    """/16 on a Redis of 16 databases was told "start Redis there" (it was up)."""
    with pytest.raises(redis_server.RedisUnavailable) as refused:
        redis_server.ping(redis_url.rsplit("/", 1)[0] + "/16", remedy=redis_server.OWN_REDIS)
    said = str(refused.value)
    assert "it has 16 databases, 0-15: give one of those, not 16" in said
    assert "start Redis there" not in said
