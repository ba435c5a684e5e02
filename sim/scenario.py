"""The scenario: what is submitted, how long it takes, who runs it and how it fails.

Every field is declared once, on the frozen dataclass that holds it (``sim.sections``), with its
default, range, unit and meaning (``sim.fields.setting``), as Celery's ``app/defaults.py``
declares its settings.
``FIELDS``, validation, ``--set`` overrides, the app's sliders, the Hypothesis strategies and
DESIGN.md's field table all read those declarations. A scenario is plain frozen data: the
simulator and the live mode read it and never change it. Times are seconds of scenario time.
``sim.scenario_io`` holds the TOML format; ``load``, ``loads`` and ``dumps`` here join the two.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

from sim import data_files, scenario_io, shapes
from sim.costs import Overhead
from sim.fields import DECLARED, NAME, TABLES, Field, ScenarioError, setting
from sim.rules import limits, node_autoscale
from sim.sections import (
    ARRIVAL_DISTS,
    ARRIVAL_PROCESSES,
    ARRIVAL_REPLAYS,
    CRASH_KINDS,
    DEFAULT_QUEUE,
    DEPLOYMENT_WIDE,
    MAX_CV,
    MAX_POOL,
    MAX_RATE,
    MAX_RESULT_BYTES,
    MAX_SECONDS,
    MAX_TASKS,
    QUEUE_ORDERS,
    SERVICE_DISTS,
    TASK_SECTIONS,
    Ack,
    Arrivals,
    Failures,
    Pool,
    Results,
    Retry,
    Run,
    Service,
    TaskType,
    Workers,
    rate_limit_per_second,
    rate_limited,
    seconds,
    tables,
)

# the sections are declared in sim.sections; importers read them here, with the scenario
__all__ = [
    "Scenario",
    "ScenarioError",
    "FIELDS",
    "FIELD_BY_KEY",
    "TABLE_FIELDS",
    "TABLE_KINDS",
    "SECTIONS",
    "declared",
    "coerce",
    "from_dict",
    "parse_override",
    "loads",
    "load",
    "dumps",
    "ARRIVAL_PROCESSES",
    "CRASH_KINDS",
    "QUEUE_ORDERS",
    "DEFAULT_QUEUE",
    "SERVICE_DISTS",
    "ARRIVAL_DISTS",
    "ARRIVAL_REPLAYS",
    "MAX_TASKS",
    "MAX_SECONDS",
    "MAX_RATE",
    "MAX_CV",
    "MAX_RESULT_BYTES",
    "MAX_POOL",
    "seconds",
    "Run",
    "Arrivals",
    "Service",
    "Workers",
    "Failures",
    "Retry",
    "Ack",
    "Overhead",
    "Results",
    "TaskType",
    "Pool",
    "rate_limit_per_second",
    "rate_limited",
]


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
    tasks: tuple[TaskType, ...] = tables(TaskType)
    pools: tuple[Pool, ...] = tables(Pool)

    @property
    def task_types(self) -> tuple[TaskType, ...]:
        """The kinds of task submitted: ``[[tasks]]``, or one built from the scenario's tables."""
        return self.tasks or (
            TaskType(share=1.0, service=self.service, failures=self.failures, retry=self.retry),
        )

    @property
    def shares(self) -> tuple[float, ...]:
        """Each task type's part of [arrivals] (``completed_shares``; 0 with its own arrivals)."""
        return completed_shares(self.task_types)

    @property
    def queues(self) -> tuple[str, ...]:
        """The queues tasks are routed to, in the order the task types name them."""
        return tuple(dict.fromkeys(t.queue for t in self.task_types))

    @property
    def worker_pools(self) -> tuple[Pool, ...]:
        """The pools of worker nodes: ``[[pools]]``, or [workers] as one pool on every queue."""
        return self.pools or (Pool(queues=self.queues, workers=self.workers),)

    @property
    def slots(self) -> int:
        """Execution slots in every pool together."""
        return sum(p.workers.slots for p in self.worker_pools)

    @property
    def nodes(self) -> tuple[tuple[str, Pool], ...]:
        """Every worker node by name with its pool: w1, w2, … for the one pool of [workers],
        <pool>-1, <pool>-2, … for ``[[pools]]``. The simulator and the live mode name them so."""
        pools = self.worker_pools
        return tuple((self.node_name(p, i + 1), p) for p in pools for i in range(p.workers.count))

    def pool_field(self, pool: str | None, name: str) -> str:
        """The dotted key of worker field ``name`` of the pool named ``pool``: ``workers.name``
        without ``[[pools]]`` (whatever ``pool``), ``pools.<pool>.name`` with them."""
        return f"pools.{pool}.{name}" if self.pools else f"workers.{name}"

    def node_name(self, pool: Pool, number: int) -> str:
        """The name of a pool's ``number``-th node (from 1), a node autoscaler's added ones too."""
        return f"{pool.name}-{number}" if self.pools else f"w{number}"

    def replace(self, **dotted: Any) -> Scenario:
        """A copy with some fields changed, e.g. ``replace(**{"workers.count": 4})``; a field of
        a task type or pool by its name: ``"pools.fast.count"``, ``"tasks.report.service.mean"``.
        A scenario-level field reaches every type or pool that does not set its own, as when
        the file is read."""
        plain = {
            k: v
            for k, v in dotted.items()
            if k.partition(".")[0] not in TABLE_KINDS or "." not in k
        }
        scenario = from_dict(_nest(plain), base=self)
        # tables hold what they set themselves; the rest follows the new scenario-level values
        # (tables given whole, ``pools = [...]``, are the new ones: not this scenario's again)
        inherits = [
            kind for kind in TABLE_KINDS if plain and getattr(self, kind) and kind not in plain
        ]
        changed = {kind: self.tables_of(kind) for kind in inherits}
        for key, value in dotted.items():
            if key not in plain:
                kind, i, field = self._table_key(key)
                tables = changed.setdefault(kind, self.tables_of(kind))
                *path, last = field.split(".")
                table = tables[i]
                for part in path:
                    table = table.setdefault(part, {})
                table[last] = value
        return from_dict(changed, base=scenario) if changed else scenario

    def tables_of(self, kind: str) -> list[dict[str, Any]]:
        """``[[tasks]]`` or ``[[pools]]`` as the TOML tables that read back to them."""
        return [table.to_table(self) for table in getattr(self, kind)]

    def to_dict(self) -> dict[str, Any]:
        """The scenario as nested plain data, ready for TOML or JSON."""
        data = dataclasses.asdict(dataclasses.replace(self, tasks=(), pools=()))
        for kind in TABLE_KINDS:
            del data[kind]
            if getattr(self, kind):
                data[kind] = self.tables_of(kind)
        return data

    def get(self, key: str) -> Any:
        """One field by its dotted key: ``get("workers.count")``, ``get("pools.fast.count")``."""
        section, _, name = key.partition(".")
        if section in TABLE_KINDS and name:
            kind, i, field = self._table_key(key)
            table: Any = getattr(self, kind)[i]
            if kind == "pools" and field not in POOL_OWN:
                table = table.workers  # a pool's [workers] fields are written in its table
            for part in field.split("."):
                table = getattr(table, part)
            return table
        return getattr(getattr(self, section), name) if name else getattr(self, section)

    def _table_key(self, key: str) -> tuple[str, int, str]:
        """``"pools.fast.count"`` → ("pools", index of pool fast, "count")."""
        kind, _, rest = key.partition(".")
        names = [t.name for t in getattr(self, kind)]
        found = [(len(n), i) for i, n in enumerate(names) if rest.startswith(n + ".")]
        if not found and rest in names:  # "no pool of that name (did you mean 'slow'?)" was said
            what, example = ("pool", "count") if kind == "pools" else ("task type", "service.mean")
            raise ScenarioError(
                f"{key!r} names the {what} {rest!r}, not one of its fields: give the "
                f"field too, e.g. {key}.{example}"
            )
        if not found:
            hint = _closest(rest.partition(".")[0], names)
            raise ScenarioError(
                f"{key!r}: no {kind[:-1]} of that name{hint}; {kind}: "
                + (", ".join(names) or "none")
            )
        size, i = max(found)
        return kind, i, rest[size + 1 :]


SECTIONS: dict[str, type] = {
    f.name: cls
    for f in dataclasses.fields(Scenario)
    if dataclasses.is_dataclass(cls := f.default_factory)
}


def declared(cls: type, prefix: str = "") -> Iterator[Field]:
    """The settings of ``cls`` (and of the scenario's sections), keyed by dotted name, typed by
    annotation; a task type's or pool's own sections are the scenario's, so not repeated."""
    types = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if DECLARED in f.metadata:
            yield dataclasses.replace(f.metadata[DECLARED], key=prefix + f.name, type=types[f.name])
        elif f.name in SECTIONS:
            if cls is Scenario:
                yield from declared(SECTIONS[f.name], f"{f.name}.")
        elif TABLES not in f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with sim.fields.setting")


FIELDS: tuple[Field, ...] = tuple(declared(Scenario))
FIELD_BY_KEY = {f.key: f for f in FIELDS}
TABLE_KINDS = {"tasks": TaskType, "pools": Pool}
TABLE_FIELDS = {kind: {f.key: f for f in declared(cls, "")} for kind, cls in TABLE_KINDS.items()}
POOL_OWN = tuple(TABLE_FIELDS["pools"])


def coerce(key: str, value: Any) -> Any:
    """``value`` checked against field ``key`` and returned in its type, for command-line flags
    that stand in for a field (``--seed``): the same range and message as in a file."""
    return FIELD_BY_KEY[key].coerce(value)


def from_dict(raw: dict[str, Any], base: Scenario | None = None) -> Scenario:
    """Validate nested scenario data; fields it leaves out come from ``base`` or the defaults."""
    _check_sections(raw)
    raw = dict(raw)
    given_tables = {kind: raw.pop(kind) for kind in TABLE_KINDS if kind in raw}
    given = _flatten(raw)
    previous = _flatten(base.to_dict()) if base else {}
    merged = shapes.settle_rates(_merged(given, previous), set(given))
    if "run.duration" in given and "run.tasks" in given and merged["run.duration"] > 0:
        raise ScenarioError("run.tasks and run.duration are both set: give one of them")
    if "run.tasks" in given:
        merged["run.duration"] = 0.0
    _check_together(merged, set(given))
    sections = _sections(merged)
    tasks = base.tasks if base else ()
    if "tasks" in given_tables:
        tasks = _check_shares(
            tuple(_task_type(i, t, merged) for i, t in _tables("tasks", given_tables))
        )
    pools = base.pools if base else ()
    if "pools" in given_tables:
        pools = tuple(_pool(i, t, merged) for i, t in _tables("pools", given_tables))
    top = {key: value for key, value in merged.items() if "." not in key}
    scenario = Scenario(**top, **sections, tasks=tasks, pools=pools)
    _check_routing(scenario)
    if tasks and any(k.startswith("arrivals.") for k in given):
        own = given_tables["tasks"] if "tasks" in given_tables else base.tables_of("tasks")
        unread = unread_arrivals(tasks, own)
        if name := next((n for n in unread if f"arrivals.{n}" in given), None):
            raise ScenarioError(
                f"arrivals.{name} is given but no task type reads it: every one has its own "
                f"[tasks.arrivals], and {unread[name]}: remove it from [arrivals]"
            )
    if not tasks or any(t.arrivals is None for t in tasks):
        _check_span(merged)
    if "workers.concurrency" in given and not _reads_concurrency(scenario):
        raise ScenarioError(_autoscale_replaces("workers.", scenario.workers))
    data_files.check(scenario)
    return scenario


def _merged(
    given: dict[str, Any], previous: dict[str, Any], where: Callable[[str], str] = str
) -> dict[str, Any]:
    """Every field's value: ``given`` (checked), else ``previous``, else its default. ``where``
    names a key as the user spells it (``pools.fast.count`` for ``workers.count``)."""
    unknown = sorted(set(given) - set(FIELD_BY_KEY))
    if unknown:
        key = unknown[0]
        listed, also = _fields_like(key)
        written = f"[{key}]" if isinstance(given[key], dict) else where(key)
        said = f"unknown scenario {'section' if written.startswith('[') else 'field'} {written!r}"
        raise _unknown(written, [*map(where, listed)], said, also)
    fields = {k: FIELD_BY_KEY[k] for k in given}
    if where is not str:
        fields = {k: dataclasses.replace(f, key=where(k)) for k, f in fields.items()}
    values = {key: fields[key].coerce(value) for key, value in given.items()}
    # a base comes back from to_dict as plain data (an outage as a dict): coerce it again
    return {
        f.key: values[f.key] if f.key in values else f.coerce(previous.get(f.key, f.default))
        for f in FIELDS
    }


def _fields_like(key: str) -> tuple[list[str], list[str]]:
    """What an unknown ``key`` may have meant: the fields of its section, a list of the few it
    likely meant, not all seventy; for a key in no section, the top-level fields and the
    sections, listed, and every field, matched but not listed (``servce.mean``)."""
    section = key.partition(".")[0]
    if same := [k for k in FIELD_BY_KEY if k.partition(".")[0] == section]:
        return same, []
    top = [k for k in FIELD_BY_KEY if "." not in k]
    tables = [f"[{s}]" for s in SECTIONS] + [f"[[{kind}]]" for kind in TABLE_KINDS]
    return top + tables, list(FIELD_BY_KEY)


def _unknown(
    written: str, known: Sequence[str], said: str, also: Sequence[str] = ()
) -> ScenarioError:
    """The error for an unknown field or section, from a file or ``--set``: ``said`` (what and
    where), the closest known name (``also`` are matched too, not listed), the known names."""
    return ScenarioError(
        f"{said}{_closest(written, [*known, *also])}; known fields: " + ", ".join(known)
    )


def _closest(written: str, known: Sequence[str]) -> str:
    """The hint after an unknown name: the one known name close to ``written`` (a typo:
    ``servce.mean``, ``[retyr]``, ``run.task``) as " (did you mean 'service.mean'?)", or nothing
    when none is close; the one place every unknown name (a field, a section, a task type or a
    pool, from a file or ``--set``) gets its hint. Names in
    ``written``'s own section are matched by their last part (``workers.zzzz`` is not close to
    ``workers.count`` for the ``workers.`` they share)."""
    head = written[: written.rfind(".") + 1]
    same = {k[len(head) :]: k for k in known if head and k.startswith(head)}
    names, typed = (same, written[len(head) :]) if same else ({k: k for k in known}, written)
    close = difflib.get_close_matches(typed, names, n=1)
    return f" (did you mean {names[close[0]]!r}?)" if close else ""


def _sections(merged: dict[str, Any], names: Iterable[str] = ()) -> dict[str, Any]:
    """The section dataclasses (all, or ``names``) built from merged flat values."""
    return {
        name: cls(**{f.name: merged[f"{name}.{f.name}"] for f in dataclasses.fields(cls)})
        for name, cls in SECTIONS.items()
        if not names or name in names
    }


def _tables(kind: str, given: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    value = given[kind]
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ScenarioError(
            f"{kind} = {scenario_io.toml_value(value)}: {kind} are tables, each written "
            f"[[{kind}]] with its fields beneath it"
        )
    return enumerate(value)


def _named(kind: str, i: int, table: dict[str, Any]) -> str:
    """How an error names the ``i``-th ``[[kind]]`` table: by its name, as ``--set`` and
    ``replace`` spell its fields (``pools.fast``), or by its place while it has none
    (``pools[0]``, which ``--set`` does not take)."""
    name = table.get("name")
    return f"{kind}.{name}" if isinstance(name, str) and name else f"{kind}[{i}]"


def _own(kind: str, table: dict[str, Any], where: str) -> dict[str, Any]:
    """A task type's or pool's own fields of ``table``, checked."""
    fields = TABLE_FIELDS[kind]
    return {
        k: dataclasses.replace(fields[k], key=f"{where}.{k}").coerce(v)
        for k, v in table.items()
        if k in fields
    }


def _task_type(i: int, table: dict[str, Any], merged: dict[str, Any]) -> TaskType:
    """One ``[[tasks]]`` table: own fields, and sections completed from the scenario's."""
    where = _named("tasks", i, table)
    known = (*TABLE_FIELDS["tasks"], *TASK_SECTIONS)
    for key, value in table.items():
        if key not in known or (key in TASK_SECTIONS and not isinstance(value, dict)):
            raise ScenarioError(
                f"{where}.{key}{_closest(key, known)}: a task type sets "
                + ", ".join(TABLE_FIELDS["tasks"])
                + " and the tables "
                + ", ".join(f"[tasks.{s}]" for s in TASK_SECTIONS)
            )
    given = _flatten({k: v for k, v in table.items() if k in TASK_SECTIONS})
    for key in DEPLOYMENT_WIDE:
        if key in given:
            raise ScenarioError(
                f"{where}.{key}: set for the whole deployment in [{key.split('.')[0]}], "
                "not per task type"
            )
    own = _own("tasks", table, where)
    soft, hard = own.get("soft_time_limit", 0.0), own.get("time_limit", 0.0)
    if error := limits.soft_limit_error(soft, hard, f"{where}."):
        raise ScenarioError(error)
    try:
        mine = shapes.settle_rates(_merged(given, merged, lambda k: f"{where}.{k}"), set(given))
        _check_together(mine, set(given))
        if "arrivals" in table and own.get("share"):
            raise ScenarioError(f"{where}: give a share of [arrivals] or own arrivals, not both")
        if "arrivals" in table:
            _check_span(mine)
    except ScenarioError as err:
        raise ScenarioError(f"task type {own.get('name', i)!r}: {err}") from None
    sections = _sections(mine, TASK_SECTIONS if "arrivals" in table else TASK_SECTIONS[:-1])
    return TaskType(**own, **sections)


def _pool(i: int, table: dict[str, Any], merged: dict[str, Any]) -> Pool:
    """One ``[[pools]]`` table: own fields, and [workers] completed from the scenario's."""
    where = _named("pools", i, table)
    known = [*POOL_OWN, *(f.name for f in dataclasses.fields(Workers))]
    if unknown := sorted(set(table) - set(known)):
        written = f"{where}.{unknown[0]}"
        if unknown[0] == "workers":  # [pools.workers] or pools.slow.workers.count: not cores
            raise ScenarioError(
                f"unknown scenario field {written!r}: a pool's [workers] fields are written in "
                f"its own table, e.g. {where}.count, {where}.concurrency"
            )
        listed = [f"{where}.{k}" for k in known]
        raise _unknown(written, listed, f"unknown scenario field {written!r}")
    given = {f"workers.{k}": v for k, v in table.items() if k not in POOL_OWN}
    mine = _merged(given, merged, lambda key: f"{where}.{key.removeprefix('workers.')}")
    workers = _sections(mine, ["workers"])["workers"]
    if "concurrency" in table and workers.autoscale_max:
        raise ScenarioError(_autoscale_replaces(f"{where}.", workers))
    return Pool(**_own("pools", table, where), workers=workers)


def unread_arrivals(types: Sequence[TaskType], tables: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The [arrivals] fields no task type reads, each with why, when every type has its own
    [tasks.arrivals] (``tables``: the types' TOML tables, as written) and sets the field there,
    or has a process that does not read it; none while some type takes a share of [arrivals].
    Given, such a field changed nothing, silently."""
    if not types or any(t.arrivals is None for t in types):
        return {}
    owns = list(zip(types, (table.get("arrivals", {}) for table in tables), strict=True))
    taken = set().union(*(shapes.taken_from_scenario(own, *_shape(t)) for t, own in owns))
    return {
        f.name: ", ".join(_not_taken(t, own, f.name) for t, own in owns)
        for f in dataclasses.fields(Arrivals)
        if f.name not in taken
    }


def _shape(t: TaskType) -> tuple[str, str]:
    """A task type's own arrival process and its renewal gaps' distribution."""
    assert t.arrivals is not None
    return t.arrivals.process, t.arrivals.dist


def _not_taken(t: TaskType, own: dict[str, Any], name: str) -> str:
    """Why task type ``t`` with its own [tasks.arrivals] ``own`` reads no [arrivals] ``name``."""
    process, _ = _shape(t)
    if name in own:
        return f"tasks.{t.name} sets its own {name}"
    if name == "rate" and process == "piecewise":
        return f"tasks.{t.name} sets its own rates, whose mean is its rate"
    return f"tasks.{t.name}'s process {process!r} does not read {name}"


def _reads_concurrency(s: Scenario) -> bool:
    """Whether [workers]' concurrency sizes a pool: not when ``--autoscale`` sizes every one."""
    return not s.workers.autoscale_max or any(not p.workers.autoscale_max for p in s.worker_pools)


def _autoscale_replaces(where: str, w: Workers) -> str:
    """A given concurrency that autoscale makes unread: an error, as every field given unread."""
    return (
        f"{where}concurrency is given but {where}autoscale_max = {w.autoscale_max} replaces it "
        f"(celery worker --autoscale {w.autoscale_max},{w.autoscale_min} sizes the pool and "
        f"reads no --concurrency): remove it, or set {where}autoscale_max = 0 for a fixed pool"
    )


def completed_shares(types: tuple[TaskType, ...]) -> tuple[float, ...]:
    """Each type's part of [arrivals]: its own ``share``, or, without one, an equal part of what
    the given ones leave (0 for a type with its own arrivals). The types keep their shares as
    given, so ``--set tasks.thumbnail.share=0.5`` leaves the report's half: completed in the
    types, the report's 0.1 read as given and the shares added up to 0.6."""
    *_, rest = _left(types)
    return tuple(rest if t.share == 0 and t.arrivals is None else t.share for t in types)


def _left(types: tuple[TaskType, ...]) -> tuple[float, int, float]:
    """The shares given in all, how many types give none (and have no arrivals of their own),
    and the equal part of what is left each of those takes."""
    given = sum(t.share for t in types)
    unset = sum(t.share == 0 and t.arrivals is None for t in types)
    return given, unset, (1 - given) / unset if unset else 0.0


def _check_shares(types: tuple[TaskType, ...]) -> tuple[TaskType, ...]:
    """``types`` once their shares of [arrivals] add up: to 1, or to less where some give none
    (a type with its own arrivals has none)."""
    if all(t.arrivals for t in types):
        return types
    given, unset, rest = _left(types)
    if given <= 1 + 1e-9 and unset and rest < 1e-9:
        # share = 0 is no share: beside shares 1.0 and 0.0, "they must add up to 1" read wrong
        left = [t.name for t in types if t.share == 0 and t.arrivals is None]
        raise ScenarioError(
            f"tasks: the shares given add up to {given:g}, which leaves nothing for "
            f"{', '.join(left)} (a share of 0, or none, is an equal part of what the others "
            "leave): lower the others' shares, or remove the task type"
        )
    if given > 1 + 1e-9 or (not unset and abs(given - 1) > 1e-9):
        # a type of its own arrivals gives no share but takes none of what the others leave:
        # beside one, "or to less when some give none" read as if it did
        own = [t.name for t in types if t.arrivals is not None]
        raise ScenarioError(
            f"tasks: the shares given add up to {given:g}: they must add up to 1, or to less "
            "when some task types give none (those share what is left equally)"
            + (
                f"; {', '.join(own)} "
                + (
                    "has its own [tasks.arrivals] and takes"
                    if len(own) == 1
                    else "have their own [tasks.arrivals] and take"
                )
                + " no share of [arrivals]"
                if own
                else ""
            )
        )
    return types


def _check_routing(s: Scenario) -> None:
    """Names unique and fit for Redis keys, and every queue a task is routed to consumed by
    some pool."""
    for kind in TABLE_KINDS:
        names = [t.name for t in getattr(s, kind)]
        words = names + [t.queue for t in s.tasks] if kind == "tasks" else names
        if (bad := next((w for w in words if not NAME.fullmatch(w)), None)) is not None:
            raise ScenarioError(
                f"{kind}: {bad!r} is not a name: use letters, digits and _ . : - only"
            )
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ScenarioError(f"{kind}: the name {twice[0]!r} is used twice: names are unique")
    for t in s.task_types:
        if not any(t.queue in p.queues for p in s.worker_pools):
            raise ScenarioError(
                f"tasks: {t.name!r} is routed to queue {t.queue!r}, which no pool consumes: "
                "add it to a pool's queues"
            )
    for p in s.pools or (None,):
        w = p.workers if p else s.workers
        where = f"pools.{p.name}." if p else "workers."
        if w.node_autoscaled and (
            error := node_autoscale.bounds_error(w.count, w.min_nodes, w.max_nodes, where)
        ):
            raise ScenarioError(error)
        if w.autoscale_min > w.autoscale_max:
            raise ScenarioError(
                f"{where}autoscale_min = {w.autoscale_min} must be <= {where}autoscale_max = "
                f"{w.autoscale_max} (--autoscale MAX,MIN; autoscale_max = 0 is off)"
            )
    for t in s.task_types:
        rate_limit_per_second(t.rate_limit, f"task type {t.name!r}: rate_limit")


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
    if m["service.file"] and m["service.values"]:  # the values were resampled, the file unread
        raise ScenarioError(
            "service.file and service.values are both set: give one (service.values = [] "
            "resamples the file)"
        )
    if m["arrivals.process"] == "trace" and not m["arrivals.file"]:
        raise ScenarioError("arrivals.process = 'trace' needs arrivals.file (arrival times)")


def _check_span(m: dict[str, Any]) -> None:
    """The run's length against a stream of arrivals ``m`` (flat) that some task type reads:
    [arrivals] where a type takes a share of it, a type's own [tasks.arrivals]. Judged by
    [arrivals] that no type read, a warm-up was refused by its default rate of 7.2 tasks/s."""
    span = m["run.duration"] or m["run.tasks"] / m["arrivals.rate"]
    if m["arrivals.process"] == "trace" and not m["run.duration"]:
        # a file's times are its span, checked as the run reads them (model.check_warmup):
        # arrivals.rate is unread there, and its default (7.2) refused a warm-up of 180 s in a
        # recording of 1,200 tasks over 194 s
        span = math.inf
    if m["run.warmup"] >= span:
        raise ScenarioError(
            f"run.warmup = {m['run.warmup']:g} must be < {span:g} s, the arrivals' span "
            "(run.duration, or run.tasks / arrivals.rate): a summary needs tasks after it"
        )
    expected = m["run.duration"] * m["arrivals.rate"]
    if m["arrivals.process"] != "trace" and expected > MAX_TASKS:
        raise ScenarioError(
            f"run.duration = {m['run.duration']:g} at arrivals.rate = {m['arrivals.rate']:g} "
            f"submits about {expected:.3g} tasks: must be <= {MAX_TASKS} like run.tasks"
        )


def parse_override(text: str) -> tuple[str, Any]:
    """``workers.count=8`` → ("workers.count", 8); values are TOML, bare words are strings."""
    key, value = scenario_io.parse_override(text)
    if key not in FIELD_BY_KEY and key.partition(".")[0] not in TABLE_KINDS:
        listed, also = _fields_like(key)
        tables = ["pools.<name>.<field>", "tasks.<name>.<field>"]
        raise _unknown(key, [*listed, *tables], f"--set {key!r}: unknown field", also)
    return key, value


def loads(text: str, data_folder: Path | None = None) -> Scenario:
    """A scenario from TOML text (pasted or uploaded), read as ``load`` reads a file: the CLI
    and the app share it, so a file one runs (a lesson too) runs in the other. With
    ``data_folder`` (the app's, for text its users give) its data files are read only there
    (``scenario_io.confined``); without, from any path, as the user's own machine reads them."""
    raw = scenario_io.parse(text)
    return from_dict(raw if data_folder is None else scenario_io.confined(raw, data_folder))


def load(path: str | Path | None, overrides: list[str] = ()) -> Scenario:
    """Read a scenario file (or the defaults when ``path`` is None); apply ``--set`` overrides."""
    raw = scenario_io.read(path, bool(overrides)) if path is not None else {}
    sets = dict(parse_override(o) for o in overrides)
    for key in sets:
        _check_reaches_a_table(raw, key)
    scenario = from_dict(raw)
    return scenario.replace(**sets) if sets else scenario


def _check_reaches_a_table(raw: dict[str, Any], key: str) -> None:
    """Refuse a scenario-level ``--set`` that every ``[[pools]]`` or ``[[tasks]]`` table of the
    file overrides with its own value: it would change nothing, silently (``--set
    workers.count=20`` on a file whose pools each set ``count`` ran their counts)."""
    section, _, field = key.partition(".")
    kind = "pools" if section == "workers" else "tasks" if section in TASK_SECTIONS else None
    tables = raw.get(kind, []) if kind else []
    if not tables or not all(isinstance(t, dict) for t in tables):
        return  # no such tables, or malformed ones that reading the file refuses
    own = [t if kind == "pools" else t.get(section) for t in tables]
    if all(isinstance(table, dict) and field in table for table in own):
        where = field if kind == "pools" else key
        names = ", ".join(f"{kind}.{t.get('name', '?')}.{where}" for t in tables)
        raise ScenarioError(
            f"--set {key}: every one of the file's [[{kind}]] sets its own {where}, so this "
            f"would change none of them; set theirs instead ({names})"
        )


def dumps(scenario: Scenario) -> str:
    """The scenario as TOML text that ``load`` reads back to a scenario that runs the same.

    Fields it does not read are left out: given, they are an error.
    """
    data = shapes.without_unread(scenario.to_dict())
    for name in unread_arrivals(scenario.tasks, data.get("tasks", [])):
        data["arrivals"].pop(name, None)
    if not data["arrivals"]:
        del data["arrivals"]
    if not _reads_concurrency(scenario):
        del data["workers"]["concurrency"]
    if scenario.run.duration:  # run.tasks is unread then, and both given are an error
        del data["run"]["tasks"]
    return scenario_io.dumps(data)
