"""Bare Celery with a live worker's settings, the baseline of ``bench/live_overhead.py``.

The app takes ``live.celery_app.celery_config`` whole (ack mode, prefetch, concurrency, result
backend, ``task_track_started``, events off, time limits, visibility timeout, queues) but for
what is queuelab's own: kombu's plain Redis transport in place of ``live.run_keys.Transport``
(whose writes carry their key's expiry), Celery's own ``Request``, no signal handlers, and a
task that only sleeps its task type's mean service × time scale (a constant service, as the
benchmark's scenario draws). What queuelab's node costs beyond this node is queuelab's.
Started as ``celery -A bench.bare_celery worker`` with ``live.workers.worker_command``'s
arguments and the same ``QUEUELAB_LIVE`` environment; it says it is ready in the run's
``ready`` hash, once, as a live node does.
"""

from __future__ import annotations

import time

import redis
from celery import Celery, signals

from live.celery_app import LiveConfig, celery_config, task_name, wall_rate
from sim.engine.distributions import service_mean
from sim.rules import retry

CONFIG = LiveConfig.from_env()


def bare_config(config: LiveConfig) -> dict:
    """The live worker's Celery settings without queuelab's own transport."""
    settings = celery_config(config)
    del settings["broker_transport"]
    settings["broker_transport_options"] = {
        k: v for k, v in settings["broker_transport_options"].items() if k != "own_keys"
    }
    return settings


app = Celery("bare", set_as_current=False)
app.conf.update(bare_config(CONFIG))
wall = CONFIG.clock.wall_seconds
for kind in CONFIG.scenario.task_types:
    work = wall(service_mean(kind.service))

    def sleep(task: int, work: float = work) -> None:
        time.sleep(work)

    app.task(
        name=task_name(kind),
        max_retries=retry.celery_max_retries(kind.retry.max_retries),
        rate_limit=wall_rate(kind.rate_limit, CONFIG.time_scale),
        soft_time_limit=wall(kind.soft_time_limit) or None,
        time_limit=wall(kind.time_limit) or None,
    )(sleep)


@signals.worker_ready.connect
def _ready(sender=None, **_):
    client = redis.Redis.from_url(CONFIG.redis_url)
    client.hset(CONFIG.key("ready"), sender.hostname, repr(time.time()))
    client.close()
