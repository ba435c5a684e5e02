"""What the Celery measurements share (test_celery_routing, test_celery_autoscale): a measuring
app of this folder bound to the session's Redis, and a client whose runs list starts empty."""

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import redis

HERE = Path(__file__).parent


@contextlib.contextmanager
def measuring_app(module: str, env: str, redis_url: str) -> Iterator[ModuleType]:
    """This folder's ``module`` imported with ``env`` naming ``redis_url`` (the app reads it at
    import), as the worker nodes import it."""
    os.environ[env] = redis_url
    sys.path.insert(0, str(HERE))
    try:
        yield importlib.import_module(module)
    finally:
        sys.path.remove(str(HERE))


@contextlib.contextmanager
def runs_client(redis_url: str, runs: str) -> Iterator[redis.Redis]:
    """A Redis client; the list ``runs`` starts empty."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.delete(runs)
    try:
        yield client
    finally:
        client.close()
