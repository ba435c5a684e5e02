"""Task types and pools of a recording that heard several task names.

Each task name becomes a ``[[tasks]]`` table: its share of the arrivals, its queue, its own
service times, failures and retries. Celery 5.7 puts the queue's name in a ``task-sent`` event
(``queue``; ``routing_key`` is the same name on a direct route) and in no worker event, so a name
heard only as ``task-received`` is on the queue every node that ran it consumes. The nodes' queues
(``inspect active_queues``) give the ``[[pools]]``: nodes consuming the same queues are one pool.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sim.scenario import DEFAULT_QUEUE

NOT_A_NAME = re.compile(r"[^A-Za-z0-9_.:-]")  # what a scenario's task, queue or pool name refuses


@dataclass(frozen=True)
class NameSeen:
    """What the events showed of one task name (or of all of them together)."""

    name: str
    arrivals: int
    queues: Counter[str]  # the queue each of its task-sent events named
    runtimes: tuple[float, ...]  # every attempt's that started while listening, as they ended
    attempts: int  # attempts that ended while listening
    failed: int  # of those, failed and retried ones
    max_retries: int  # the most retries one of its tasks was received with
    countdowns: tuple[float, ...]  # a retry's ETA after its task-retried
    hosts: frozenset[str]  # the nodes that ran it
    timed_out: int = 0  # of the failed, those a time limit ended
    by_retry: tuple[tuple[int, float], ...] = ()  # (n, countdown) of its n-th retries


def median(values: tuple[float, ...]) -> float:
    """The middle value (the upper one of an even count): a value that was seen."""
    return sorted(values)[len(values) // 2]


def failure_fields(seen: NameSeen) -> dict[str, Any]:
    """Failures and retries as dotted fields: failed and retried attempts over all attempts;
    the most retries seen when something failed (0: it was never retried); the median
    countdown when a retry was seen."""
    attempts = seen.attempts
    fields: dict[str, Any] = {"failures.probability": seen.failed / attempts if attempts else 0.0}
    if seen.failed:
        fields["retry.max_retries"] = seen.max_retries
    if seen.countdowns:
        fields["retry.countdown"] = median(seen.countdowns)
    return fields


GROWN = 1.5  # a later retry's median countdown this many times the first's: a backoff


def countdown_note(seen: NameSeen) -> str:
    """A note when the countdown grew with the retry number (``countdown=0.5 * 2 **
    retries``), which one ``retry.countdown``, the median, does not replay: the scenario's
    ``retry.backoff`` is Celery's ``retry_backoff``, in whole seconds. Judged on retry numbers
    with at least 3 countdowns each."""
    by_n: dict[int, list[float]] = {}
    for n, countdown in seen.by_retry:
        by_n.setdefault(n, []).append(countdown)
    medians = {n: median(tuple(cs)) for n, cs in sorted(by_n.items()) if len(cs) >= 3}
    if len(medians) < 2 or max(medians.values()) < GROWN * next(iter(medians.values())):
        return ""
    said = ", ".join(f"{c:.3g} s at retry {n}" for n, c in medians.items())
    return (
        f"{seen.name}: its retry countdown grew with each retry ({said}), and is written as "
        f"one, the median {median(seen.countdowns):.3g} s: set retry.backoff (Celery's "
        "retry_backoff, whole seconds) if yours is one, else its retried tasks' sojourns are "
        "short of the real ones"
    )


def scenario_name(text: str) -> str:
    """A Celery name as a scenario name: characters a Redis key part refuses become ``_``."""
    return NOT_A_NAME.sub("_", text) or "_"


def scenario_names(texts: Iterable[str]) -> dict[str, str]:
    """Each of several Celery names as a scenario name of its own (``scenario_name``), a name
    that would then be another's given ``-2``, ``-3``…: ``shop.ä`` and ``shop.ö`` were both
    ``shop._``, one type's service file overwrote the other's, and the scenario, refused for
    its name used twice, lost the whole recording. A name the scenario takes as it is keeps
    it."""
    names: dict[str, str] = {}
    kept = sorted(set(texts), key=lambda text: (scenario_name(text) != text, text))
    for text in kept:
        base, n = scenario_name(text), 1
        name = base
        while name in names.values():
            n += 1
            name = f"{base}-{n}"
        names[text] = name
    return names


def renamed_note(names: dict[str, str], what: str = "task") -> list[str]:
    """The note that says which Celery ``what`` names (task, queue) were written under another
    name."""
    changed = [f"{text!r} as {name}" for text, name in names.items() if text != name]
    said = ", ".join(changed)
    return [f"{what} names the scenario refuses, written as: {said}"] if changed else []


def queue_names(
    names: list[NameSeen],
    node_queues: dict[str, tuple[str, ...]],
    pools: Iterable[dict[str, Any]],
) -> dict[str, str]:
    """Each Celery queue the tasks (``queue_of``) and the pools name, as a scenario name of its
    own (``scenario_names``, as task names): ``q.ä`` and ``q.ö`` were both ``q._``, one queue
    in the scenario where the deployment had two."""
    routed = [queue_of(seen, node_queues)[0] for seen in names]
    return scenario_names([*routed, *(q for pool in pools for q in pool["queues"])])


def queue_of(seen: NameSeen, node_queues: dict[str, tuple[str, ...]]) -> tuple[str, str]:
    """The queue a task name was routed to, and a note when the events did not name it."""
    if seen.queues:
        return seen.queues.most_common(1)[0][0], ""
    consumed = [set(node_queues[h]) for h in seen.hosts if h in node_queues]
    common = sorted(set.intersection(*consumed)) if consumed else []
    if len(common) == 1:
        return common[0], ""
    if common:
        return common[0], (
            f"{seen.name}: no task-sent event named its queue, and the nodes that ran it consume "
            f"{', '.join(common)}: written as {common[0]}"
        )
    return DEFAULT_QUEUE, (
        f"{seen.name}: no task-sent event named its queue and no node said what it consumes: "
        f"written as Celery's default queue {DEFAULT_QUEUE!r}"
    )


def task_tables(
    names: list[NameSeen],
    node_queues: dict[str, tuple[str, ...]],
    service_files: dict[str, str],
    queues: dict[str, str],
    limits: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """One ``[[tasks]]`` table per task name; ``service_files`` names each one's runtimes file
    (a name without one replays the service of all names), ``queues`` each Celery queue's
    scenario name (``queue_names``), ``limits`` its rate and time limits
    (``worker_settings.task_limits``). A name with a time limit fails by it in the model, as
    its runtimes reach it: those failures are left out of its failure probability, which
    counted them twice. Also the notes on guessed queues and renamed tasks."""
    limits = limits or {}
    total = sum(s.arrivals for s in names)
    renamed = scenario_names(s.name for s in names)
    tables, notes = [], renamed_note(renamed)
    for seen in names:
        queue, note = queue_of(seen, node_queues)
        table: dict[str, Any] = {
            "name": renamed[seen.name],
            "share": seen.arrivals / total,
            "queue": queues[queue],
            **limits.get(seen.name, {}),
        }
        if seen.name in service_files:
            table["service"] = {"dist": "empirical", "file": service_files[seen.name]}
        if seen.attempts:
            failures = failure_fields(seen)
            if "time_limit" in table or "soft_time_limit" in table:
                failures["failures.probability"] = (seen.failed - seen.timed_out) / seen.attempts
            for key, value in failures.items():
                section, _, field = key.partition(".")
                table.setdefault(section, {})[field] = value
        tables.append(table)
        notes += [note] if note else []
    return tables, notes


def pool_tables(
    pools: tuple[dict[str, Any], ...], tasks: list[dict[str, Any]], queues: dict[str, str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The nodes' pools, named for their queues (``queues``: each Celery queue's scenario name,
    the one the ``tasks`` tables hold), when they consume every task's queue; else none (every
    node then serves every queue) and a note saying why."""
    consumed = {queues[q] for pool in pools for q in pool["queues"]}
    missed = sorted({t["queue"] for t in tasks} - consumed)
    if not pools or missed:
        why = f"no node said it consumes {', '.join(missed)}" if pools else "no node answered"
        return [], [f"pools: {why} (inspect active_queues): written as one pool on every queue"]
    tables, names = [], set()
    for pool in pools:
        named = [queues[q] for q in pool["queues"]]
        name = "-".join(named)
        while name in names:
            name += "-" + str(len(names) + 1)
        names.add(name)
        tables.append({"name": name, **pool, "queues": named})
    return tables, []
