"""A live run: the scenario on a real Redis with real Celery workers, returned as a trace.

Redis (private or the user's) → workers started and ready → the producer replays the arrivals →
wait until every task has ended or the drain deadline passes (then the rest count as lost) →
workers stopped → the collector turns what happened into the simulator's trace format.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis

from live.celery_app import LiveConfig, make_app, restore_interval
from live.collector import Collector
from live.producer import produce
from live.redis_server import redis_for_run
from live.workers import WorkerPool
from sim import scenario as scenario_module
from sim.distributions import service_mean
from sim.draws import Draws
from sim.retry import backoff_cap
from sim.scenario import Scenario, ScenarioError
from sim.trace import Trace

MIN_SERVICE_WALL = 0.002  # below ~2 ms of scaled work, Celery's own overhead dominates


WORKER_BOOT = 5.0  # wall seconds for a restarted Celery worker to consume again


def default_drain(sc: Scenario, time_scale: float) -> float:
    """Wall seconds to wait after the last event: enough for the work, the retries and a
    visibility-timeout redelivery (with kombu's restore scan and a worker's reboot), but
    finite, so an early-ack crash's lost task cannot hang the run."""
    r = sc.retry
    retry_wait = (
        r.countdown if r.backoff == 0 else backoff_cap(r.max_retries, r.backoff, r.backoff_max)
    )
    wait = (20 * service_mean(sc.service) + r.max_retries * retry_wait) * time_scale + 2.0
    if sc.failures.crash_probability > 0 or r.countdown > sc.ack.visibility_timeout:
        visibility = sc.ack.visibility_timeout * time_scale
        wait += visibility + restore_interval(visibility) + WORKER_BOOT
        wait += sc.workers.restart_delay * time_scale
    return wait


def check_live(sc: Scenario) -> None:
    """Refuse what only the simulator models, saying which field to change."""
    w = sc.workers
    if w.deploy_every:
        raise ScenarioError(
            f"workers.deploy_every = {w.deploy_every:g}: rolling deploys are simulated only; "
            "a live run keeps its workers up. Set workers.deploy_every = 0 to run it live."
        )
    if w.cores:
        raise ScenarioError(
            f"workers.cores = {w.cores}: live tasks sleep rather than compute, so CPU "
            "contention is simulated only. Set workers.cores = 0 to run it live."
        )


def run_live(
    sc: Scenario,
    redis_url: str | None = None,
    time_scale: float = 1.0,
    seed: int | None = None,
    drain: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
    watch: Callable[[Trace], None] | None = None,
) -> Trace:
    """Run ``sc`` for real and return its trace (times in scenario seconds).

    ``progress(done, submitted)`` and ``watch(trace so far)`` are called while it runs;
    setting ``stop`` ends it early, cleanly.
    """
    check_live(sc)
    seed = sc.seed if seed is None else seed
    draws = Draws(sc, seed)
    stop = stop or threading.Event()
    with redis_for_run(redis_url) as url, tempfile.TemporaryDirectory(prefix="queuelab-") as tmp:
        path = Path(tmp) / "scenario.toml"
        path.write_text(scenario_module.dumps(sc))
        config = LiveConfig(url, str(path), time_scale, seed, uuid.uuid4().hex[:10])
        app = make_app(config)
        client = redis.Redis.from_url(url)
        names = [f"w{i + 1}" for i in range(sc.workers.count)]
        pool = WorkerPool(
            config, names, sc.workers.concurrency, sc.workers.restart_delay * time_scale
        )
        announce(client, config, path.read_text())
        pool.start()
        collector = Collector(client, config, names, time.time() + 0.05)
        client.set(config.key("t0"), repr(collector.t0))  # scenario time 0, for outages
        finished = threading.Event()
        watcher = threading.Thread(
            target=_watch, args=(collector, finished, progress, watch), daemon=True
        )
        watcher.start()
        try:
            produce(app, config, draws.arrivals.tolist(), collector.t0, collector.pending, stop)
            wait = drain * time_scale if drain is not None else default_drain(sc, time_scale)
            # the deadline slides with activity: a chain of redeliveries keeps the run alive,
            # while a task lost for good (early ack) ends it ``wait`` after the last event
            deadline, seen = time.time() + wait, len(collector.rows)
            while len(collector.done) < len(collector.pending) and time.time() < deadline:
                if stop.wait(0.05):
                    break
                if len(collector.rows) != seen:
                    deadline, seen = time.time() + wait, len(collector.rows)
        finally:
            finished.set()
            watcher.join()
            pool.stop()
            app.close()
        collector.poll()  # anything recorded while stopping
        _forget(client, config)
        client.close()
    return collector.trace()


def _watch(collector: Collector, finished: threading.Event, progress, watch) -> None:
    """Read the workers' rows as they come, for the drain check, progress and watchers."""
    last_watch = 0.0
    while not finished.wait(0.05):
        collector.poll()
        if progress:
            progress(len(collector.done), len(collector.pending))
        if watch and time.monotonic() - last_watch > 0.5:
            watch(collector.trace())
            last_watch = time.monotonic()


CURRENT = "queuelab:current"  # the run that `queuelab worker` on another machine joins


def announce(client: redis.Redis, config: LiveConfig, scenario_toml: str) -> None:
    """Publish the run's id, time scale, seed and scenario for workers joining from elsewhere."""
    client.hset(
        config.key("config"),
        mapping={"scenario": scenario_toml, "time_scale": config.time_scale, "seed": config.seed},
    )
    client.set(CURRENT, config.run_id)


def joined_config(client: redis.Redis, redis_url: str, workdir: Path) -> LiveConfig | None:
    """The config of the run now announced on this Redis, or None if there is none."""
    run_id = client.get(CURRENT)
    if run_id is None:
        return None
    run_id = run_id.decode()
    fields = client.hgetall(f"queuelab:{run_id}:config")
    if not fields:
        return None
    path = workdir / f"{run_id}.toml"
    path.write_bytes(fields[b"scenario"])
    return LiveConfig(
        redis_url, str(path), float(fields[b"time_scale"]), int(fields[b"seed"]), run_id
    )


def _forget(client: redis.Redis, config: LiveConfig) -> None:
    """Delete the run's own keys and queue from the broker (matters on a shared Redis)."""
    keys = list(client.scan_iter(match=f"queuelab:{config.run_id}:*")) + [config.queue]
    if client.get(CURRENT) == config.run_id.encode():
        keys.append(CURRENT)
    client.delete(*keys)
