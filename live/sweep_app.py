"""Sweeps on a Celery cluster: each replication of a sweep is one Celery task on Redis, so every
machine running a sweep worker on that Redis takes a share of a capacity study.

The task runs ``sim.analysis.sweep.run_point``, the local sweep's own replication, on the scenario
sent as TOML text (JSON messages: a worker never unpickles what a shared broker hands it), and
returns the Summary as plain data through the result backend: the same seeds give the same
numbers. Late ack with ``reject_on_worker_lost``: a replication whose pool child dies is requeued
at once; one whose whole worker dies stays un-acked in Redis and comes back after the visibility
timeout, to whichever worker is up; one that is nowhere (a killed worker's BRPOP took it) is sent
again. Workers: ``queuelab sweep-worker --redis-url URL``, or
``QUEUELAB_SWEEP_REDIS=URL celery -A live.sweep_app worker``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from celery import Celery
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from live.celery_app import unacked_mutex_expire
from live.redis_server import (
    GIVE_UP,
    TIMEOUT,
    RedisUnavailable,
    client,
    lost,
    ping,
    shown,
)
from sim import costs
from sim import scenario as scenario_module
from sim.analysis.metrics import Summary
from sim.analysis.sweep import Stopped, run_point
from sim.scenario import Scenario

QUEUE = "queuelab-sweep"  # one list on the broker, shared by every sweep and sweep worker
TASK = "queuelab.sweep.replication"
URL_ENV = "QUEUELAB_SWEEP_REDIS"  # the broker of `celery -A live.sweep_app worker`
VISIBILITY = 3600.0  # wall seconds: a replication running longer is run again elsewhere
# kombu's un-acked hash, its index and the restore lock, the sweep's own: by default they are
# shared by every app on the Redis, whose node dying with the lock held (it lives 300 s) stalled
# the restore of a killed sweep worker's replications (a live run's are its own too)
UNACKED = f"{QUEUE}:unacked"
UNACKED_KEYS = {
    "unacked_key": UNACKED,
    "unacked_index_key": f"{QUEUE}:unacked_index",
    "unacked_mutex_key": f"{QUEUE}:unacked_mutex",
}
POLL = 0.5  # wall seconds between looks at the results
QUIET = 10.0  # wall seconds without a result before saying whether any worker took one
REMIND = 60.0  # and then how often to say it again
RECHECK = 1.0  # wall seconds between two looks that must both find a replication nowhere
REMEDY = "start Redis there, or leave out --redis-url to sweep on this machine's cores"


class SweepFailed(RuntimeError):
    """A replication raised on its worker (say, a scenario file the worker cannot read)."""


def replication(scenario_toml: str, field: str, value: Any, rep: int) -> dict:
    """One replication, exactly as the local sweep runs it; its Summary as plain data."""
    return run_point(scenario_module.loads(scenario_toml), {field: value}, rep).to_dict()


def make_app(redis_url: str, visibility: float = VISIBILITY) -> Celery:
    """The sweep app on ``redis_url`` (broker and result backend), its one task registered.
    Its commands give up on a frozen Redis after ``redis_server.TIMEOUT``, as a live run's do:
    a sweep waited on one for good, Ctrl-C included."""
    app = Celery("queuelab-sweep", set_as_current=False)
    app.conf.update(
        broker_url=redis_url,
        result_backend=redis_url,
        result_expires=86400,
        redis_socket_timeout=TIMEOUT,
        redis_socket_connect_timeout=TIMEOUT,
        task_default_queue=QUEUE,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,  # replications are long: reserve no more than it runs
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": costs.live_restore_interval(visibility),
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": unacked_mutex_expire(visibility),
            **UNACKED_KEYS,
            **GIVE_UP,
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,  # the CLI's own error lines stay its own, not log lines
    )
    app.task(name=TASK, acks_late=True, reject_on_worker_lost=True)(replication)
    return app


app = make_app(os.environ.get(URL_ENV, "redis://127.0.0.1:6379/0"))


def serve(redis_url: str, concurrency: int | None = None, visibility: float = VISIBILITY) -> None:
    """Run a sweep worker here until stopped (Ctrl-C: a warm shutdown, running replications
    finish); one pool process per core unless ``concurrency`` says otherwise. A Redis that
    answers nothing for ``TIMEOUT`` (gone, or frozen: the worker waited on one for good, Ctrl-C
    included) ends it with a cold shutdown and RedisUnavailable; the replications it ran stay
    un-acked in Redis and come back to a worker after the visibility timeout."""
    ping(redis_url, remedy="start Redis there, or give the Redis the sweep publishes on")
    watch = _RedisWatch(redis_url)
    watch.start()
    try:
        make_app(redis_url, visibility).worker_main(
            ["worker", "--concurrency", str(concurrency or os.cpu_count() or 1)]
            + ["--hostname", f"sweep-{os.getpid()}@{socket.gethostname()}"]
            + ["--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
            + ["--without-heartbeat"]
        )
    finally:
        watch.stop()
    if watch.lost is not None:
        raise RedisUnavailable(
            f"lost Redis at {shown(redis_url)} ({watch.lost}): stopped the sweep worker; the "
            "replications it ran go back to the queue after its --visibility-timeout. Start "
            "Redis there, then the sweep worker again"
        )


class _RedisWatch(threading.Thread):
    """Pings the worker's Redis every ``POLL`` seconds; once none has answered for ``TIMEOUT``,
    keeps the error in ``lost`` and stops the worker (SIGQUIT, Celery's cold shutdown), whose
    own connections would wait on a frozen Redis for good."""

    def __init__(self, redis_url: str) -> None:
        super().__init__(daemon=True, name="queuelab-redis-watch")
        self.client = client(redis_url)
        self.lost: Exception | None = None
        self._done = threading.Event()

    def run(self) -> None:
        answered = time.monotonic()
        with self.client:
            while not self._done.wait(POLL):
                try:
                    self.client.ping()
                    answered = time.monotonic()
                except redis.RedisError as err:
                    if time.monotonic() - answered >= TIMEOUT:
                        self.lost = err
                        os.kill(os.getpid(), signal.SIGQUIT)
                        return

    def stop(self) -> None:
        self._done.set()


def sweep_field(
    redis_url: str,
    scenario: Scenario,
    field: str,
    values: Sequence,
    reps: int = 1,
    progress: Callable[[int, int], None] | None = None,
    notice: Callable[[str], None] = print,
    quiet: float = QUIET,
) -> list[list[Summary]]:
    """``sim.analysis.sweep.sweep_field`` on the sweep workers of ``redis_url``: per value, the
    summaries of its replications. Waits for every result; ``notice`` hears when no worker has
    taken any. Ctrl-C, a Redis lost mid-sweep or a replication that failed on its worker
    (``SweepFailed``, its cause) raises ``Stopped`` with the summaries that came back;
    replications still queued when it stops early are withdrawn."""
    ping(redis_url, remedy=REMEDY)
    sweep = _Sweep(redis_url, scenario, field, values)
    try:
        for i in range(len(values)):
            for r in range(reps):
                sweep.send(i, r)
        sweep.collect(progress, notice, quiet)
    except (redis.RedisError, OperationalError) as err:
        # the results' subscriptions cannot be undone there: left, each result's __del__
        # tried at exit, printing a traceback per replication
        sweep.app.backend.result_consumer.subscribed_to.clear()
        gone = RedisUnavailable(lost(redis_url, err, "during the sweep", REMEDY))
        raise Stopped(dict(sweep.summaries), gone) from None
    except (KeyboardInterrupt, SweepFailed) as stop:
        raise Stopped(dict(sweep.summaries), stop) from None
    finally:
        with contextlib.suppress(redis.RedisError):  # a lost Redis has said so already
            if withdrawn := sweep.withdraw():
                notice(f"withdrew the {withdrawn} replications still waiting in {QUEUE}")
        sweep.client.close()
    return [[sweep.summaries[i, r] for r in range(reps)] for i in range(len(values))]


class _Sweep:
    """One sweep's replications on the cluster: the tasks sent and the summaries back so far."""

    def __init__(self, redis_url: str, scenario: Scenario, field: str, values: Sequence) -> None:
        self.url, self.field, self.values = redis_url, field, values
        self.app, self.text = make_app(redis_url), scenario_module.dumps(scenario)
        self.seed = scenario.seed
        self.client = client(redis_url)
        self.sent: dict[tuple[int, int], AsyncResult] = {}
        self.summaries: dict[tuple[int, int], Summary] = {}

    def send(self, i: int, rep: int) -> None:
        """Publish replication ``rep`` at the ``i``-th value (again, if it was lost)."""
        self.sent[i, rep] = self.app.send_task(TASK, (self.text, self.field, self.values[i], rep))

    def left(self) -> set[str]:
        """The task ids whose result has not come back."""
        return {result.id for job, result in self.sent.items() if job not in self.summaries}

    def collect(self, progress, notice, quiet: float) -> None:
        """Fill ``summaries`` as results arrive; say when none arrive and no worker took any. A
        replication that failed raises its ``SweepFailed`` once the results ready beside it are
        in ``summaries`` too."""
        last = time.monotonic()
        told = last - REMIND
        while len(self.summaries) < len(self.sent):
            failed: SweepFailed | None = None
            for (i, r), result in self.sent.items():
                if (i, r) not in self.summaries and result.ready():
                    try:
                        self.summaries[i, r] = self.summary(result, i, r)
                    except SweepFailed as err:
                        failed = failed or err
                        continue
                    last = time.monotonic()
                    if progress:
                        progress(len(self.summaries), len(self.sent))
            if failed:
                raise failed
            now = time.monotonic()
            if now - last > quiet and now - told > REMIND:
                told = now
                if text := self.stalled():
                    notice(text)
            time.sleep(POLL)

    def stalled(self) -> str | None:
        """What to tell a user whose sweep hears nothing: no worker took a replication, or some
        were nowhere and are sent again (a worker killed while it waited for work can take a
        message with it, see DESIGN.md "A killed node's BRPOP"; a replication is the same
        numbers wherever it runs); None while workers run them."""
        lost = self.nowhere()
        if lost:
            time.sleep(RECHECK)  # a message between a worker's BRPOP and its unacked hash
            lost &= self.nowhere()
        for job in lost:
            self.sent[job].forget()
            self.send(*job)
        if lost:
            return (
                f"sent {len(lost)} replications again: they were neither waiting in {QUEUE} "
                "nor taken by a worker (a worker killed while it waited for work takes the "
                "message it was handed with it)"
            )
        left = self.left()
        queued = {_task_id(item) for item in self.client.lrange(QUEUE, 0, -1)} & left
        if queued == left:
            return (
                f"{len(left)} replications waiting in {QUEUE} on {self.url} and no worker has "
                f"taken one: start one, on any machine, with `queuelab sweep-worker --redis-url "
                f"{self.url}` (still waiting; Ctrl-C withdraws them)"
            )
        return None

    def nowhere(self) -> set[tuple[int, int]]:
        """The replications with no result that are neither queued nor held by a worker."""
        left = self.left()
        queued = {_task_id(item) for item in self.client.lrange(QUEUE, 0, -1)}
        taken = {_task_id(json.dumps(json.loads(v)[0])) for v in self.client.hvals(UNACKED)}
        return {
            job
            for job, result in self.sent.items()
            if result.id in left - queued - taken and not result.ready()
        }

    def summary(self, result: AsyncResult, i: int, rep: int) -> Summary:
        """The Summary of replication ``rep`` at the ``i``-th value; its result then deleted."""
        try:
            data = result.get(propagate=True)
        except Exception as err:
            raise SweepFailed(
                f"replication {rep} (seed {self.seed + rep}) at {self.field} = "
                f"{self.values[i]!r} failed on its worker: {err}"
            ) from err
        finally:
            result.forget()
        return Summary(**data)

    def withdraw(self) -> int:
        """Remove the replications still waiting in the queue; how many were removed."""
        left = self.left()
        return (
            sum(self.client.lrem(QUEUE, 1, item) for item in _queued(self.client, left))
            if left
            else 0
        )


def _task_id(message: bytes | str) -> str:
    """The Celery task id of a raw message on the broker."""
    return json.loads(message).get("headers", {}).get("id", "")


def _queued(client: redis.Redis, ids: set[str]) -> list[bytes]:
    """The raw messages of the tasks ``ids`` still waiting in the queue (no worker took them)."""
    return [item for item in client.lrange(QUEUE, 0, -1) if _task_id(item) in ids]
