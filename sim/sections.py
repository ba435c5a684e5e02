"""The scenario's sections and tables: one frozen dataclass per TOML table, its fields declared.

Each field is declared once, here, with its default, range, unit and meaning
(``sim.fields.setting``); ``sim.scenario`` assembles them into a ``Scenario``, derives ``FIELDS``
and validates a file against them. ``TaskType`` and ``Pool`` are the repeatable ``[[tasks]]``
and ``[[pools]]`` tables, completed from the sections when a file is read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sim import shapes
from sim.fields import TABLES, ScenarioError, setting
from sim.rules.outage import Outage

if TYPE_CHECKING:
    from sim.scenario import Scenario

ARRIVAL_PROCESSES = tuple(shapes.PROCESS_READS)
CRASH_KINDS = ("node", "child")
NODE_AUTOSCALERS = ("none", "queue_length")
QUEUE_ORDERS = ("round_robin", "sorted", "priority")
DEFAULT_QUEUE = "celery"  # task_default_queue
SERVICE_DISTS = tuple(shapes.DIST_READS)
ARRIVAL_DISTS, ARRIVAL_REPLAYS = shapes.GAP_DISTS, shapes.REPLAYS
# Bounds that keep every draw and every sum of times finite and the run within memory: past
# them a scenario is a typo, and the run would end in inf, nan or an allocation error.
MAX_TASKS = 100_000_000
MAX_SECONDS = 1e9  # about 31 years of scenario time, still microsecond-precise as a float
MAX_RATE = 1e9  # tasks per second; its inverse is the least rate, one task per MAX_SECONDS
MAX_CV = 100.0  # any spread; cv**2 overflows near 1e154, and 100 is already extreme
MAX_RESULT_BYTES = 512 * 1024**2  # Redis's largest string value
MAX_POOL = 10000  # workers, slots per worker, cores per machine, prefetch multiplier
# a timer's least period, the clock's step at MAX_SECONDS: a keepalive of 5e-324 overflowed the
# count of its ticks, and one of 1e-12 would tick 1e12 times a second of the run
MIN_PERIOD = 1e-6


def seconds(default: Any, meaning: str, positive: bool = False) -> Any:
    """A span of scenario time: at least zero, or above it when ``positive``."""
    lowest = {"above": 0} if positive else {"min": 0}
    return setting(default, meaning, unit="s", max=MAX_SECONDS, **lowest)


# a task's least work: a service time of 5e-324 s (a float's least above 0) ended a run so soon
# that its throughput, tasks ÷ makespan, overflowed to Infinity and its utilisation was NaN
MIN_SERVICE = 1e-9


def work(default: Any, meaning: str) -> Any:
    """Seconds of a task's work: at least ``MIN_SERVICE``."""
    return setting(default, meaning, unit="s", min=MIN_SERVICE, max=MAX_SECONDS)


def period(default: float, meaning: str) -> Any:
    """How often a timer fires, in scenario seconds: at least ``MIN_PERIOD``."""
    return setting(default, meaning, unit="s", min=MIN_PERIOD, max=MAX_SECONDS)


def wall_seconds(default: Any, meaning: str) -> Any:
    """Wall-clock seconds Celery spends, whatever the time scale (``sim.costs``)."""
    return setting(default, meaning, unit="wall s", min=0, max=MAX_SECONDS)


@dataclass(frozen=True)
class Run:
    """How much is submitted: a number of tasks, or seconds of arrivals."""

    tasks: int = setting(
        10000,
        "tasks submitted (the default, when run.duration is unset; not both)",
        unit="tasks",
        min=1,
        max=MAX_TASKS,
    )
    duration: float = seconds(0.0, "arrivals for this long instead of a task count; 0 = unset")
    warmup: float = seconds(
        0.0,
        "steady-state figures: latencies leave out tasks submitted before this, time averages "
        "the time before it; counts cover the whole run",
    )


@dataclass(frozen=True)
class Arrivals:
    """When tasks are submitted."""

    process: str = setting("poisson", "arrival process", choices=ARRIVAL_PROCESSES)
    rate: float = setting(
        7.2, "mean arrival rate", unit="tasks/s", min=1 / MAX_SECONDS, max=MAX_RATE
    )
    burst_size: int = setting(
        100,
        "tasks per burst (process = burst), bursts spaced burst_size/rate apart",
        unit="tasks",
        min=1,
        max=MAX_TASKS,
    )
    file: str = setting(
        "", "arrival times, one per line, relative to the scenario file (process = trace)"
    )
    replay: str = setting(
        "as_is",
        "process = trace: the file as is, or its gaps resampled per seed",
        choices=ARRIVAL_REPLAYS,
    )
    dist: str = setting(
        "exponential",
        "inter-arrival distribution (process = renewal), mean 1/rate",
        choices=ARRIVAL_DISTS,
    )
    cv: float = setting(
        1.0, "inter-arrival cv (process = renewal), as service.cv", above=0, max=MAX_CV
    )
    rates: tuple[float, ...] = setting(
        (),
        "process = piecewise: the rate in each of equal pieces of arrivals.period, repeated; "
        "their mean is arrivals.rate",
        unit="tasks/s",
        min=0,
        max=MAX_RATE,
    )
    amplitude: float = setting(
        0.5, "process = cycle: the rate is rate × (1 + amplitude × sin(2πt / period))", min=0, max=1
    )
    period: float = seconds(
        86400.0,
        "one cycle of the rate, then it repeats (process = piecewise, cycle)",
        positive=True,
    )


@dataclass(frozen=True)
class Service:
    """How long an attempt's work takes."""

    dist: str = setting("exponential", "service-time distribution", choices=SERVICE_DISTS)
    mean: float = work(1.0, "mean service time (all but uniform, empirical)")
    cv: float = setting(
        1.0,
        "std/mean (lognormal, erlang: 1/√k, hyperexponential: >= 1, pareto, weibull)",
        above=0,
        max=MAX_CV,
    )
    low: float = seconds(0.5, "lower bound (uniform)")
    high: float = work(1.5, "upper bound (uniform)")
    file: str = setting(
        "", "service times, one per line, relative to the scenario file (empirical: resampled)"
    )
    values: tuple[float, ...] = work((), "inline service times to resample (empirical)")


@dataclass(frozen=True)
class Workers:
    """Who runs the tasks: Celery worker nodes, their pools and their machines."""

    count: int = setting(8, "worker processes (Celery nodes)", min=1, max=MAX_POOL)
    concurrency: int = setting(
        1,
        "execution slots per worker (Celery --concurrency); not read when autoscale_max > 0, "
        "so not given with it",
        min=1,
        max=MAX_POOL,
    )
    autoscale_max: int = setting(
        0,
        "celery worker --autoscale MAX,MIN: most pool processes per worker; 0 = off (the "
        "concurrency is fixed)",
        min=0,
        max=MAX_POOL,
    )
    autoscale_min: int = setting(
        0,
        "--autoscale's MIN: fewest pool processes, and those a worker starts with; "
        "<= autoscale_max",
        min=0,
        max=MAX_POOL,
    )
    autoscale_keepalive: float = period(
        30.0,
        "AUTOSCALE_KEEPALIVE: the autoscaler's timer, and how long after its last scale-up or "
        "received task before it shrinks the pool",
    )
    prefetch_multiplier: int = setting(
        4,
        "worker_prefetch_multiplier: a worker reserves multiplier × concurrency messages; "
        "0 = no limit",
        min=0,
        max=MAX_POOL,
    )
    restart_delay: float = seconds(1.0, "until a crashed worker is back (a supervisor restarts it)")
    lost_wait: float = seconds(
        10.0,
        "worker_lost_wait, given to live workers and read by record; no effect on the prefork "
        "pool, which raises a dead child's WorkerLostError at once (measured), so the model "
        "does not wait it",
    )
    cores: int = setting(
        0,
        "CPU cores of each worker's machine; more busy slots than cores slow every task down; "
        "0 = a core per slot (sim only)",
        min=0,
        max=MAX_POOL,
    )
    deploy_every: float = seconds(
        0.0, "between rolling deploys that restart the workers one by one; 0 = none (sim only)"
    )
    shutdown_grace: float = seconds(
        30.0, "a deploy's warm shutdown waits this long for running tasks, then kills the worker"
    )
    process_start: float = wall_seconds(
        0.2,
        "a new pool process (replacing a child a hard time limit killed, or started by the "
        "autoscaler) takes work this late (measured for a replaced child: 0.2 s, or up to "
        "Celery's next 5 s pool check; a fork 0.07-0.5 s); overhead.model = celery serialises "
        "a node's forks",
    )
    node_autoscaler: str = setting(
        "none",
        "a node autoscaler for the pool: queue_length adds and removes whole worker "
        "nodes from the LLEN of the pool's queues, as KEDA's Redis list scaler; count is the "
        "nodes it starts with",
        choices=NODE_AUTOSCALERS,
    )
    node_target: int = setting(
        10,
        "queue_length: messages queued per node (KEDA's listLength)",
        unit="tasks",
        min=1,
        max=MAX_TASKS,
    )
    node_interval: float = period(
        30.0, "queue_length: between polls of the queue length (KEDA's pollingInterval)"
    )
    node_cooldown: float = seconds(
        300.0,
        "queue_length: nodes are removed only when fewer were wanted at every poll this long "
        "(KEDA's cooldownPeriod, the HPA's scale-down stabilization window)",
    )
    min_nodes: int = setting(
        1, "queue_length: fewest nodes; <= count", unit="nodes", min=1, max=MAX_POOL
    )
    max_nodes: int = setting(
        20, "queue_length: most nodes; >= count", unit="nodes", min=1, max=MAX_POOL
    )
    node_step: int = setting(
        4,
        "queue_length: most nodes added per poll (the HPA's default scale-up policy: 4 pods)",
        unit="nodes",
        min=1,
        max=MAX_POOL,
    )
    node_start: float = seconds(
        40.0, "queue_length: from the decision to add a node to its consuming (image pull, boot)"
    )
    kill_linger: float = wall_seconds(
        0.05,
        "a killed node's Redis connection stays open this long (measured 30-125 ms): a message "
        "Redis hands its waiting BRPOP meanwhile is lost",
    )

    @property
    def processes(self) -> int:
        """Most pool processes a worker runs: its concurrency, or autoscale's max."""
        return self.autoscale_max or self.concurrency

    @property
    def processes_vary(self) -> bool:
        """--autoscale grows and shrinks each node's pool (MIN < MAX): no fixed number of
        servers, as the textbook's queues have (MAX = MIN is a fixed pool of MAX)."""
        return self.autoscale_min < self.autoscale_max

    @property
    def node_autoscaled(self) -> bool:
        """A node autoscaler adds and removes this pool's nodes (``count`` is where it starts)."""
        return self.node_autoscaler != "none"

    @property
    def slots(self) -> int:
        """Execution slots in the whole pool (at most, under autoscale)."""
        return self.count * self.processes

    @property
    def full_speed_slots(self) -> int:
        """Slots that can compute at once without slowing each other: the cores, if fewer."""
        return self.count * min(self.processes, self.cores or self.processes)


@dataclass(frozen=True)
class Failures:
    """How attempts fail: they raise, they kill their worker, a downstream service is down."""

    probability: float = setting(
        0.0, "chance an attempt raises (then RETRY or FAILURE)", min=0, max=1
    )
    # above 0.9 a late-ack run barely drains: nearly every redelivery dies again
    crash_probability: float = setting(
        0.0, "chance an attempt kills its worker (keyed per delivery)", min=0, max=0.9
    )
    crash_kind: str = setting(
        "node",
        "what a crash kills: the whole worker node or the pool child running the task",
        choices=CRASH_KINDS,
    )
    outage: tuple[Outage, ...] = setting(
        (),
        "downstream outages, repeatable [[failures.outage]] tables: an attempt whose work ends "
        "in [start, end) fails with this probability instead of failures.probability",
    )


@dataclass(frozen=True)
class Retry:
    """Celery's retry settings (its defaults): what a failed attempt waits for."""

    # each attempt number draws a vector over all tasks: a thousand is memory enough; inf
    # (``retry.FOREVER``) is Celery's None, and the simulator follows such a task through
    # ``retry.FOLLOWED`` retries
    max_retries: int = setting(
        3,
        "retries before FAILURE (Task.max_retries); inf: retry for ever (Celery's None)",
        unit="retries",
        min=0,
        max=1000,
        forever=True,
    )
    countdown: float = seconds(180.0, "default_retry_delay, used when backoff is off")
    backoff: float = seconds(
        0.0, "retry_backoff factor; 0 = off; Celery truncates it to whole seconds, at least 1"
    )
    backoff_max: float = seconds(
        600.0, "retry_backoff_max: the cap on a backoff delay, truncated to whole seconds"
    )
    jitter: bool = setting(
        True, "retry_jitter: full jitter, a whole number of seconds from 0 to the cap"
    )
    on_worker_lost: bool = setting(
        False, "task_retry_on_worker_lost: retry a task whose pool child died, after countdown"
    )


@dataclass(frozen=True)
class Ack:
    """When a message is acknowledged, and what Redis does with one that is not."""

    late: bool = setting(False, "task_acks_late: acknowledge after the work, not before")
    visibility_timeout: float = seconds(
        3600.0,
        "Redis transport: unacked messages are redelivered after this, at a node's next restore "
        "scan (overhead.restore_interval)",
        positive=True,
    )
    reject_on_worker_lost: bool = setting(
        False, "task_reject_on_worker_lost: requeue a task whose pool child died (late ack only)"
    )


@dataclass(frozen=True)
class Results:
    """The result backend: what is stored and for how long."""

    expires: float = seconds(
        86400.0, "result_expires: how long a stored result lives", positive=True
    )
    size: int = setting(
        1000, "what one stored result takes in Redis", unit="bytes", min=0, max=MAX_RESULT_BYTES
    )
    track_started: bool = setting(False, "task_track_started: store STARTED too")

    @property
    def writes_per_execution(self) -> int:
        """Result-backend writes an execution makes: its end, and STARTED when tracked."""
        return 2 if self.track_started else 1


def tables(kind: type) -> Any:
    """A list of ``[[tables]]`` of ``kind`` (task types, pools): parsed by ``sim.scenario`` into
    ``kind`` instances, each completed from the scenario-level sections when the file is read."""
    return dataclasses.field(default=(), metadata={TABLES: kind})


@dataclass(frozen=True)
class TaskType:
    """One kind of task: how much of the traffic it is, where Celery routes it, what limits it.

    Its ``service``, ``failures`` and ``retry`` are the scenario-level tables, completed field by
    field with its own ``[tasks.service]`` (…) when the file is read; a scenario without
    ``[[tasks]]`` is one type built from those tables. Its tasks are a ``share`` of the
    scenario's [arrivals], or come from its own ``[tasks.arrivals]`` (completed likewise).
    """

    name: str = setting("task", "the task's name (Celery's task name); unique")
    share: float = setting(
        0.0,
        "fraction of [arrivals] of this type; 0 = an equal part of what the others leave "
        "(none with its own [tasks.arrivals])",
        min=0,
        max=1,
    )
    queue: str = setting(DEFAULT_QUEUE, "the queue it is routed to (task_routes)")
    priority: int = setting(
        0, "message priority; on Redis 0 is the highest (kombu's steps 0, 3, 6, 9)", min=0, max=9
    )
    rate_limit: str = setting(
        "",
        "Task.rate_limit, per worker node: '10/s', '100/m', '5/h' or a number per second; 0 "
        "none, as in Celery",
        numbers=True,
    )
    soft_time_limit: float = seconds(
        0.0, "SoftTimeLimitExceeded raised after this long; the task retries as on a failure"
    )
    time_limit: float = seconds(
        0.0, "hard limit: the pool child is killed and replaced, the task ends in FAILURE"
    )
    service: Service = dataclasses.field(default_factory=Service)
    failures: Failures = dataclasses.field(default_factory=Failures)
    retry: Retry = dataclasses.field(default_factory=Retry)
    arrivals: Arrivals | None = None  # its own arrival process; None: a share of [arrivals]

    def to_table(self, base: Scenario) -> dict[str, Any]:
        """Its TOML table: own fields, and in sub-tables what differs from ``base``'s sections
        (its own arrivals always, if it has them)."""
        table = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in TASK_SECTIONS:
            section = table.pop(name)
            if section is None:
                continue
            own, default = dataclasses.asdict(section), dataclasses.asdict(base.get(name))
            diff = {k: v for k, v in own.items() if v != default[k]}
            if name == "arrivals" and section.process == "piecewise":
                diff.pop("rate", None)  # the mean of its rates, derived again when read
            if diff or name == "arrivals":
                table[name] = diff or {"process": section.process}
        return table


@dataclass(frozen=True)
class Pool:
    """A group of worker nodes that consume the same queues (``celery worker -Q a,b``), each
    configured by ``workers``: the scenario-level [workers] table, completed with the pool's
    own fields (``count = 4`` in a ``[[pools]]`` table)."""

    name: str = setting("workers", "the pool's name; its nodes are named <name>-1, <name>-2, …")
    queues: tuple[str, ...] = setting((DEFAULT_QUEUE,), "the queues its nodes consume, in -Q order")
    queue_order: str = setting(
        "round_robin",
        "kombu's queue_order_strategy: the order a node reads its queues in",
        choices=QUEUE_ORDERS,
    )
    workers: Workers = dataclasses.field(default_factory=Workers)

    def to_table(self, base: Scenario) -> dict[str, Any]:
        """Its TOML table: own fields, then the [workers] fields that differ from ``base``'s."""
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        workers, default = dataclasses.asdict(own.pop("workers")), dataclasses.asdict(base.workers)
        return own | {k: v for k, v in workers.items() if v != default[k]}


TASK_SECTIONS = ("service", "failures", "retry", "arrivals")  # what a task type may set
# settings of a whole deployment in Celery, not of one task
DEPLOYMENT_WIDE = ("failures.crash_kind", "retry.on_worker_lost")
RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}  # Celery's rate_limit suffixes


def rate_limit_per_second(text: str, where: str = "rate_limit") -> float:
    """Celery's rate-limit string in tasks per second: ``"10/s"``, ``"100/m"``, ``"5/h"``, or a
    bare number (per second, as ``celery.utils.time.rate`` reads it; a number in the file is
    its text, as Celery takes ``rate_limit=5``); 0 for none: "" and a rate of 0 ("0", "0/s"),
    which ``rate`` reads as 0 and the worker's consumer as no limit (``bucket_for_task`` makes
    no token bucket for it). Any other within ``arrivals.rate``'s range, as every rate:
    '1e-300/h' spaced a type's tasks 3.6e303 s apart, past any time the scenario's bounds
    keep finite."""
    if not text:
        return 0.0
    number, _, unit = text.partition("/")
    try:
        rate = float(number) / RATE_UNITS[unit or "s"]
    except (ValueError, KeyError):
        rate = -1.0
    if rate != 0 and not 1 / MAX_SECONDS <= rate <= MAX_RATE:
        raise ScenarioError(
            f"{where} = {text!r}: must be a rate such as 5 or '5' (a second), '10/s', '100/m' "
            f"or '5/h', from {1 / MAX_SECONDS:g}/s to {MAX_RATE:g}/s, or 0 for none"
        )
    return rate


def rate_limited(kind: TaskType) -> bool:
    """Whether a task type's rate limit holds its tasks back: one set, and not 0."""
    return rate_limit_per_second(kind.rate_limit) > 0
