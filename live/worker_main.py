"""Entry point of a worker process: ``celery -A live.worker_main worker`` with QUEUELAB_LIVE set.

The node dies with the process that started it (``live.lifeline``), so no worker outlives a
killed ``queuelab live``; the keys the run made expire without it (``live.run_keys``).
"""

from live.celery_app import LiveConfig, make_app
from live.lifeline import watch_parent

CONFIG = LiveConfig.from_env()
watch_parent()
app = make_app(CONFIG)
