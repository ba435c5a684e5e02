"""What the Celery measurements share (test_celery_routing, test_celery_autoscale): a measuring
app of this folder bound to the session's Redis, a client whose runs list starts empty, and a
live run whose nodes' processes are looked at closely (test_capacity, test_autoscale_tick)."""

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import redis

from live.capacity import CapacitySampler
from live.run import run_live
from sim.scenario import Scenario
from sim.trace import Trace

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


@contextlib.contextmanager
def celery_node(redis_url: str, module: str, args: list[str], env: dict[str, str]):
    """``celery -A module worker --pool prefork ARGS`` of this folder, with ``env`` added,
    yielded (its process) once a BRPOP is waiting on ``redis_url``; killed with its group."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", module, "worker", "--pool", "prefork", *args]
        + ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"],
        env={**os.environ, **env, "PYTHONPATH": str(HERE)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 60
        while not any(c.get("cmd") == "brpop" for c in client.client_list()):
            assert time.monotonic() < deadline and proc.poll() is None, "the node did not start"
            time.sleep(0.05)
        yield proc
    finally:
        client.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def fixed_node(redis_url: str, acks_late: bool, multiplier: int, name: str = "cost"):
    """A ``--concurrency 1`` node of ``autoscale_app`` on its own queue (``name``-<hex>),
    consuming once entered: (its queue's name, the node)."""
    queue = f"{name}-{uuid.uuid4().hex[:8]}"
    env = {
        "AUTOSCALE_REDIS_URL": redis_url,
        "AUTOSCALE_MULTIPLIER": str(multiplier),
        "AUTOSCALE_ACKS_LATE": "1" if acks_late else "0",
    }
    args = ["--concurrency", "1", "-Q", queue, "--hostname", f"{queue}@test"]
    return queue, celery_node(redis_url, "autoscale_app", args, env)


def closely_sampled_run(sc: Scenario, redis_url: str) -> tuple[Trace, list]:
    """``sc`` run live at time scale 1, its nodes' processes looked at every 0.2 s besides the
    run's own 0.5 s sampler: (the trace, the close looks as ``CapacitySampler.samples``)."""
    samplers = []

    def sample(pool) -> None:
        samplers.append(CapacitySampler(pool, interval=0.2))
        samplers[0].start()

    trace = run_live(sc, redis_url, time_scale=1.0, nodes=sample)
    samplers[0].stop()
    return trace, samplers[0].samples
