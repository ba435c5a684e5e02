"""A private ``redis-server`` for one run, or a check that the user's Redis answers.

The private server listens on a free loopback port, keeps nothing on disk (its own temp dir, no
RDB or AOF) and is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import kombu
import redis
from kombu.utils.url import sanitize_url

from live.lifeline import die_with_parent, workdir

INSTALL_HINT = (
    "install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) "
    "or pass --redis-url redis://HOST:PORT/0"
)


class RedisUnavailable(RuntimeError):
    """No Redis to run on; the message says how to get one."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


OWN_REDIS = "start Redis there, or leave out --redis-url and a private redis-server is started"
# wall s a command of a run's may wait for Redis before the run counts it lost: a frozen Redis
# (a stopped process, a paused VM, a network that drops packets) answers nothing and closes
# nothing, and the run hung on it for good, Ctrl-C included
TIMEOUT = 10.0
# the same bound for a Celery app's connections: kombu's broker transport options
GIVE_UP = {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT}


def shown(url: str) -> str:
    """``url`` as a message prints it: its password masked (``redis://:**@HOST``), as Celery
    prints a broker URL; every refusal and loss printed it to the terminal and its logs."""
    return sanitize_url(url) if urlsplit(url).password else url


def unanswered(err: object) -> bool:
    """Whether ``err``, or an error it was raised from, is Redis answering nothing within
    ``TIMEOUT``: frozen, where a refused connection is a Redis down, or restarting."""
    while err is not None:
        if isinstance(err, (redis.TimeoutError, TimeoutError)):
            return True
        err = getattr(err, "__cause__", None)
    return False


def described(err: object) -> str:
    """``err`` as the user reads it: a socket's timeout alone does not say that Redis is
    frozen, nor what freezes one."""
    if unanswered(err):
        return (
            f"{err}: no answer within {TIMEOUT:g} s, as from a Redis stopped or paused, or a "
            "network that drops packets"
        )
    return str(err)


FULL = "free memory there or raise its maxmemory"  # the remedy for a Redis out of memory


def out_of_memory(err: object) -> bool:
    """Whether ``err`` (an error, or the line a process wrote) is Redis refusing a write at its
    ``maxmemory`` (policy noeviction): it is up, and nothing is lost until it has room."""
    return "maxmemory" in str(err)


def lost(url: str, err: object, doing: str, remedy: str) -> str:
    """What to tell a user whose Redis failed them ``doing`` something, and ``remedy``; a Redis
    out of memory is not a lost one and has its own remedy (it read 'lost Redis ...; start
    Redis there')."""
    if out_of_memory(err):
        return f"Redis at {shown(url)} is out of memory {doing} ({err}); {FULL}"
    return f"lost Redis at {shown(url)} {doing} ({described(err)}); {remedy}"


def client(url: str) -> redis.Redis:
    """A client of a run's Redis whose commands give up after ``TIMEOUT``."""
    return redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)


def options_refused(url: str) -> str | None:
    """Why redis-py or Celery's kombu refuses ``url``'s options (its query:
    ``?socket_timeout=abc``, ``?foo=1``), or None. A run gives the URL to both, and each reads
    them only when it makes a connection: they raised a ValueError or a TypeError there, a
    traceback or every worker failing, after a private redis-server could have started.
    ``?socket_timeout=5`` is redis-py's and no option of kombu's."""
    try:
        redis.ConnectionPool.from_url(url).make_connection()
        kombu.Connection(url)
    except (ValueError, redis.RedisError) as err:  # a value it cannot read; protocol=9
        return f"its options are refused: {err}"
    except TypeError as err:  # "Connection._init_params() got … keyword argument 'foo'"
        name = str(err).rpartition(" ")[2]
        return (
            f"option {name} is not one both redis-py and Celery's kombu take, and a run "
            f"gives the URL to both ({err}): leave it out"
        )
    return None


PASSWORD = (
    "give its password in the URL: redis://:PASSWORD@HOST:PORT/N, or "
    "redis://USER:PASSWORD@HOST:PORT/N for an ACL user"
)


def ping(url: str, timeout: float = 3.0, remedy: str = "") -> None:
    """Raise RedisUnavailable unless ``url`` answers PING within ``timeout`` seconds; its
    message ends with ``remedy``, what the user can do about it, unless Redis said what is
    wrong with the URL itself: a password missing or wrong, a database it does not have (both
    read "start Redis there", to a user whose Redis was up)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    then = f"; {remedy}" if remedy else ""
    try:
        client.ping()
    except redis.AuthenticationError as err:  # a ConnectionError too: caught first
        given = client.connection_pool.connection_kwargs.get("password") is not None
        why = str(err).rstrip(". ") if given else "it asks for a password, and the URL has none"
        raise RedisUnavailable(
            f"Redis at {shown(url)} refused the connection: {why}; {PASSWORD}"
        ) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as err:
        why = str(err).rstrip(". ")
        raise RedisUnavailable(f"cannot reach Redis at {shown(url)}: {why}{then}") from None
    except redis.ResponseError as err:
        if "DB index is out of range" in str(err):
            then = f"; {_databases(client)}"
        raise RedisUnavailable(f"Redis at {shown(url)} refused PING: {err}{then}") from None
    except redis.RedisError as err:
        raise RedisUnavailable(f"Redis at {shown(url)} refused PING: {err}{then}") from None
    finally:
        client.close()


def _databases(client: redis.Redis) -> str:
    """What to give instead of a database number ``client``'s Redis does not have."""
    pool = client.connection_pool
    db = pool.connection_kwargs.get("db", 0)
    first = redis.Redis(
        connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class, **{**pool.connection_kwargs, "db": 0}
        )
    )
    try:
        count = int(first.config_get("databases")["databases"])
    except (redis.RedisError, OSError, KeyError, ValueError):  # CONFIG renamed or refused
        return (
            f"it has no database {db}: give a lower number, from 0 (its `databases`, 16 by default)"
        )
    finally:
        first.close()
    return f"it has {count} databases, 0-{count - 1}: give one of those, not {db}"


@contextlib.contextmanager
def private_redis(startup_timeout: float = 10.0) -> Iterator[str]:
    """Start ``redis-server`` from PATH on a free loopback port; yield its URL; stop it."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable(f"no redis-server on PATH: {INSTALL_HINT}")
    with workdir("redis") as folder:
        proc, url = _started(binary, folder, startup_timeout)
        try:
            yield url
        finally:
            stop_process(proc)


START_TRIES = 3  # ports tried: one found free can be taken before redis-server binds it


def _started(binary: str, folder: Path, timeout: float) -> tuple[subprocess.Popen, str]:
    """Our redis-server, answering on a free loopback port, and its URL. A port found free can
    be taken before the server binds it (another run starting beside this one): the server
    then exits and another port is tried. A server that answers there and is not ours is never
    used: the run would go on someone else's Redis, and end when that one stops."""
    for _ in range(START_TRIES):
        port = free_port()
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us, not it: we stop it after the workers
            preexec_fn=die_with_parent,  # but if we are killed, it goes too
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            if _answers_as(proc, url, timeout):
                return proc, url
        except BaseException:
            stop_process(proc)
            raise
    raise RedisUnavailable(
        f"redis-server exited at start (code {proc.returncode}), on {START_TRIES} free ports"
    )


def _answers_as(proc: subprocess.Popen, url: str, timeout: float) -> bool:
    """Whether ``proc`` answers on ``url`` within ``timeout`` seconds (False: it exited)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            with contextlib.suppress(redis.RedisError, OSError):
                if client.info("server")["process_id"] == proc.pid:
                    return True
            if time.monotonic() > deadline:
                raise RedisUnavailable(f"redis-server did not answer within {timeout:g}s")
            time.sleep(0.05)
        return False
    finally:
        client.close()


def stop_process(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM, and SIGKILL if it has not exited within ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def redis_for_run(url: str | None) -> Iterator[str]:
    """The user's Redis (checked to answer) or, without a URL, a private one."""
    if url:
        ping(url, remedy=OWN_REDIS)
        yield url
    else:
        with private_redis() as private:
            yield private
