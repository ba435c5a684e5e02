"""A live run: the scenario on a real Redis with real Celery workers, returned as a trace.

Redis (private or the user's) → workers started and ready → the producer replays the arrivals →
wait until every task has ended or the drain deadline passes (then the rest count as lost) →
workers stopped → the collector turns what happened into the simulator's trace format.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

import redis
from kombu.exceptions import OperationalError

from live import redis_server, run_keys, waits
from live.capacity import CapacitySampler, with_capacity
from live.celery_app import LiveConfig, sending_app, unacked_mutex_expire
from live.clock import Clock
from live.collector import Collector, to_trace
from live.host_cpu import BusyShare
from live.joined_capacity import hand_over
from live.lifeline import workdir
from live.node_autoscaler import NodeAutoscaler, Poll
from live.producer import produce
from live.redis_server import RedisUnavailable, redis_for_run
from live.run_keys import forget, forget_results, renew, run_lists
from live.workers import BootStopped, Node, WorkerPool, grace_after, on_keepalive_grid
from sim import costs
from sim import scenario as scenario_module
from sim.analysis.runs import NO_TASKS
from sim.engine.distributions import service_mean
from sim.engine.draws import Draws
from sim.engine.model import check_warmup
from sim.rules import retry
from sim.scenario import Scenario, ScenarioError
from sim.trace import Trace

MIN_SERVICE_WALL = 0.002  # below ~2 ms of scaled work, Celery's own overhead dominates
LONG_WALL = 600.0  # wall seconds of arrivals past which a run's length is said before it starts


def arrivals_wall(sc: Scenario, seed: int | None, time_scale: float) -> float:
    """Wall seconds a live run's arrivals alone take at ``time_scale``: said before a long run
    starts (the CLI's warning, the Live page's), as nothing else tells it until its progress."""
    arrivals = Draws(sc, sc.seed if seed is None else seed).arrivals
    return float(arrivals[-1]) * time_scale if len(arrivals) else 0.0


def long_retry(sc: Scenario, time_scale: float, scale: str) -> str:
    """What to say before a run whose longest retry countdown waits past ``LONG_WALL`` of wall
    time at ``time_scale`` ("" otherwise; ``scale``: the time scale as the reader set it). The
    run drains until its last retry has run, so a countdown of 1e9 s beside failures drained
    for years with nothing said, the arrivals' length the only one warned of."""
    wall = retry.longest_retry_wait(sc) * time_scale
    if wall <= LONG_WALL:
        return ""
    return (
        f"a retry may wait {wall / 60:,.0f} minutes of wall time at {scale} (its countdown, or "
        "its backoff's cap, scaled), and the run drains until its last retry has run"
    )


WORKER_BOOT = 5.0  # wall seconds for a restarted Celery worker to consume again
BROKER_CHECK = 0.25  # wall seconds between looks at what Redis still holds for the run


def default_drain(sc: Scenario, clock: Clock) -> float:
    """Wall seconds to wait after the last event: enough for the work, the retries and a
    visibility-timeout redelivery (with kombu's restore scan and a worker's reboot: nodes dead
    together restart together), but finite. It is only the outer bound: a run ends sooner
    when Redis holds nothing of it and nothing runs (see ``_drain``)."""
    kinds = sc.task_types  # each by its own tables: a type's retries, another's service
    retry_wait = max(
        (
            retry.most_retries(t.retry.max_retries) * retry.longest_countdown(t.retry)
            for t in kinds
            if retry.type_may_retry(t)
        ),
        default=0.0,
    )
    wall = clock.wall_seconds
    wait = wall(20 * max(service_mean(t.service) for t in kinds) + retry_wait) + 2.0
    crashes = any(t.failures.crash_probability > 0 for t in kinds)
    if crashes or retry.longest_retry_wait(sc) > sc.ack.visibility_timeout:
        visibility = wall(sc.ack.visibility_timeout)
        restore = costs.live_restore_interval(visibility)
        wait += visibility + restore + unacked_mutex_expire(visibility)
        wait += WORKER_BOOT + wall(sc.workers.restart_delay)
    return wait


def check_live(sc: Scenario, seed: int | None = None, time_scale: float | None = None) -> None:
    """Refuse what only the simulator models, in any pool, saying which field to change, a run
    that would submit no task or measure none (it would boot workers to print zeros), and,
    given its ``time_scale``, one whose scaled waits pass what Python, Celery or Redis can wait
    (``live.waits``: the field, its value and the largest time scale the scenario takes)."""
    for pool in sc.worker_pools:
        w, field = pool.workers, partial(sc.pool_field, pool.name)
        if w.deploy_every:
            raise ScenarioError(
                f"{field('deploy_every')} = {w.deploy_every:g}: rolling deploys are simulated "
                f"only; a live run keeps its workers up. Set {field('deploy_every')} = 0 to run "
                "it live."
            )
        if w.cores:
            raise ScenarioError(
                f"{field('cores')} = {w.cores}: live tasks sleep rather than compute, so CPU "
                f"contention is simulated only. Set {field('cores')} = 0 to run it live."
            )
    seed = sc.seed if seed is None else seed
    draws = Draws(sc, seed)
    if not draws.n_tasks:
        raise ScenarioError(NO_TASKS)
    check_warmup(sc.run.warmup, draws.arrivals, seed)
    if time_scale is not None and (error := waits.scale_error(sc, draws, time_scale)):
        raise ScenarioError(error)


def run_live(
    sc: Scenario,
    redis_url: str | None = None,
    time_scale: float = 1.0,
    seed: int | None = None,
    drain: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
    watch: Callable[[Trace], None] | None = None,
    nodes: Callable[[WorkerPool], None] | None = None,
    host: BusyShare | None = None,
    joinable: bool = True,
    polled: Callable[[Poll], None] | None = None,
) -> Trace:
    """Run ``sc`` for real and return its trace (times in scenario seconds).

    While it runs it calls ``progress(ended, tasks)`` (of all the run's tasks, not of those sent
    so far: "91/99 tasks (91%)" was said 99 tasks into a run of 200), ``watch(trace so far)``
    and, once the workers are up, ``nodes(pool)`` (a monitor asks it which nodes run); ``stop``
    ends it early.
    ``host`` measures the host's CPUs over the arrivals and the drain: not over Redis's and the
    workers' start, whose imports would otherwise count as load the run put on the host.
    ``joinable``: announced for `queuelab worker` to join (not a probe, whose nodes are part of
    what it measures). ``polled(poll)`` hears each decision of a pool's node autoscaler.
    """
    seed = sc.seed if seed is None else seed
    check_live(sc, seed, time_scale)
    draws = Draws(sc, seed)
    stop = stop or threading.Event()
    # what the run opens is closed on its way out, whichever: its Redis client's connection
    # stayed open after nodes that failed to start, as long as their error was held
    with redis_for_run(redis_url) as url, workdir("run") as tmp, contextlib.ExitStack() as opened:
        path = tmp / "scenario.toml"
        path.write_text(scenario_module.dumps(sc))
        config = LiveConfig(url, str(path), time_scale, seed, uuid.uuid4().hex[:10])
        app = opened.enter_context(sending_app(config))
        app.conf.broker_transport_options = {  # the producer's sends give up as the client's do
            **app.conf.broker_transport_options,
            **redis_server.GIVE_UP,
        }
        client = opened.enter_context(run_keys.client(config, **redis_server.GIVE_UP))
        names = [name for name, _ in sc.nodes]
        pool = worker_pool(
            config, [Node(n, p.name, p.workers.concurrency) for n, p in sc.nodes], tmp
        )
        announcement = Announcement(client, config, path.read_text() if joinable else None)
        sampler = CapacitySampler(pool)
        try:
            _boot(announcement, pool, url, stop, sampler.sample)
        except BootStopped:  # a run stopped before its first send: no task row, and its nodes
            stopped = config.clock.started(time.time())  # as the stop found them, at time 0
            return with_capacity(to_trace([], [], names, stopped, draws), sampler.rows(stopped))
        finished = threading.Event()
        collector: Collector | None = None
        watcher: Watcher | None = None
        scalers: list[NodeAutoscaler] = []
        broken: Exception | None = None
        # from the boot on, whatever ends the run stops its nodes: a failing ``nodes`` or a
        # Ctrl-C before the first send left them running until this process exited
        try:
            if nodes:
                nodes(pool)
            sampler.start()
            clock = config.clock.started(on_keepalive_grid(pool, sc, time.time() + 0.05))
            collector = Collector(client, config, names, clock, draws)
            watcher = Watcher(
                collector,
                finished,
                progress,
                watch,
                lambda: sampler.rows(clock, collector.joined),
                len(draws.arrivals),
            )
            watcher.start()
            scalers = node_autoscalers(
                sc,
                pool,
                client,
                clock,
                finished,
                collector,
                len(draws.arrivals),
                sampler.sample,
                polled,
            )
            try:
                client.set(config.key("t0"), repr(clock.t0))  # scenario time 0, for outages
                with host or contextlib.nullcontext():
                    kinds = [draws.types[k] for k in draws.type_of.tolist()]
                    pending = collector.pending
                    produce(app, config, clock, draws.arrivals.tolist(), kinds, pending, stop)
                    wait = (
                        clock.wall_seconds(drain) if drain is not None else default_drain(sc, clock)
                    )
                    _drain(collector, pool, client, config, wait, stop, watcher)
            except (redis.RedisError, OperationalError) as err:
                broken = err
            except RuntimeError as err:  # Celery's result consumer gave up reconnecting to Redis
                if not isinstance(err.__cause__, (redis.RedisError, OperationalError)):
                    raise
                broken = err.__cause__
        finally:
            finished.set()
            for thread in [*scalers, watcher]:  # no node is added once the nodes stop
                if thread is not None and thread.is_alive():
                    thread.join()
            sampler.stop()
            lost = broken or next(
                (t.error for t in [watcher, *scalers] if t is not None and t.error), None
            )
            pool.stop(_stop_grace(lost, collector, pool))
            announcement.stop(wait=lost is None)  # its renewal may wait on a lost Redis
        broken = _wind_up(collector, client, config, broken)
    trace = with_capacity(collector.trace(), sampler.rows(clock, collector.joined))
    if broken is not None or lost is not None:
        raise RedisLost(broken or lost, trace)
    return trace


def node_autoscalers(
    sc: Scenario,
    pool: WorkerPool,
    client: redis.Redis,
    clock: Clock,
    finished: threading.Event,
    collector: Collector,
    tasks: int,
    look: Callable[[], None],
    polled: Callable[[Poll], None] | None,
) -> list[NodeAutoscaler]:
    """A started ``NodeAutoscaler`` per pool that has one. Its polls end, as the simulator's,
    once all ``tasks`` are sent, Redis holds nothing of the run and nothing runs."""
    config = pool.config

    def done() -> bool:
        return (
            len(collector.pending) == tasks
            and not held_by_broker(client, config)
            and not collector.still_running(pool.died)
        )

    scalers = [
        NodeAutoscaler(p, sc, pool, client, clock, finished, done, look, collector.workers, polled)
        for p in sc.worker_pools
        if p.workers.node_autoscaled
    ]
    for scaler in scalers:
        scaler.start()
    return scalers


def _boot(
    announcement: Announcement,
    pool: WorkerPool,
    url: str,
    stop: threading.Event,
    last_look: Callable[[], None],
) -> None:
    """Announce the run and start its nodes; whatever fails or ``stop`` ends withdraws the
    announcement and deletes what the run wrote (the nodes stop themselves: stopped, those that
    came up get no grace, as no task was sent yet, once ``last_look`` saw them), and a lost
    Redis is said as such.
    A frozen one is not waited on again (``TIMEOUT`` each time): the keys expire on their own."""
    try:
        announcement.start()
        pool.start(stop=stop, grace=0.0, last_look=last_look)
    except BaseException as err:
        frozen = redis_server.unanswered(err)
        announcement.stop(wait=not frozen)
        if not frozen:
            with contextlib.suppress(redis.RedisError):  # a lost Redis is said below
                _forget(announcement.client, announcement.config)
        if isinstance(err, (redis.RedisError, OperationalError)):
            raise RedisUnavailable(
                redis_server.lost(url, err, "while the workers started", "check that it is up")
                + ", then run again"
            ) from None
        raise


def _stop_grace(lost: Exception | None, collector: Collector | None, pool: WorkerPool) -> float:
    """Wall seconds the nodes get to end their tasks: none when the rows, read to the last,
    show no execution running (a warm shutdown ends the running ones and runs nothing more, so
    it would only wait on Celery's own pool stop, 1.5-3 s an idle node on 2 cores), or when no
    ``collector`` was made (ended before the first send: nothing ran); otherwise
    ``grace_after``'s. An execution whose pool child died has no end row and keeps the grace."""
    if collector is None:
        return 0.0
    if lost is None:
        with contextlib.suppress(redis.RedisError):
            collector.poll()
            if not collector.still_running(pool.died):
                return 0.0
    return grace_after(lost)


def _wind_up(
    collector: Collector, client: redis.Redis, config: LiveConfig, broken: Exception | None
) -> Exception | None:
    """Once the workers stopped, unless Redis is already gone: read what they recorded while
    stopping, delete the run's keys and its tasks' results. Returns what broke the run, if
    anything did."""
    if broken is None:
        try:
            collector.poll()
            _forget(client, config)
            forget_results(client, config, (task for task, _ in collector.pending))
        except redis.RedisError as err:
            broken = err
    return broken


def worker_pool(config: LiveConfig, nodes: list[Node], logs: Path) -> WorkerPool:
    """``nodes`` for ``config``'s run, restarted after the scenario's restart delay when they
    die, their output in ``logs`` (to say why one exited at boot)."""
    restart_delay = config.clock.wall_seconds(config.scenario.workers.restart_delay)
    return WorkerPool(config, nodes, restart_delay, logs)


class RedisLost(RuntimeError):
    """Redis went away mid-run; ``trace`` holds every row collected until then."""

    def __init__(self, error: Exception, trace: Trace) -> None:
        if redis_server.out_of_memory(error):  # up, but refusing writes: it read as lost
            self.what = f"Redis ran out of memory mid-run ({error})"
            self.remedy = f"{redis_server.FULL}, then run again"
        else:
            self.what = f"lost the connection to Redis mid-run ({redis_server.described(error)})"
            self.remedy = "check that Redis is up and not out of memory, then run again"
        super().__init__(
            f"{self.what}; the trace and summary hold what was collected until then. "
            f"{self.remedy[0].upper()}{self.remedy[1:]}."
        )
        self.error = error
        self.trace = trace


def _drain(
    collector: Collector,
    pool: WorkerPool,
    client: redis.Redis,
    config: LiveConfig,
    wait: float,
    stop: threading.Event,
    watcher: Watcher,
) -> None:
    """Wait until every task has ended, or until none can end any more.

    Nothing can end when, for a restore scan and a second, Redis holds nothing of the run (its
    queue is empty, no un-acked message of its queue, ETA retries included), every node is up
    and no execution is running; the unfinished tasks are then lost (early ack, or a message a
    dying node took with it). ``wait`` wall seconds with no event end the run too, whatever
    Redis holds: the deadline slides with activity, so a chain of redeliveries keeps it alive.
    """
    visibility = config.clock.wall_seconds(config.scenario.ack.visibility_timeout)
    quiet = costs.live_restore_interval(visibility) + 1.0
    seen, deadline, idle_since, next_check = len(collector.rows), time.time() + wait, None, 0.0
    while len(collector.done) < len(collector.pending) and watcher.error is None:
        if stop.wait(0.05):
            return
        now = time.time()
        if len(collector.rows) != seen:
            seen, deadline, idle_since = len(collector.rows), now + wait, None
        if now > deadline:
            return
        if now < next_check:
            continue
        next_check = now + BROKER_CHECK
        if (
            held_by_broker(client, config)
            or collector.still_running(pool.died)
            or not pool.all_up()
        ):
            idle_since = None
        elif idle_since is None:
            idle_since = now
        elif now - idle_since > quiet:
            return


def held_by_broker(client: redis.Redis, config: LiveConfig) -> int:
    """Messages of the run still in Redis: queued, or delivered and not yet acked (in the run's
    own ``unacked`` hash, ``live.run_keys``)."""
    return sum(client.llen(name) for name in run_lists(config)) + client.hlen(config.key("unacked"))


class Watcher(threading.Thread):
    """Reads the workers' rows as they come, for the drain check, progress and watchers (the
    trace so far with the ``capacity`` rows sampled so far: an autoscaling pool seen growing as
    it goes, not once the run ended); a lost Redis ends it and is kept in ``error`` for the run
    to report."""

    def __init__(
        self, collector: Collector, finished: threading.Event, progress, watch, capacity, tasks
    ) -> None:
        super().__init__(daemon=True)
        self.collector = collector
        self.tasks = tasks  # the run's, which progress counts the ended ones of
        self.finished = finished
        self.progress = progress
        self.watch = watch
        self.capacity = capacity
        self.error: Exception | None = None

    def run(self) -> None:
        last_watch = 0.0
        collector = self.collector
        while not self.finished.wait(0.05):
            try:
                collector.poll()
            except redis.RedisError as err:
                self.error = err
                return
            if self.progress:
                self.progress(len(collector.done), self.tasks)
            if self.watch and time.monotonic() - last_watch > 0.5:
                self.watch(with_capacity(collector.trace(), self.capacity()))
                last_watch = time.monotonic()


CURRENT = "queuelab:current"  # the run that `queuelab worker` on another machine joins
LEASE = 10  # seconds CURRENT lives unless its run renews it, as it does every second


class Announcement(threading.Thread):
    """The run's id, time scale, seed and scenario, published for workers joining from
    elsewhere from ``start()`` to ``stop()`` (none for a ``scenario_toml`` of None: a run
    no worker may join). CURRENT is a lease the run renews: a run killed (SIGKILL, a lost
    host) cannot delete it, and a `queuelab worker` started after would join that dead run,
    then leave when the next run announced itself, which it was there for. The run's own keys
    are renewed with it (``live.run_keys``), so a killed run's go too."""

    def __init__(self, client: redis.Redis, config: LiveConfig, scenario_toml: str | None) -> None:
        super().__init__(daemon=True, name="queuelab-announcement")
        self.client, self.config, self.scenario_toml = client, config, scenario_toml
        self._done = threading.Event()

    def start(self) -> None:
        """Publish the run (raising if Redis is gone), then keep its lease."""
        c = self.config
        if self.scenario_toml is not None:
            published = {"scenario": self.scenario_toml, "time_scale": c.time_scale, "seed": c.seed}
            self.client.hset(c.key("config"), mapping=published)
            self.client.set(CURRENT, c.run_id, ex=LEASE)
        super().start()

    def run(self) -> None:
        # a client of its own: the run's, closed when the run ends, could be closed under a
        # renewal still waiting on a lost Redis (``stop``)
        with run_keys.client(self.config, **redis_server.GIVE_UP) as client:
            while not self._done.wait(1.0):
                with contextlib.suppress(redis.RedisError):  # the run reports a lost Redis
                    renew(client, self.config)
                    if client.get(CURRENT) == self.config.run_id.encode():
                        client.expire(CURRENT, LEASE)

    def stop(self, wait: bool = True) -> None:
        """End the renewals; ``wait`` for the one in flight (not on a lost Redis: it gives up
        only after ``redis_server.TIMEOUT``, and the thread then ends on its own)."""
        self._done.set()
        if wait and self.is_alive():
            self.join()


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


def join_run(
    redis_url: str,
    count: int,
    concurrency: int | None = None,
    stop: threading.Event | None = None,
    joined: Callable[[LiveConfig, list[str]], None] | None = None,
) -> str | None:
    """Add ``count`` worker nodes of this host to the live run announced on ``redis_url``, and
    block until that run is over or ``stop`` is set; waits for a run to be announced first.

    ``joined(config, names)`` is called once the nodes are up. Returns the joined run's id, or
    None when stopped before any run was announced or before its nodes were up (those started
    are stopped); a Redis lost on the way (its nodes are stopped) raises ``RedisUnavailable``.
    The nodes' pool processes are sampled as the run samples its own, and handed to it
    (``live.joined_capacity``): they count in its capacity, as their executions in its work.
    """
    stop = stop or threading.Event()
    client = redis_server.client(redis_url)
    try:
        with workdir("worker") as tmp:
            config = None
            while config is None and not stop.wait(0.5):
                config = joined_config(client, redis_url, tmp)
            if config is None:
                return None
            host = socket.gethostname().replace("@", "-")
            first = config.worker_pool  # a joining node serves the scenario's first pool
            slots = concurrency or first.workers.concurrency
            nodes = [Node(f"{host}-w{i + 1}", first.name, slots) for i in range(count)]
            pool = worker_pool(config, nodes, tmp)
            sampler = CapacitySampler(pool, hand_over=partial(hand_over, client, config))
            sampler.sample()  # before the boot: down until they are up, joining a run going on
            try:
                pool.start(stop=stop)
            except BootStopped:
                return None
            sampler.start()
            try:
                if joined is not None:
                    joined(config, pool.names)
                while not stop.wait(0.5) and client.get(CURRENT) == config.run_id.encode():
                    pass
            except BaseException as err:
                pool.stop(grace_after(err))
                raise
            else:
                pool.stop()
            finally:  # a last look once they stopped: leaving a run going on, down from then on
                sampler.stop()
        return config.run_id
    except (redis.RedisError, OperationalError) as err:
        raise RedisUnavailable(
            redis_server.lost(
                redis_url, err, "while joining", "check that it is up, then join again"
            )
        ) from None
    finally:
        client.close()


def _forget(client: redis.Redis, config: LiveConfig) -> None:
    """Delete the run's own keys, queues and bindings from the broker (matters on a shared
    Redis), and its announcement if it is still the current one."""
    forget(client, config)
    if client.get(CURRENT) == config.run_id.encode():
        client.delete(CURRENT)
