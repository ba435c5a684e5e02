"""Entry point of a worker process: ``celery -A live.worker_main worker`` with QUEUELAB_LIVE set.

The node dies with the process that started it (``live.lifeline``), so no worker outlives a
killed ``queuelab live``; its last act renews the expiry of the run's keys, so that those the
run made since its last renewal go too (``live.run_keys``).
"""

import contextlib

import redis

from live import redis_server
from live.celery_app import LiveConfig, make_app
from live.lifeline import watch_parent
from live.run_keys import renew


def _renew_the_runs_keys() -> None:
    with contextlib.suppress(redis.RedisError), redis_server.client(CONFIG.redis_url) as client:
        renew(client, CONFIG)


CONFIG = LiveConfig.from_env()
watch_parent(last=_renew_the_runs_keys)
app = make_app(CONFIG)
