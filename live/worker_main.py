"""Entry point of a worker process: ``celery -A live.worker_main worker`` with QUEUELAB_LIVE set."""

from live.celery_app import LiveConfig, make_app

app = make_app(LiveConfig.from_env())
