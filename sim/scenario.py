"""The scenario: what is submitted, how long it takes, who runs it and how it fails.

Every field is declared once in ``FIELDS`` with its default, type, allowed range and meaning, as
Celery's ``app/defaults.py`` declares its settings; loading, validation, ``--set`` overrides and
the docs all read that table. A scenario is plain frozen data: the simulator and the live mode
read it and never change it. Times are seconds of scenario time.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.outage import Outage

log = logging.getLogger(__name__)


class ScenarioError(ValueError):
    """A scenario field is missing, mistyped or out of range; the message says which and how."""


@dataclass(frozen=True)
class Field:
    """One scenario setting: dotted key, default, type and the range it must lie in."""

    key: str
    default: Any
    type: type
    meaning: str
    min: float | None = None  # inclusive lower bound
    above: float | None = None  # exclusive lower bound
    max: float | None = None  # inclusive upper bound
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        """The allowed range in words, for error messages and docs."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.type is Outage:
            return "a list of {start, end, probability}, 0 <= start < end, 0 <= probability <= 1"
        kind = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
        # an integer bound is shown exactly: 9.22337e+18 would hide where the range ends
        shown = str if self.type is int else "{:g}".format
        parts = []
        if self.above is not None:
            parts.append(f"> {shown(self.above)}")
        if self.min is not None:
            parts.append(f">= {shown(self.min)}")
        if self.max is not None:
            parts.append(f"<= {shown(self.max)}")
        return kind[self.type] + (" " + " and ".join(parts) if parts else "")


ARRIVAL_PROCESSES = ("poisson", "constant", "burst", "trace")
CRASH_KINDS = ("node", "child")
SERVICE_DISTS = ("exponential", "constant", "lognormal", "uniform", "empirical")
# Bounds that keep every draw and every sum of times finite and the run within memory: past
# them a scenario is a typo, and the run would end in inf, nan or an allocation error.
MAX_TASKS = 100_000_000
MAX_SECONDS = 1e9  # about 31 years of scenario time, still microsecond-precise as a float
MAX_RATE = 1e9  # tasks per second; its inverse is the least rate, one task per MAX_SECONDS
MAX_CV = 100.0  # lognormal spread; cv**2 overflows near 1e154, and 100 is already extreme
MAX_RESULT_BYTES = 512 * 1024**2  # Redis's largest string value

FIELDS: tuple[Field, ...] = (
    Field("name", "scenario", str, "a label carried into traces and summaries"),
    Field("description", "", str, "what this scenario shows and where to look"),
    Field("seed", 1, int, "seed of every random draw", min=0, max=2**63 - 1),
    Field(
        "run.tasks",
        10000,
        int,
        "tasks submitted (default when run.duration is unset)",
        min=1,
        max=MAX_TASKS,
    ),
    Field(
        "run.duration",
        0.0,
        float,
        "seconds of arrivals instead of a task count; 0 = unset",
        min=0,
        max=MAX_SECONDS,
    ),
    Field("arrivals.process", "poisson", str, "arrival process", choices=ARRIVAL_PROCESSES),
    Field("arrivals.rate", 7.2, float, "mean tasks per second", min=1 / MAX_SECONDS, max=MAX_RATE),
    Field(
        "arrivals.burst_size", 100, int, "tasks per burst (process = burst)", min=1, max=MAX_TASKS
    ),
    Field("arrivals.file", "", str, "arrival times, one per line (process = trace)"),
    Field("service.dist", "exponential", str, "service-time distribution", choices=SERVICE_DISTS),
    Field("service.mean", 1.0, float, "mean service time in seconds", above=0, max=MAX_SECONDS),
    Field("service.cv", 1.0, float, "coefficient of variation (lognormal)", above=0, max=MAX_CV),
    Field("service.low", 0.5, float, "lower bound (uniform)", min=0, max=MAX_SECONDS),
    Field("service.high", 1.5, float, "upper bound (uniform)", above=0, max=MAX_SECONDS),
    Field("service.file", "", str, "service times, one per line (empirical)"),
    Field("service.values", (), list, "inline service times to sample from (empirical)"),
    Field("workers.count", 8, int, "worker processes (Celery nodes)", min=1, max=10000),
    Field(
        "workers.concurrency",
        1,
        int,
        "execution slots per worker (--concurrency)",
        min=1,
        max=10000,
    ),
    Field(
        "workers.prefetch_multiplier",
        4,
        int,
        "worker_prefetch_multiplier; 0 = no limit",
        min=0,
        max=10000,
    ),
    Field(
        "workers.restart_delay",
        1.0,
        float,
        "seconds until a crashed worker is back",
        min=0,
        max=MAX_SECONDS,
    ),
    Field(
        "workers.lost_wait",
        10.0,
        float,
        "worker_lost_wait: seconds from a pool child's death to WorkerLostError",
        min=0,
        max=MAX_SECONDS,
    ),
    Field(
        "workers.cores",
        0,
        int,
        "CPU cores of each worker's machine; more busy slots than cores slow every task down; "
        "0 = a core per slot",
        min=0,
        max=10000,
    ),
    Field(
        "workers.deploy_every",
        0.0,
        float,
        "seconds between rolling deploys that restart the workers one by one; 0 = none",
        min=0,
        max=MAX_SECONDS,
    ),
    Field(
        "workers.shutdown_grace",
        30.0,
        float,
        "seconds a deploy's warm shutdown may wait for running tasks before killing the worker",
        min=0,
        max=MAX_SECONDS,
    ),
    Field(
        "workers.kill_linger",
        0.05,
        float,
        "seconds a killed node's Redis connection stays open: a message Redis hands its waiting "
        "BRPOP meanwhile is lost",
        min=0,
        max=MAX_SECONDS,
    ),
    Field("failures.probability", 0.0, float, "chance an attempt raises", min=0, max=1),
    # above 0.9 a late-ack run barely drains: nearly every redelivery dies again
    Field(
        "failures.crash_probability",
        0.0,
        float,
        "chance an attempt kills its worker",
        min=0,
        max=0.9,
    ),
    Field(
        "failures.crash_kind",
        "node",
        str,
        "what a crash kills: the whole worker node or the pool child running the task",
        choices=CRASH_KINDS,
    ),
    Field(
        "failures.outage",
        (),
        Outage,
        "downstream outages: [[failures.outage]] start, end, probability (an attempt ending "
        "inside one fails with its probability)",
    ),
    # each attempt number draws a vector over all tasks: a thousand is memory enough
    Field(
        "retry.max_retries", 3, int, "retries before FAILURE (Task.max_retries)", min=0, max=1000
    ),
    Field(
        "retry.countdown",
        180.0,
        float,
        "default_retry_delay when backoff is off",
        min=0,
        max=MAX_SECONDS,
    ),
    Field(
        "retry.backoff",
        0.0,
        float,
        "retry_backoff factor in seconds; 0 = off",
        min=0,
        max=MAX_SECONDS,
    ),
    Field("retry.backoff_max", 600.0, float, "retry_backoff_max", min=0, max=MAX_SECONDS),
    Field("retry.jitter", True, bool, "retry_jitter: full jitter on the backoff"),
    Field(
        "retry.on_worker_lost",
        False,
        bool,
        "task_retry_on_worker_lost: retry a task whose pool child died, after countdown",
    ),
    Field("ack.late", False, bool, "task_acks_late"),
    Field(
        "ack.reject_on_worker_lost",
        False,
        bool,
        "task_reject_on_worker_lost: requeue a task whose pool child died (late ack only)",
    ),
    Field(
        "ack.visibility_timeout",
        3600.0,
        float,
        "Redis redelivers unacked messages after this",
        above=0,
        max=MAX_SECONDS,
    ),
    Field(
        "overhead.dispatch",
        0.0,
        float,
        "broker-to-worker delay per delivery",
        min=0,
        max=MAX_SECONDS,
    ),
    Field(
        "overhead.record",
        0.0,
        float,
        "result-backend write per state change",
        min=0,
        max=MAX_SECONDS,
    ),
    Field(
        "results.expires",
        86400.0,
        float,
        "result_expires: seconds a stored result lives",
        above=0,
        max=MAX_SECONDS,
    ),
    Field(
        "results.size",
        1000,
        int,
        "bytes one stored result takes in Redis",
        min=0,
        max=MAX_RESULT_BYTES,
    ),
    Field("results.track_started", False, bool, "task_track_started: store STARTED too"),
)
FIELD_BY_KEY = {f.key: f for f in FIELDS}


@dataclass(frozen=True)
class Run:
    tasks: int
    duration: float


@dataclass(frozen=True)
class Arrivals:
    process: str
    rate: float
    burst_size: int
    file: str


@dataclass(frozen=True)
class Service:
    dist: str
    mean: float
    cv: float
    low: float
    high: float
    file: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Workers:
    count: int
    concurrency: int
    prefetch_multiplier: int
    restart_delay: float
    lost_wait: float
    cores: int
    deploy_every: float
    shutdown_grace: float
    kill_linger: float

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
    probability: float
    crash_probability: float
    crash_kind: str
    outage: tuple[Outage, ...]


@dataclass(frozen=True)
class Retry:
    max_retries: int
    countdown: float
    backoff: float
    backoff_max: float
    jitter: bool
    on_worker_lost: bool = False  # the one default here: code that builds a Retry by hand


@dataclass(frozen=True)
class Ack:
    late: bool
    visibility_timeout: float
    reject_on_worker_lost: bool


@dataclass(frozen=True)
class Overhead:
    dispatch: float
    record: float


@dataclass(frozen=True)
class Results:
    expires: float
    size: int
    track_started: bool

    @property
    def writes_per_execution(self) -> int:
        """Result-backend writes an execution makes: its end, and STARTED when tracked."""
        return 2 if self.track_started else 1


SECTIONS = {
    "run": Run,
    "arrivals": Arrivals,
    "service": Service,
    "workers": Workers,
    "failures": Failures,
    "retry": Retry,
    "ack": Ack,
    "overhead": Overhead,
    "results": Results,
}


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int
    run: Run
    arrivals: Arrivals
    service: Service
    workers: Workers
    failures: Failures
    retry: Retry
    ack: Ack
    overhead: Overhead
    results: Results

    def replace(self, **dotted: Any) -> Scenario:
        """A copy with some fields changed, e.g. ``replace(**{"workers.count": 4})``."""
        return from_dict(_nest(dotted), base=self)

    def to_dict(self) -> dict[str, Any]:
        """The scenario as nested plain data, ready for TOML or JSON."""
        return dataclasses.asdict(self)


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


def _coerce(field: Field, value: Any) -> Any:
    """Check one value against its field; return it in the field's type."""

    def fail(why: str) -> ScenarioError:
        return ScenarioError(f"{field.key} = {value!r} {why}: must be {field.allowed()}")

    if field.type is Outage:
        return _outages(field, value)
    if field.type is list:
        if not isinstance(value, list | tuple) or not all(
            _is_number(v) and 0 < v <= MAX_SECONDS for v in value
        ):
            raise ScenarioError(
                f"{field.key} = {value!r}: must be a list of numbers > 0 and <= {MAX_SECONDS:g}"
            )
        return tuple(float(v) for v in value)
    if field.type is bool:
        if not isinstance(value, bool):
            raise fail("is not a boolean")
        return value
    if field.type is str:
        if not isinstance(value, str):
            raise fail("is not a string")
        if field.choices and value not in field.choices:
            raise fail("is not allowed")
        return value
    if field.type is int and not (isinstance(value, int) and not isinstance(value, bool)):
        raise fail("is not an integer")
    if field.type is float and not _is_number(value):
        raise fail("is not a number")
    try:
        number = field.type(value)
    except OverflowError:  # a TOML integer too large for a float: 10**400
        raise fail("is out of range") from None
    if field.type is float and not math.isfinite(number):
        raise fail("is not finite")
    too_low = (field.min is not None and number < field.min) or (
        field.above is not None and number <= field.above
    )
    if too_low or (field.max is not None and number > field.max):
        raise fail("is out of range")
    return number


def _outages(field: Field, value: Any) -> tuple[Outage, ...]:
    if not isinstance(value, list | tuple):
        raise ScenarioError(f"{field.key} = {value!r}: must be {field.allowed()}")
    outages = []
    for i, table in enumerate(value):
        where = f"{field.key}[{i}]"
        if isinstance(table, Outage):
            table = dataclasses.asdict(table)
        if not isinstance(table, dict) or set(table) != {"start", "end", "probability"}:
            raise ScenarioError(f"{where} = {table!r}: give exactly start, end and probability")
        if not all(_is_number(v) and _is_finite(v) for v in table.values()):
            raise ScenarioError(f"{where} = {table!r}: start, end and probability are numbers")
        start, end, p = (float(table[k]) for k in ("start", "end", "probability"))
        if not 0 <= start < end:
            raise ScenarioError(f"{where}: start = {start:g}, end = {end:g}: need 0 <= start < end")
        if not 0 <= p <= 1:
            raise ScenarioError(f"{where}.probability = {p:g} is out of range: must be in [0, 1]")
        outages.append(Outage(start, end, p))
    return tuple(sorted(outages, key=lambda o: o.start))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_finite(number: int | float) -> bool:
    """Finite as a float: TOML integers are unbounded, and 10**400 does not fit one."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def coerce(key: str, value: Any) -> Any:
    """``value`` checked against field ``key`` and returned in its type, for command-line flags
    that stand in for a field (``--seed``): the same range and message as in a file."""
    return _coerce(FIELD_BY_KEY[key], value)


def from_dict(raw: dict[str, Any], base: Scenario | None = None) -> Scenario:
    """Validate nested scenario data; fields it leaves out come from ``base`` or the defaults."""
    _check_sections(raw)
    given = _flatten(raw)
    unknown = sorted(set(given) - set(FIELD_BY_KEY))
    if unknown:
        raise ScenarioError(
            f"unknown scenario field {unknown[0]!r}; known fields: " + ", ".join(FIELD_BY_KEY)
        )
    values = {key: _coerce(FIELD_BY_KEY[key], value) for key, value in given.items()}
    previous = _flatten(base.to_dict()) if base else {}
    # the base comes back from to_dict as plain data (an outage as a dict): coerce it again
    merged = {
        f.key: values[f.key] if f.key in values else _coerce(f, previous.get(f.key, f.default))
        for f in FIELDS
    }
    if "run.duration" in values and "run.tasks" in values and values["run.duration"] > 0:
        raise ScenarioError("run.tasks and run.duration are both set: give one of them")
    if "run.tasks" in values:
        merged["run.duration"] = 0.0
    _check_together(merged)
    sections = {
        name: cls(**{f.name: merged[f"{name}.{f.name}"] for f in dataclasses.fields(cls)})
        for name, cls in SECTIONS.items()
    }
    return Scenario(
        name=merged["name"], description=merged["description"], seed=merged["seed"], **sections
    )


def _check_sections(raw: dict[str, Any]) -> None:
    """A section written as a value (``service = 5``, ``run = [1, 2]``, ``[[service]]``) is named
    as such: to the field table it would only be an unknown field."""
    for name in SECTIONS:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise ScenarioError(
                f"{name} = {_toml_value(value)}: {name} must be a table, "
                f"written [{name}] with its fields beneath it"
            )


def _check_together(m: dict[str, Any]) -> None:
    """Rules that involve more than one field."""
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
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(f"--set {text!r}: expected KEY=VALUE, e.g. workers.count=8")
    if key not in FIELD_BY_KEY:
        raise ScenarioError(
            f"--set {key!r}: unknown field; known fields: " + ", ".join(FIELD_BY_KEY)
        )
    try:
        return key, tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value.strip()


def read_toml(path: str | Path) -> dict[str, Any]:
    """A scenario file's raw tables, with relative ``file`` fields resolved against its folder,
    so a scenario and its data files travel together."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"scenario file {str(path)!r} does not exist") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file: a scenario is TOML in UTF-8") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{path}: malformed TOML: {err}") from None
    for section in ("service", "arrivals"):
        table = raw.get(section)
        file = table.get("file") if isinstance(table, dict) else None
        if isinstance(file, str) and file and not Path(file).is_absolute():
            table["file"] = str(path.parent / file)
    return raw


def without_lesson(raw: dict[str, Any]) -> dict[str, Any]:
    """A lesson file's ``[lesson]`` table is teaching metadata (see ``sim.lessons``), not part
    of the scenario: every reader of scenario files skips it."""
    raw.pop("lesson", None)
    return raw


def loads(text: str) -> Scenario:
    """A scenario from TOML text (pasted or uploaded), read as ``load`` reads a file."""
    try:
        return from_dict(without_lesson(tomllib.loads(text)))
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"malformed TOML: {err}") from None


def load(path: str | Path | None, overrides: list[str] = ()) -> Scenario:
    """Read a scenario file (or the defaults when ``path`` is None); apply ``--set`` overrides."""
    raw = without_lesson(read_toml(path) if path is not None else {})
    if path is not None and not raw:
        # most likely the wrong file: say so rather than silently run the defaults
        log.warning(
            "warning: scenario file %s sets no fields: every field %stakes its default",
            path,
            "not given with --set " if overrides else "",
        )
    scenario = from_dict(raw)
    if overrides:
        scenario = from_dict(_nest(dict(parse_override(o) for o in overrides)), base=scenario)
    return scenario


def dumps(scenario: Scenario) -> str:
    """The scenario as TOML text that ``load`` reads back to the same scenario."""
    data = scenario.to_dict()
    lines = [f"{k} = {_toml_value(data[k])}" for k in ("name", "description", "seed")]
    for section in SECTIONS:
        lines.append(f"\n[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in data[section].items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # JSON escapes are TOML escapes; TOML also wants DEL escaped, and no surrogate pairs
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)
