"""The scenario file ``queuelab record`` writes: what it observed as fields, the rest as comments.

A field in the file is a fact about the deployment; a field left out takes the scenario's default,
and the header lists each such default as assumed, so nobody mistakes a guess for a measurement.
"""

from __future__ import annotations

import textwrap
from typing import Any

from sim import scenario_io
from sim.scenario import FIELDS

# fields the recorded arrival and service files take the place of, so no default is assumed
REPLACED_BY_FILES = (
    "run.duration",
    "arrivals.rate",
    "arrivals.burst_size",
    "service.mean",
    "service.cv",
    "service.low",
    "service.high",
    "service.values",
)
WIDTH = 97  # comment lines stay within 100 characters
SEED_NOTE = (
    "seed: left out; its default (1) is one arbitrary draw of failures and resampled service "
    "times: simulate several (--seed N) and read the spread"
)


def assumed_defaults(observed: dict[str, Any]) -> list[str]:
    """One line per field not observed: its default, and what it means."""
    skip = {"name", "description", "seed", *REPLACED_BY_FILES, *observed, *set_by_each(observed)}
    return [
        f"{f.key} = {scenario_io.toml_value(f.default)}  ({f.meaning})"
        for f in FIELDS
        if f.key not in skip
    ]


def set_by_each(observed: dict[str, Any]) -> set[str]:
    """The fields every recorded task type (``service.file``…) or every pool (``workers.count``…)
    sets for itself: observed there, so no default is assumed."""
    tasks = [
        {f"{k}.{f}" for k, v in table.items() if isinstance(v, dict) for f in v}
        for table in observed.get("tasks", [])
    ]
    pools = [{f"workers.{k}" for k in table} for table in observed.get("pools", [])]
    return set().union(*(set.intersection(*each) for each in (tasks, pools) if each))


def scenario_text(observed: dict[str, Any], notes: list[str]) -> str:
    """TOML for the observed fields (dotted key → value), headed by the notes and the defaults
    it assumed."""
    tables: dict[str, Any] = {}
    for key, value in observed.items():
        head, _, name = key.partition(".")
        if name:
            tables.setdefault(head, {})[name] = value
        else:
            tables[head] = value
    header = ["Recorded by `queuelab record` from a deployment's Celery events."]
    for note in [*notes, SEED_NOTE]:
        header += textwrap.wrap(note, WIDTH, subsequent_indent="  ")
    header.append("Assumed defaults (not observed; edit any that your deployment sets):")
    for line in assumed_defaults(observed):
        header += textwrap.wrap(line, WIDTH, initial_indent="  ", subsequent_indent="      ")
    return "".join(f"# {line}\n" for line in header) + "\n" + scenario_io.dumps(tables)
