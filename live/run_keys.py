"""A run's own keys in Redis: which they are, kept while the run lives, deleted when it ends.

On a shared Redis a run must leave nothing of its own behind. It deletes its keys when it ends;
a run killed (SIGKILL, a lost host) cannot, so every key of its own carries an expiry of
``KEEP`` that the live run renews every second, and a killed run's keys go ``KEEP`` after it.
Its own are: ``queuelab:<run_id>:<part>`` for each of ``PARTS``, its queues' lists (one per
priority step) and kombu's binding tables of its queues (``_kombu.binding.<queue>``, whose
exchange is named for the queue: no other app's). Results expire by ``result_expires``.
Kombu's hash of delivered, un-acked messages and its index are the run's own too (the
transport's ``unacked_key``, ``unacked_index_key``): shared by every app on that Redis by
default, they kept a killed run's messages for good, and the next consumer there restored them
into the dead run's queue, a list then without expiry.
"""

from __future__ import annotations

import redis

from live.celery_app import LiveConfig
from sim.rules.routing import PRIORITY_STEPS

# everything a run writes under its prefix: the announcement, scenario time 0, the nodes that
# reported ready, the workers' event rows, the executions per (task, attempt), kombu's
# delivered and un-acked messages and their index by delivery time (``celery_config``)
PARTS = ("config", "t0", "ready", "events", "executions", "unacked", "unacked_index")
# seconds a killed run's keys outlive it; long, so that only a run stalled that long (a
# suspended host) could lose its own events, and short beside a shared Redis's life
KEEP = 600
# kombu's tables of a direct exchange's bindings (kombu.transport.redis.Channel)
BINDINGS = ("_kombu.binding.{}", "_kombu.binding_permanent.{}")


def run_lists(config: LiveConfig) -> list[str]:
    """Every Redis list of the run: each queue's, one per priority step (kombu names a step's
    list ``<queue>\x06\x16<step>``, step 0 the queue itself)."""
    queues = [config.queue_name(q) for q in config.scenario.queues]
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
