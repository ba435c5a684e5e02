"""The scenario: what is submitted, how long it takes, who runs it and how it fails.

Every field is declared once, on the frozen dataclass that holds it, with its default, range, unit
and meaning (``sim.fields.setting``), as Celery's ``app/defaults.py`` declares its settings.
``FIELDS``, validation, ``--set`` overrides, the app's sliders, the Hypothesis strategies and
DESIGN.md's field table all read those declarations. A scenario is plain frozen data: the
simulator and the live mode read it and never change it. Times are seconds of scenario time.
``sim.scenario_io`` holds the TOML format; ``load``, ``loads`` and ``dumps`` here join the two.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

from sim import scenario_io, shapes
from sim.fields import DECLARED, Field, ScenarioError, setting
from sim.rules.outage import Outage

ARRIVAL_PROCESSES = tuple(shapes.PROCESS_READS)
CRASH_KINDS = ("node", "child")
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


def seconds(default: Any, meaning: str, positive: bool = False) -> Any:
    """A span of scenario time: at least zero, or above it when ``positive``."""
    lowest = {"above": 0} if positive else {"min": 0}
    return setting(default, meaning, unit="s", max=MAX_SECONDS, **lowest)


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


@dataclass(frozen=True)
class Service:
    """How long an attempt's work takes."""

    dist: str = setting("exponential", "service-time distribution", choices=SERVICE_DISTS)
    mean: float = seconds(1.0, "mean service time (all but uniform, empirical)", positive=True)
    cv: float = setting(
        1.0,
        "std/mean (lognormal, erlang: 1/√k, hyperexponential: >= 1, pareto, weibull)",
        above=0,
        max=MAX_CV,
    )
    low: float = seconds(0.5, "lower bound (uniform)")
    high: float = seconds(1.5, "upper bound (uniform)", positive=True)
    file: str = setting(
        "", "service times, one per line, relative to the scenario file (empirical: resampled)"
    )
    values: tuple[float, ...] = seconds(
        (), "inline service times to resample (empirical)", positive=True
    )


@dataclass(frozen=True)
class Workers:
    """Who runs the tasks: Celery worker nodes, their pools and their machines."""

    count: int = setting(8, "worker processes (Celery nodes)", min=1, max=MAX_POOL)
    concurrency: int = setting(
        1, "execution slots per worker (Celery --concurrency)", min=1, max=MAX_POOL
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
        10.0, "worker_lost_wait: from a pool child's death to its WorkerLostError"
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
    kill_linger: float = seconds(
        0.05,
        "a killed node's Redis connection stays open this long (measured): a message Redis hands "
        "its waiting BRPOP meanwhile is lost",
    )

    @property
    def slots(self) -> int:
        """Execution slots in the whole pool."""
        return self.count * self.concurrency

    @property
    def full_speed_slots(self) -> int:
        """Slots that can compute at once without slowing each other: the cores, if fewer."""
        return self.count * min(self.concurrency, self.cores or self.concurrency)


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

    # each attempt number draws a vector over all tasks: a thousand is memory enough
    max_retries: int = setting(
        3, "retries before FAILURE (Task.max_retries)", unit="retries", min=0, max=1000
    )
    countdown: float = seconds(180.0, "default_retry_delay, used when backoff is off")
    backoff: float = seconds(0.0, "retry_backoff factor; 0 = off")
    backoff_max: float = seconds(600.0, "retry_backoff_max: the cap on a backoff delay")
    jitter: bool = setting(True, "retry_jitter: full jitter on the backoff")
    on_worker_lost: bool = setting(
        False, "task_retry_on_worker_lost: retry a task whose pool child died, after countdown"
    )


@dataclass(frozen=True)
class Ack:
    """When a message is acknowledged, and what Redis does with one that is not."""

    late: bool = setting(False, "task_acks_late: acknowledge after the work, not before")
    visibility_timeout: float = seconds(
        3600.0, "Redis transport: unacked messages are redelivered after this", positive=True
    )
    reject_on_worker_lost: bool = setting(
        False, "task_reject_on_worker_lost: requeue a task whose pool child died (late ack only)"
    )


@dataclass(frozen=True)
class Overhead:
    """Time Celery itself takes, calibrated from live runs."""

    dispatch: float = seconds(
        0.0, "broker-to-worker delay per delivery (calibrated from live runs)"
    )
    record: float = seconds(0.0, "result-backend write per state change")


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


@dataclass(frozen=True)
class Scenario:
    """A whole scenario; ``Scenario()`` is the defaults, ``load``/``loads`` check a given one."""

    name: str = setting("scenario", "a label carried into traces and summaries")
    description: str = setting("", "what this scenario shows and where to look")
    seed: int = setting(1, "seed of every random draw", min=0, max=2**63 - 1)
    run: Run = dataclasses.field(default_factory=Run)
    arrivals: Arrivals = dataclasses.field(default_factory=Arrivals)
    service: Service = dataclasses.field(default_factory=Service)
    workers: Workers = dataclasses.field(default_factory=Workers)
    failures: Failures = dataclasses.field(default_factory=Failures)
    retry: Retry = dataclasses.field(default_factory=Retry)
    ack: Ack = dataclasses.field(default_factory=Ack)
    overhead: Overhead = dataclasses.field(default_factory=Overhead)
    results: Results = dataclasses.field(default_factory=Results)

    def replace(self, **dotted: Any) -> Scenario:
        """A copy with some fields changed, e.g. ``replace(**{"workers.count": 4})``."""
        return from_dict(_nest(dotted), base=self)

    def to_dict(self) -> dict[str, Any]:
        """The scenario as nested plain data, ready for TOML or JSON."""
        return dataclasses.asdict(self)

    def get(self, key: str) -> Any:
        """One field by its dotted key, e.g. ``get("workers.count")``."""
        section, _, name = key.partition(".")
        return getattr(getattr(self, section), name) if name else getattr(self, section)


SECTIONS: dict[str, type] = {
    f.name: cls
    for f in dataclasses.fields(Scenario)
    if dataclasses.is_dataclass(cls := f.default_factory)
}


def declared(cls: type, prefix: str = "") -> Iterator[Field]:
    """The settings of ``cls`` and its sections, keyed by dotted name, typed by annotation."""
    types = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in SECTIONS and not prefix:
            yield from declared(SECTIONS[f.name], f"{f.name}.")
        elif DECLARED in f.metadata:
            yield dataclasses.replace(f.metadata[DECLARED], key=prefix + f.name, type=types[f.name])
        else:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with sim.fields.setting")


FIELDS: tuple[Field, ...] = tuple(declared(Scenario))
FIELD_BY_KEY = {f.key: f for f in FIELDS}


def coerce(key: str, value: Any) -> Any:
    """``value`` checked against field ``key`` and returned in its type, for command-line flags
    that stand in for a field (``--seed``): the same range and message as in a file."""
    return FIELD_BY_KEY[key].coerce(value)


def from_dict(raw: dict[str, Any], base: Scenario | None = None) -> Scenario:
    """Validate nested scenario data; fields it leaves out come from ``base`` or the defaults."""
    _check_sections(raw)
    given = _flatten(raw)
    unknown = sorted(set(given) - set(FIELD_BY_KEY))
    if unknown:
        raise ScenarioError(
            f"unknown scenario field {unknown[0]!r}; known fields: " + ", ".join(FIELD_BY_KEY)
        )
    values = {key: FIELD_BY_KEY[key].coerce(value) for key, value in given.items()}
    previous = _flatten(base.to_dict()) if base else {}
    # the base comes back from to_dict as plain data (an outage as a dict): coerce it again
    merged = {
        f.key: values[f.key] if f.key in values else f.coerce(previous.get(f.key, f.default))
        for f in FIELDS
    }
    if "run.duration" in values and "run.tasks" in values and values["run.duration"] > 0:
        raise ScenarioError("run.tasks and run.duration are both set: give one of them")
    if "run.tasks" in values:
        merged["run.duration"] = 0.0
    _check_together(merged, set(values))
    sections = {
        name: cls(**{f.name: merged[f"{name}.{f.name}"] for f in dataclasses.fields(cls)})
        for name, cls in SECTIONS.items()
    }
    top = {key: value for key, value in merged.items() if "." not in key}
    return Scenario(**top, **sections)


def _nest(dotted: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        head, _, tail = key.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = value
        else:
            nested[head] = value
    return nested


def _flatten(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = prefix + key
        if isinstance(value, dict) and key in SECTIONS and not prefix:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _check_sections(raw: dict[str, Any]) -> None:
    """A section written as a value (``service = 5``, ``run = [1, 2]``, ``[[service]]``) is named
    as such: to the field table it would only be an unknown field."""
    for name in SECTIONS:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise ScenarioError(
                f"{name} = {scenario_io.toml_value(value)}: {name} must be a table, "
                f"written [{name}] with its fields beneath it"
            )


def _check_together(m: dict[str, Any], given: set[str]) -> None:
    """Rules that involve more than one field; ``given`` are the keys the input itself sets."""
    shapes.check(m, given)
    if m["service.dist"] == "uniform" and not m["service.low"] < m["service.high"]:
        raise ScenarioError(
            f"service.low = {m['service.low']!r} must be < service.high = {m['service.high']!r}"
        )
    if m["service.dist"] == "empirical" and not (m["service.file"] or m["service.values"]):
        raise ScenarioError("service.dist = 'empirical' needs service.file or service.values")
    if m["arrivals.process"] == "trace" and not m["arrivals.file"]:
        raise ScenarioError("arrivals.process = 'trace' needs arrivals.file (arrival times)")
    expected = m["run.duration"] * m["arrivals.rate"]
    if m["arrivals.process"] != "trace" and expected > MAX_TASKS:
        raise ScenarioError(
            f"run.duration = {m['run.duration']:g} at arrivals.rate = {m['arrivals.rate']:g} "
            f"submits about {expected:.3g} tasks: must be <= {MAX_TASKS} like run.tasks"
        )


def parse_override(text: str) -> tuple[str, Any]:
    """``workers.count=8`` → ("workers.count", 8); values are TOML, bare words are strings."""
    key, value = scenario_io.parse_override(text)
    if key not in FIELD_BY_KEY:
        raise ScenarioError(
            f"--set {key!r}: unknown field; known fields: " + ", ".join(FIELD_BY_KEY)
        )
    return key, value


def loads(text: str) -> Scenario:
    """A scenario from TOML text (pasted or uploaded), read as ``load`` reads a file: the CLI
    and the app share it, so a file one runs (a lesson too) runs in the other."""
    return from_dict(scenario_io.parse(text))


def load(path: str | Path | None, overrides: list[str] = ()) -> Scenario:
    """Read a scenario file (or the defaults when ``path`` is None); apply ``--set`` overrides."""
    scenario = from_dict(scenario_io.read(path, bool(overrides)) if path is not None else {})
    if overrides:
        scenario = scenario.replace(**dict(parse_override(o) for o in overrides))
    return scenario


def dumps(scenario: Scenario) -> str:
    """The scenario as TOML text that ``load`` reads back to a scenario that runs the same.

    Fields it does not read are left out: given, they are an error.
    """
    data = shapes.without_unread(scenario.to_dict())
    if scenario.run.duration:  # run.tasks is unread then, and both given are an error
        del data["run"]["tasks"]
    return scenario_io.dumps(data)
