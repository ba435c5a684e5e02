"""The real Celery app of a live run and its synthetic tasks, one per task type.

Configured from the scenario: Redis as broker and result backend, each task type routed to its
queue (``task_routes``) with its rate and (time-scaled) time limits, and for the worker's pool its
concurrency, prefetch and queue order; ``acks_late``, the (time-scaled) visibility timeout,
``task_track_started``. A soft time limit raises inside the task, which retries as on a drawn
failure; a hard one kills the pool child, and the request's ``on_timeout`` records the FAILURE
(Celery sends no ``task_failure`` for it). The task replays the
simulator's draws for (seed, task, attempt): it sleeps the drawn service time × time scale, raises
when the draw says fail — retried through Celery's own ``self.retry`` with the simulator's
countdown — and when the draw says crash it kills its whole worker node (main process and pool),
the failure Redis's visibility timeout exists for. Worker signals (and the task itself, for RETRY)
record every state change, stamped where it happened, on a Redis list the collector reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import redis
from billiard.einfo import ExceptionWithTraceback
from billiard.exceptions import WorkerLostError
from celery import Celery, signals
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.worker import state as worker_state
from celery.worker.request import Request

from live import events, run_keys
from live.clock import Clock
from sim import costs, scenario
from sim.engine.draws import Draws
from sim.rules import fate, retry
from sim.rules.states import FAILURE, RECEIVED, RETRY, STARTED, SUCCESS
from sim.scenario import DEFAULT_QUEUE, Pool, Scenario, TaskType, rate_limit_per_second

ENV = "QUEUELAB_LIVE"  # the worker's configuration, as "key=value;..." (see LiveConfig.to_env)


class DrawnFailure(Exception):
    """The attempt failed because its draw said so (a stand-in for a real task's error)."""


@dataclass(frozen=True)
class LiveConfig:
    """What a worker process needs to join a run."""

    redis_url: str
    scenario_path: str
    time_scale: float
    seed: int
    run_id: str
    pool: str = ""  # the pool of the worker node this config starts; "" = the first
    consume_at: float = 0.0  # wall time before which the node takes no message (``hold``)

    def to_env(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.__dict__.items())

    @classmethod
    def from_env(cls) -> LiveConfig:
        try:
            fields = dict(item.split("=", 1) for item in os.environ[ENV].split(";"))
        except KeyError:
            raise RuntimeError(f"{ENV} is not set: start workers with `queuelab worker`") from None
        return cls(
            fields["redis_url"],
            fields["scenario_path"],
            float(fields["time_scale"]),
            int(fields["seed"]),
            fields["run_id"],
            fields.get("pool", ""),
            float(fields.get("consume_at", 0.0)),
        )

    @cached_property
    def scenario(self) -> Scenario:
        return scenario.load(self.scenario_path)

    @property
    def clock(self) -> Clock:
        """The run's clock before it starts: durations only (the origin is set in Redis)."""
        return Clock(None, self.time_scale)

    @property
    def worker_pool(self) -> Pool:
        """The pool of the node this config starts (the first pool when none is named)."""
        pools = self.scenario.worker_pools
        return next((p for p in pools if p.name == self.pool), pools[0])

    @property
    def queue(self) -> str:
        """The prefix of every queue of this run: its lists on a shared Redis are its own."""
        return f"queuelab-{self.run_id}"

    def queue_name(self, queue: str) -> str:
        """The Redis list of the scenario's ``queue`` in this run."""
        return f"{self.queue}-{queue}"

    def with_pool(self, pool: str, consume_at: float = 0.0) -> LiveConfig:
        return dataclasses.replace(self, pool=pool, consume_at=consume_at)

    def key(self, *parts: object) -> str:
        """A Redis key private to this run."""
        return ":".join(["queuelab", self.run_id, *map(str, parts)])

    def task_id(self, task: int) -> str:
        return f"{self.run_id}-{task}"


def task_index(task_id: str) -> int:
    return int(task_id.rsplit("-", 1)[1])


def unacked_mutex_expire(visibility_timeout: float) -> int:
    """Wall seconds a restore scan's Redis lock lives (kombu's ``unacked_mutex_expire``, 300 by
    default), capped at the visibility timeout: a node killed while it holds the lock would
    otherwise stop every restore for five minutes, which a time-scaled run cannot wait out."""
    return max(1, min(300, round(visibility_timeout)))


def task_name(kind: TaskType) -> str:
    """The Celery task name of a task type."""
    return f"queuelab.{kind.name}"


def celery_config(config: LiveConfig) -> dict:
    """Celery settings for the scenario and the node's pool; durations in wall seconds
    (scenario × time scale)."""
    s, wall, pool = config.scenario, config.clock.wall_seconds, config.worker_pool
    visibility = wall(s.ack.visibility_timeout)
    restore_every = costs.live_restore_interval(visibility)
    return {
        "broker_url": config.redis_url,
        "broker_transport": f"{run_keys.__name__}:{run_keys.Transport.__name__}",
        "result_backend": config.redis_url,
        "result_expires": max(1, round(wall(s.results.expires))),
        "task_default_queue": config.queue_name(DEFAULT_QUEUE),
        "task_routes": {task_name(t): {"queue": config.queue_name(t.queue)} for t in s.task_types},
        "task_acks_late": s.ack.late,
        "task_reject_on_worker_lost": s.ack.reject_on_worker_lost,
        "task_retry_on_worker_lost": s.retry.on_worker_lost,
        "task_track_started": s.results.track_started,
        "worker_prefetch_multiplier": pool.workers.prefetch_multiplier,
        "worker_concurrency": pool.workers.concurrency,
        "worker_lost_wait": wall(pool.workers.lost_wait),
        "broker_transport_options": {
            "queue_order_strategy": pool.queue_order,
            "visibility_timeout": visibility,
            "unacked_restore_interval": restore_every,
            "unacked_restore_throttle": costs.LIVE_RESTORE_THROTTLE,
            "unacked_mutex_expire": unacked_mutex_expire(visibility),
            # the run's own, expiring with it (``live.run_keys``): no other consumer on that
            # Redis restores a killed run's messages
            "unacked_key": config.key("unacked"),
            "unacked_index_key": config.key("unacked_index"),
            # the restore scan's lock, shared by every app on that Redis by default: another
            # app's node that died holding it stalled the run's redeliveries (300 s, kombu's
            # default life), and a node the run killed blocked another app's. It carries its
            # own expiry, the lock's, and is no key ``run_keys`` renews or makes with KEEP:
            # one held by a killed node would then not lapse while the run lives
            "unacked_mutex_key": config.key("unacked_mutex"),
            "own_keys": run_keys.own_keys(config),  # made with their expiry
        },
        "result_backend_transport_options": {"visibility_timeout": visibility},
        "broker_connection_retry_on_startup": True,
        # no remote control (nothing of queuelab's asks the nodes anything): its bindings sit in
        # kombu's table shared by every app on that Redis (``_kombu.binding.celery.pidbox``),
        # which their nodes keep refreshing, and a killed run's nodes' stayed there for good
        "worker_enable_remote_control": False,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "task_serializer": "json",
    }


class Run:
    """Per-process state of a worker in a run: its config, draws and Redis client."""

    def __init__(self) -> None:
        self.config: LiveConfig | None = None
        self.app: Celery | None = None  # the process's app, whose result backend it warms
        self._draws: Draws | None = None
        self._client: redis.Redis | None = None
        self._pid = 0
        self._clock: Clock | None = None
        self.executions: dict[tuple[int, int], int] = {}  # (task, attempt) started → execution

    def setup(self, config: LiveConfig, app: Celery) -> None:
        self.config, self.app, self._draws, self._clock = config, app, None, None

    @property
    def draws(self) -> Draws:
        if self._draws is None:
            self._draws = Draws(self.config.scenario, self.config.seed)
        return self._draws

    def redis(self) -> redis.Redis:
        """A client of this process (a forked pool child makes its own), which makes the run's
        keys with their expiry."""
        if self._pid != os.getpid():
            self._client, self._pid = run_keys.client(self.config), os.getpid()
        return self._client

    def clock(self) -> Clock:
        """The run's clock, its origin read once from Redis (where the run sets it)."""
        if self._clock is None:
            self._clock = self.config.clock.started(float(self.redis().get(self.config.key("t0"))))
        return self._clock

    def warm(self) -> None:
        """Make what a task reads once per process (the draws, its connected Redis clients:
        the rows' and the result backend's) as a pool child starts, before it tells its node it
        is up: made on its first task, they held that task's slot 60-100 ms of wall time
        (measured at load 2-4 on 2 cores: the rows' client's connection and first write
        23-26 ms, the draws 20-30 ms, the result's first write 10-15 ms), 3-5 scenario seconds
        of each slot at time scale 0.02, a backlog the model's fresh queue never had."""
        if self.config is not None and self.app is not None:
            self.draws  # noqa: B018 (built and kept; a forked child has its node's)
            self.redis().ping()
            self.app.backend.client.ping()

    def scenario_time(self) -> float:
        """Seconds of scenario time since the run's start."""
        return self.clock().now()

    def row(
        self, task_id: str, attempt: int, state: int, hostname: str | None, at: float | None
    ) -> str | None:
        """One state change of this run's task, stamped ``at`` (wall s; default now), as the
        event list holds it (None for a task of no run of this process's)."""
        if self.config is None or not task_id or not task_id.startswith(self.config.run_id):
            return None
        worker = (hostname or "").split("@", 1)[0]
        return events.encode(
            events.Event(task_index(task_id), attempt, state, at or time.time(), worker)
        )

    def record(
        self, task_id: str, attempt: int, state: int, hostname: str | None, at: float | None = None
    ) -> None:
        """Append one state change, stamped ``at`` (wall s; default now), to the run's event
        list."""
        if (row := self.row(task_id, attempt, state, hostname, at)) is not None:
            self.redis().rpush(self.config.key("events"), row)

    def start(self, task_id: str, attempt: int, hostname: str | None) -> None:
        """Record the STARTED row of ``attempt`` and count the execution it starts, in one
        transaction; the task reads the count (``execution``). Apart, the count was one round
        trip more in every task's slot: from STARTED to SUCCESS 1.7-2.7 ms of wall time more
        in three of four runs at load 11 on 2 cores (DESIGN, "What a live task costs beyond
        Celery")."""
        if (row := self.row(task_id, attempt, STARTED, hostname, None)) is None:
            return
        task = task_index(task_id)
        with self.redis().pipeline() as pipe:
            pipe.rpush(self.config.key("events"), row)
            pipe.hincrby(self.config.key("executions"), f"{task}:{attempt}")
            _, count = pipe.execute()
        self.executions[task, attempt] = count - 1

    def execution(self, task: int, attempt: int) -> int:
        """Which execution of ``attempt`` of ``task`` this is (0: its first delivery), as
        ``start`` counted it."""
        return self.executions.pop((task, attempt))


RUN = Run()


def attempt(self, task: int) -> None:
    """One attempt of a synthetic task: do what the simulator drew for it (``sim.rules.fate``)."""
    config, draws = RUN.config, RUN.draws
    number = self.request.retries
    plan = fate.work(draws, task, number, RUN.execution(task, number))
    work = config.clock.wall_seconds(plan.service)
    try:
        if plan.crash_at is not None:
            time.sleep(work * plan.crash_at)
            if config.scenario.failures.crash_kind == "child":
                os.kill(os.getpid(), signal.SIGKILL)  # this pool process only; the node lives
            os.killpg(os.getpgid(0), signal.SIGKILL)  # the whole node: main process and pool
        time.sleep(work)
        raised = False
    except SoftTimeLimitExceeded:
        raised = True  # the task's own error path: it retries as on a drawn failure
    end = fate.ending(draws, task, number, RUN.scenario_time(), raised)  # an outage may cover now
    if end.state == RETRY:
        # Stamped here, not by the task_retry signal: Celery publishes the retry before that
        # signal fires, so another worker can receive attempt n+1 before it.
        RUN.record(self.request.id, number, RETRY, self.request.hostname)
        raise self.retry(
            countdown=config.clock.wall_seconds(end.countdown),
            max_retries=retry.celery_max_retries(draws.task_type(task).retry.max_retries),
            exc=DrawnFailure(f"task {task} attempt {number}"),
        )
    if end.state == FAILURE:
        raise DrawnFailure(f"task {task} attempt {number} failed, no retries left")


def wall_rate(rate_limit: str, time_scale: float) -> str | None:
    """A scenario's rate limit as Celery's, per wall second: time runs 1/time_scale as fast;
    None, Celery's own for no limit, where it has none (0 too)."""
    per_second = rate_limit_per_second(rate_limit)
    return f"{per_second / time_scale:.6g}/s" if per_second else None


# request id -> wall time its node found the pool child dead, while Celery handles the loss
LOST_AT: dict[str, float] = {}


class TimedRequest(Request):
    """A request that records the FAILURE of a hard time limit with the node it ran on, and
    notes when its node found its pool child dead.

    Celery 5.7 also sends ``task_failure`` for a hard time limit, twice (measured: once before
    ``on_timeout``, once from it, the second without the request's context, so not saying
    where the task ran): one ending is one row, recorded here; those signals are skipped.
    """

    def on_timeout(self, soft: bool, timeout: float) -> None:
        if not soft:
            RUN.record(self.id, self.request_dict.get("retries", 0), FAILURE, self.hostname)
        super().on_timeout(soft, timeout)

    def on_failure(self, exc_info, send_failed_event: bool = True, return_ok: bool = False):
        """A lost child's retry (``task_retry_on_worker_lost``) is stamped at the loss, before
        Celery sends it: its countdown counts from the send, and the ``task_retry`` signal
        fires only after the result's write, the ack and the event (8-63 ms later at load 8-10 on
        2 cores)."""
        lost = exc_info.exception  # the pool hands it over wrapped, as Celery's own unwraps
        if isinstance(lost, ExceptionWithTraceback) and isinstance(lost.exc, WorkerLostError):
            LOST_AT[self.id] = time.time()
        try:
            super().on_failure(exc_info, send_failed_event, return_ok)
        finally:
            LOST_AT.pop(self.id, None)


def make_app(config: LiveConfig) -> Celery:
    """The Celery app of one run, with a synthetic task registered per task type."""
    app = Celery("queuelab", set_as_current=False)
    RUN.setup(config, app)
    app.conf.update(celery_config(config))
    wall = config.clock.wall_seconds
    for kind in config.scenario.task_types:
        app.task(
            bind=True,
            name=task_name(kind),
            Request=TimedRequest,
            default_retry_delay=wall(retry.lost_child_countdown(kind.retry)),
            # max_retries also bounds the retry of a lost child, which Celery makes on its own;
            # None (inf in the scenario) retries for ever, measured (tests/live/test_celery_retry)
            max_retries=retry.celery_max_retries(kind.retry.max_retries),
            rate_limit=wall_rate(kind.rate_limit, config.time_scale),
            soft_time_limit=wall(kind.soft_time_limit) or None,
            time_limit=wall(kind.time_limit) or None,
        )(attempt)
    return app


@contextlib.contextmanager
def sending_app(config: LiveConfig) -> Iterator[Celery]:
    """``make_app``'s app, for the process that sends the run's tasks, closed on exit with its
    result backend's connections: Celery's ``app.close`` leaves those to the garbage collector
    (the pubsub each send subscribes to its task's result, in a reference cycle), and a run
    that ended, or failed to start, kept them open until a collection."""
    app = make_app(config)
    try:
        yield app
    finally:
        backend = app.backend  # this thread's: the one the sends used
        backend.result_consumer.stop()
        backend.client.connection_pool.disconnect()
        app.close()


HOLD_LOOK = 0.02  # wall seconds between a held node's looks at the clock and at a SIGTERM


def hold(until: float) -> bool:
    """Wait until wall time ``until`` (a node autoscaler's node consumes ``node_start`` after
    the decision, however soon it booted); False when a shutdown was asked for meanwhile, as
    a node removed while it starts is. Called as the node is ready: ``consume()`` has only
    registered its queues, the BRPOP is sent by the event loop, which has not run yet, so it
    takes no message before (pinned by tests/live/test_node_autoscaler.py)."""
    while time.time() < until:
        flags = (worker_state.should_stop, worker_state.should_terminate)
        if any(f is not None and f is not False for f in flags):  # as ``maybe_shutdown``: 0 too
            return False
        time.sleep(min(HOLD_LOOK, max(0.0, until - time.time())))
    return True


@signals.worker_init.connect
@signals.worker_process_init.connect
def _warm(**_):
    # on the node's main process before it forks its pool, so a child inherits the draws (a
    # process an autoscaler forks in a burst then only connects), and again on each child
    RUN.warm()


@signals.worker_ready.connect
def _ready(sender=None, **_):
    """The node consumes; its event loop's timers (the autoscaler's keepalive) were registered
    just before: the wall time is where that timer's grid starts. A node held until its
    ``consume_at`` is ready once it is over (one stopped meanwhile never is: its event loop
    shuts down before its first fetch)."""
    if RUN.config is not None and hold(RUN.config.consume_at):
        RUN.redis().hset(RUN.config.key("ready"), sender.hostname, repr(time.time()))


@signals.task_received.connect
def _received(request=None, **_):
    RUN.record(request.id, request.request_dict.get("retries", 0), RECEIVED, request.hostname)


@signals.task_prerun.connect
def _started(task_id=None, task=None, **_):
    RUN.start(task_id, task.request.retries, task.request.hostname)


@signals.task_retry.connect
def _retried_lost(request=None, reason=None, **_):
    # the task stamps its own retries; this is Celery retrying a task whose pool child died
    if isinstance(getattr(reason, "exc", None), WorkerLostError):
        RUN.record(request.id, request.retries, RETRY, request.hostname, LOST_AT.get(request.id))


@signals.task_success.connect
def _succeeded(sender=None, **_):
    RUN.record(sender.request.id, sender.request.retries, SUCCESS, sender.request.hostname)


@signals.task_failure.connect
def _failed(sender=None, task_id=None, exception=None, **_):
    if isinstance(exception, TimeLimitExceeded):
        return  # a hard time limit's: TimedRequest recorded it
    RUN.record(task_id, sender.request.retries, FAILURE, sender.request.hostname)
