"""A run's own keys in Redis: which they are, made with an expiry the live run renews, deleted
when it ends.

On a shared Redis a run must leave nothing of its own behind. It deletes its keys when it ends;
a run killed (SIGKILL, a lost host) cannot, so every key of its own carries an expiry of
``KEEP`` from the command that makes it (``ExpiringRedis``: an ``EXPIRE`` on a key not made yet
does nothing, and a key renewed only every second was kept for good by a run killed, nodes and
all, in the second after it made the key), and the live run renews it every second: a killed
run's keys go ``KEEP`` after it. Its own are: ``queuelab:<run_id>:<part>`` for each of
``PARTS``, its queues' lists (one per priority step) and kombu's binding tables of its queues
(``_kombu.binding.<queue>``, whose exchange is named for the queue: no other app's). Its tasks'
results are deleted when it ends too (``forget_results``), not renewed (a key per task): a killed
run's expire by ``result_expires``. Kombu's hash of delivered, un-acked messages and its index are
the run's own too (the transport's ``unacked_key``, ``unacked_index_key``): shared by every app
on that Redis by default, they kept a killed run's messages for good, and the next consumer there
restored them into the dead run's queue, a list then without expiry. A list or hash that empties
is gone, and the next message makes it again (a queue's list as each send finds the workers busy,
the un-acked hash at each delivery to idle workers): each making gives it its expiry. Kombu's
restore lock is the run's too (``unacked_mutex_key``) but not among these: it carries the lock's
own expiry, which a renewal would push off for as long as the run lives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import redis
from celery.backends.base import KeyValueStoreBackend
from kombu.transport import redis as kombu_redis

from sim.rules.routing import PRIORITY_STEPS

if TYPE_CHECKING:
    from live.celery_app import LiveConfig

# everything a run writes under its prefix: the announcement, scenario time 0, the nodes that
# reported ready, the workers' event rows, the executions per (task, attempt), kombu's
# delivered and un-acked messages and their index by delivery time (``celery_config``), the
# capacity samples of nodes that joined it (``live.joined_capacity``), its node autoscalers'
# decisions (``live.node_decisions``)
PARTS = (
    "config",
    "t0",
    "ready",
    "events",
    "executions",
    "unacked",
    "unacked_index",
    "joined_capacity",
    "node_decisions",
)
# seconds a killed run's keys outlive it; long, so that only a run stalled that long (a
# suspended host) could lose its own events, and short beside a shared Redis's life
KEEP = 600
# kombu's tables of a direct exchange's bindings (kombu.transport.redis.Channel)
BINDINGS = ("_kombu.binding.{}", "_kombu.binding_permanent.{}")
# the commands that make a key, as the run (its rows, counters, announcement) and kombu (a
# queue's list, the un-acked hash and index, a binding table) write them
MAKERS = frozenset({"RPUSH", "LPUSH", "HSET", "HINCRBY", "ZADD", "SADD", "SET"})


def run_lists(config: LiveConfig, queues: Iterable[str] | None = None) -> list[str]:
    """Every Redis list of the run (of its ``queues``, all by default): each queue's, one per
    priority step (kombu names a step's list ``<queue>\x06\x16<step>``, step 0 the queue
    itself)."""
    queues = [config.queue_name(q) for q in (config.scenario.queues if queues is None else queues)]
    return [q + (f"\x06\x16{step}" if step else "") for q in queues for step in PRIORITY_STEPS]


def own_keys(config: LiveConfig) -> list[str]:
    """Every key of the run's own (a key not written yet is named all the same)."""
    bindings = [b.format(config.queue_name(q)) for q in config.scenario.queues for b in BINDINGS]
    return [config.key(part) for part in PARTS] + run_lists(config) + bindings


def renew(client: redis.Redis, config: LiveConfig) -> None:
    """Push the expiry of the run's keys ``KEEP`` seconds ahead (one round trip)."""
    with client.pipeline(transaction=False) as pipe:
        for key in own_keys(config):
            pipe.expire(key, KEEP)
        pipe.execute()


def forget(client: redis.Redis, config: LiveConfig) -> None:
    """Delete the run's keys: its queues, its rows, its bindings."""
    client.delete(*own_keys(config))


RESULT = KeyValueStoreBackend.task_keyprefix  # Celery's key of a task's result, its id after
DELETES = 1000  # result keys per DEL


def forget_results(client: redis.Redis, config: LiveConfig, tasks: Iterable[int]) -> None:
    """Delete the results of the run's ``tasks``: left to ``result_expires`` (the scenario's,
    a day at time scale 1), a run on a shared Redis kept one key per task there after it
    ended, read by no one."""
    keys = [RESULT + config.task_id(task) for task in tasks]
    with client.pipeline(transaction=False) as pipe:
        for start in range(0, len(keys), DELETES):
            pipe.delete(*keys[start : start + DELETES])
        pipe.execute()


def makes_own(args: tuple, own: frozenset[str]) -> bool:
    """Whether the command ``args`` may make one of the ``own`` keys."""
    if len(args) < 2 or args[0] not in MAKERS:
        return False
    key = args[1].decode() if isinstance(args[1], bytes) else str(args[1])
    return key in own


class ExpiringRedis(redis.Redis):
    """A client whose every command that may make one of ``own`` keys sets its expiry in the
    same transaction (``MULTI``, the command, ``EXPIRE key KEEP``, ``EXEC``), so the key never
    exists without one; it returns what the command alone would."""

    def __init__(self, own: frozenset[str] = frozenset(), **kwargs) -> None:
        super().__init__(**kwargs)
        self.own = own

    def execute_command(self, *args, **options):
        if not makes_own(args, self.own):
            return super().execute_command(*args, **options)
        with self.pipeline() as pipe:
            pipe.execute_command(*args, **options)
            return pipe.execute()[0]

    def pipeline(self, transaction: bool = True, shard_hint=None) -> ExpiringPipeline:
        return ExpiringPipeline(
            self.own, self.connection_pool, self.response_callbacks, transaction, shard_hint
        )


class ExpiringPipeline(redis.client.Pipeline):
    """``ExpiringRedis``'s pipeline: each queued command that may make an own key is followed
    by its ``EXPIRE``, whose reply ``execute`` leaves out. Kombu queues its writes in
    transactions (a delivery's hash and index, a restore), so there the two are atomic too."""

    def __init__(self, own: frozenset[str], *args) -> None:
        super().__init__(*args)
        self.own = own
        self.expiries: set[int] = set()  # positions in the command stack of the added EXPIREs

    def reset(self) -> None:
        super().reset()
        self.expiries = set()

    def pipeline_execute_command(self, *args, **options) -> ExpiringPipeline:
        super().pipeline_execute_command(*args, **options)
        if makes_own(args, self.own):
            super().pipeline_execute_command("EXPIRE", args[1], KEEP)
            self.expiries.add(len(self.command_stack) - 1)
        return self

    def execute(self, raise_on_error: bool = True) -> list:
        added = self.expiries  # execute resets the pipeline
        replies = super().execute(raise_on_error)
        return [reply for i, reply in enumerate(replies) if i not in added]


def client(config: LiveConfig, **options) -> ExpiringRedis:
    """A client of the run's Redis that makes the run's keys with their expiry; ``options``
    are its connections' (``socket_timeout``…)."""
    pool = redis.ConnectionPool.from_url(config.redis_url, **options)
    made = ExpiringRedis(frozenset(own_keys(config)), connection_pool=pool)
    made.auto_close_connection_pool = True
    return made


class Channel(kombu_redis.Channel):
    """Kombu's Redis channel whose client is an ``ExpiringRedis`` of the transport option
    ``own_keys``: a queue's list, the un-acked hash and index and the binding tables of the
    run are made with their expiry, by the producer and by every node."""

    from_transport_options = kombu_redis.Channel.from_transport_options + ("own_keys",)
    own_keys: tuple[str, ...] = ()

    def _get_client(self):
        own = frozenset(self.own_keys)
        return lambda **kwargs: ExpiringRedis(own, **kwargs)


class Transport(kombu_redis.Transport):
    """Kombu's Redis transport on ``Channel`` (Celery's ``broker_transport``)."""

    Channel = Channel
