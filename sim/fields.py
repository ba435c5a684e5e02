"""A scenario field: how it is declared, and the check of one value against it.

A field is declared once, on the frozen dataclass that holds it, with ``setting(default,
meaning, unit=..., min=..., max=...)``, as Celery's ``app/defaults.py`` declares its settings with
``Option(default, type=...)``. The annotation gives its type; ``sim.scenario`` fills in its dotted
key. Validation, error messages, the app's sliders, the Hypothesis strategies and DESIGN.md's
field table all read the same ``Field``.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from sim.rules.outage import Outage

DECLARED = "field"  # the metadata key under which a dataclass field carries its Field
TABLES = "tables"  # the metadata key of a list of [[tables]]: the dataclass of one table
NAME = re.compile(r"[A-Za-z0-9_.:-]+")  # a task, queue or pool name: a Redis key part
KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


class ScenarioError(ValueError):
    """A scenario field is missing, mistyped or out of range; the message says which and how."""


@dataclass(frozen=True)
class Field:
    """One scenario setting: default, meaning, unit and the range its values must lie in."""

    default: Any
    meaning: str
    unit: str = ""
    min: float | None = None  # inclusive lower bound
    above: float | None = None  # exclusive lower bound
    max: float | None = None  # inclusive upper bound
    choices: tuple[str, ...] = ()
    forever: bool = False  # inf is allowed too: no bound (Celery's None), as TOML writes it
    numbers: bool = False  # a string field that takes a number as its text (rate_limit = 5)
    key: str = ""  # dotted, e.g. "workers.count": where it is declared
    type: Any = None  # its annotation: int, float, bool, str or tuple[element, ...]

    def allowed(self) -> str:
        """The allowed range in words, for error messages and docs."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.element is Outage:
            return "a list of {start, end, probability}, 0 <= start < end, 0 <= probability <= 1"
        if self.element is float:
            return "a list of numbers" + self._bounds()
        if self.element is str:
            return "a non-empty list of names (letters, digits, _ . : -), each once"
        if self.numbers:
            return "a string or a number"
        return KINDS[self.type] + self._bounds() + (", or inf (for ever)" if self.forever else "")

    def _bounds(self) -> str:
        # an integer bound is shown exactly: 9.22337e+18 would hide where the range ends
        shown = str if self.type is int else "{:g}".format
        parts = [
            f"{sign} {shown(bound)}"
            for sign, bound in ((">", self.above), (">=", self.min), ("<=", self.max))
            if bound is not None
        ]
        return " " + " and ".join(parts) if parts else ""

    @property
    def element(self) -> type | None:
        """What a list field holds (``tuple[float, ...]`` → float); None for a single value."""
        return get_args(self.type)[0] if get_origin(self.type) is tuple else None

    def within(self, number: float) -> bool:
        """Whether a number lies in the declared range."""
        return (
            (self.min is None or number >= self.min)
            and (self.above is None or number > self.above)
            and (self.max is None or number <= self.max)
        )

    def coerce(self, value: Any) -> Any:
        """``value`` checked against this field and returned in its type; a ScenarioError that
        names the key, the value and the allowed range when it does not fit."""
        if self.element is Outage:
            return _outages(self, value)
        if self.element is float:
            return self._numbers(value)
        if self.element is str:
            return self._names(value)
        if self.type in (bool, str):
            return self._word(value)
        return self._number(value)

    def _fail(self, value: Any, why: str) -> ScenarioError:
        return ScenarioError(f"{self.key} = {shown(value)} {why}: must be {self.allowed()}")

    def _numbers(self, value: Any) -> tuple[float, ...]:
        if not isinstance(value, list | tuple) or not all(
            is_number(v) and self.within(v) for v in value
        ):
            raise ScenarioError(f"{self.key} = {shown(value)}: must be {self.allowed()}")
        return tuple(float(v) for v in value)

    def _names(self, value: Any) -> tuple[str, ...]:
        if (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(v, str) and NAME.fullmatch(v) for v in value)
        ):
            raise ScenarioError(f"{self.key} = {shown(value)}: must be {self.allowed()}")
        if twice := next((v for i, v in enumerate(value) if v in value[:i]), None):
            # -Q a,a: a node consumes a queue once, and the model's cycle would read it twice
            raise ScenarioError(
                f"{self.key} = {shown(value)}: {twice!r} is given twice: give it once"
            )
        return tuple(value)

    def _word(self, value: Any) -> bool | str:
        if self.numbers and is_number(value):
            return shown(value)
        if not isinstance(value, self.type):
            free = self.type is str and not self.choices  # quoted, a choice is still none
            if free and (is_number(value) or isinstance(value, bool)):
                # rate_limit = 5, --set name=0, --set name=true
                kind = "a boolean" if isinstance(value, bool) else "a number"
                raise self._fail(
                    value, f'is {kind}, not a string: write it in quotes, "{shown(value)}"'
                )
            raise self._fail(value, "is not a boolean" if self.type is bool else "is not a string")
        if self.choices and value not in self.choices:
            raise self._fail(value, "is not allowed")
        return value

    def _as_toml(self, value: Any) -> str:
        """How TOML writes a number Python reads but TOML does not ('.5', '5.'; ``--set`` then
        passes it on as a word), or ""."""
        try:
            number = float(value) if isinstance(value, str) else math.nan
        except ValueError:
            return ""
        if self.forever and number == math.inf:  # "inf" in quotes, "Infinity"
            return " in TOML: write inf, a number, with no quotes"
        if self.type is int:
            return f" in TOML: write {int(number)}" if number.is_integer() else ""
        return f" in TOML: write {number!r}" if math.isfinite(number) else ""

    def _number(self, value: Any) -> int | float:
        if self.forever and is_number(value) and value == math.inf:
            return math.inf
        if not is_number(value) or (self.type is int and not isinstance(value, int)):
            wrong = "is not an integer" if self.type is int else "is not a number"
            raise self._fail(value, wrong + self._as_toml(value))
        try:
            number = self.type(value)
        except OverflowError:  # a TOML integer too large for a float: 10**400
            raise self._fail(value, "is out of range") from None
        if self.type is float and not math.isfinite(number):
            raise self._fail(value, "is not finite")
        if not self.within(number):
            raise self._fail(value, "is out of range")
        return number


def setting(
    default: Any,
    meaning: str,
    *,
    unit: str = "",
    min: float | None = None,
    above: float | None = None,
    max: float | None = None,
    choices: tuple[str, ...] = (),
    forever: bool = False,
    numbers: bool = False,
) -> Any:
    """A dataclass field that declares a scenario setting: its default and what it may be
    (``forever``: inf too, where a bound of Celery's may be None; ``numbers``: a string field
    that takes a number as its text, as Celery reads a ``rate_limit`` of 5 as 5 a second)."""
    declared = Field(default, meaning, unit, min, above, max, choices, forever, numbers)
    return dataclasses.field(default=default, metadata={DECLARED: declared})


def shown(value: Any) -> str:
    """A value as the file wrote it, for an error: a TOML date or time as TOML writes it
    (``seed = 2024-01-01`` was said as ``datetime.date(2024, 1, 1)``), a boolean and a table
    too (``--set workers.count=true`` was said as ``True``), the rest as Python's."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {shown(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _outages(field: Field, value: Any) -> tuple[Outage, ...]:
    if not isinstance(value, list | tuple):
        raise ScenarioError(f"{field.key} = {shown(value)}: must be {field.allowed()}")
    outages = []
    for i, table in enumerate(value):
        where = f"{field.key}[{i}]"
        if isinstance(table, Outage):
            table = dataclasses.asdict(table)
        if not isinstance(table, dict) or set(table) != {"start", "end", "probability"}:
            raise ScenarioError(
                f"{where} = {shown(table)}: give exactly start, end and probability"
            )
        if not all(is_number(v) and _is_finite(v) for v in table.values()):
            raise ScenarioError(
                f"{where} = {shown(table)}: start, end and probability are finite numbers"
            )
        start, end, p = (float(table[k]) for k in ("start", "end", "probability"))
        if not 0 <= start < end:
            raise ScenarioError(f"{where}: start = {start:g}, end = {end:g}: need 0 <= start < end")
        if not 0 <= p <= 1:
            raise ScenarioError(f"{where}.probability = {p:g} is out of range: must be in [0, 1]")
        outages.append(Outage(start, end, p))
    return tuple(sorted(outages, key=lambda o: o.start))


def is_number(value: Any) -> bool:
    """An int or a float, not a bool (which Python counts as an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_finite(number: int | float) -> bool:
    """Finite as a float: TOML integers are unbounded, and 10**400 does not fit one."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False
