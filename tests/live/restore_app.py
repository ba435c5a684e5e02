"""A Celery app whose node only consumes, with kombu's restore options and un-acked keys from
the environment, to measure when its restore scans run (tests/live/test_celery_restore.py)."""

import os

from celery import Celery

KEYS = os.environ["RESTORE_KEYS"]  # this measurement's own unacked hash, index and lock
app = Celery("restore", broker=os.environ["RESTORE_REDIS_URL"], set_as_current=False)
app.conf.update(
    task_default_queue=os.environ["RESTORE_QUEUE"],
    task_acks_late=True,
    broker_transport_options={
        "visibility_timeout": float(os.environ["RESTORE_VISIBILITY"]),
        "unacked_restore_interval": float(os.environ["RESTORE_INTERVAL"]),
        "unacked_restore_throttle": int(os.environ["RESTORE_THROTTLE"]),
        "unacked_key": f"{KEYS}:unacked",
        "unacked_index_key": f"{KEYS}:unacked_index",
        "unacked_mutex_key": f"{KEYS}:unacked_mutex",
    },
    worker_hijack_root_logger=False,
)
