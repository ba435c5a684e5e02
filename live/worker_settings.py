"""What a deployment's workers say about their own settings, as scenario fields.

``celery inspect stats`` and ``inspect conf`` (a broadcast on Celery's pidbox exchange, as Flower
and the ``celery inspect`` command send it: no task queue is read or written) answer with each
node's pool, its concurrency, its prefetch count and the app's settings, defaults included. These
are the settings ``queuelab record`` writes as observed; anything they do not give stays an
assumed default. ``task_acks_late`` and the like are app-wide here: a task that sets its own
overrides them, and no event says so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import redis
from celery import Celery
from celery.utils.time import rate
from kombu.exceptions import OperationalError

INSPECT_TIMEOUT = 1.0  # seconds to wait for the nodes' replies, as `celery inspect` waits
KOMBU_REDIS_VISIBILITY_TIMEOUT = 3600.0  # seconds: kombu's Redis transport when unset

# a task's limits as `inspect registered` names them (the scenario's [[tasks]] fields too) ← the
# app-wide setting a task without its own takes
LIMITS = {
    "rate_limit": "task_default_rate_limit",
    "time_limit": "task_time_limit",
    "soft_time_limit": "task_soft_time_limit",
}
# scenario field ← the app-wide Celery setting `inspect conf` reports for it, and its type
# (worker_prefetch_multiplier is read per pool, in node_fields)
CONF_FIELDS = {
    "ack.late": ("task_acks_late", bool),
    "ack.reject_on_worker_lost": ("task_reject_on_worker_lost", bool),
    "results.track_started": ("task_track_started", bool),
    "workers.lost_wait": ("worker_lost_wait", float),
}


@dataclass(frozen=True)
class WorkerSettings:
    """Scenario fields the nodes reported (dotted key → value) and where they came from; with
    the nodes' queues, one pool table per set of queues (``[[pools]]`` fields, Celery's names)."""

    fields: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    mixed: str = ""  # how [workers] stands for nodes of different concurrency, when they are
    pools: tuple[dict[str, Any], ...] = ()
    node_queues: dict[str, tuple[str, ...]] = field(default_factory=dict)  # node → its -Q
    limits: dict[str, dict[str, Any]] = field(default_factory=dict)  # task name → its limits


def inspect_workers(app: Celery, hosts: set[str]) -> WorkerSettings:
    """Ask the nodes that were heard in the events (all that answer when none was heard)."""
    inspect = app.control.inspect(timeout=INSPECT_TIMEOUT)
    try:
        stats = inspect.stats() or {}
        conf = (inspect.conf(with_defaults=True) or {}) if stats else {}
        active = (inspect.active_queues() or {}) if stats else {}
        scheduled = (inspect.scheduled() or {}) if stats else {}
        registered = (inspect.registered(*LIMITS) or {}) if stats else {}
    except (OSError, OperationalError, redis.RedisError):  # the broker went away: keep the events'
        stats, conf, active, scheduled, registered = {}, {}, {}, {}, {}
    if hosts and hosts & set(stats):
        stats = {node: s for node, s in stats.items() if node in hosts}
    try:
        queues = {node: tuple(q["name"] for q in qs) for node, qs in active.items()}
        held = {node: len(requests) for node, requests in scheduled.items()}
        settings = settings_from(stats, conf, queues, held)
        return replace(settings, limits=task_limits(registered, conf))
    except (KeyError, TypeError, ValueError) as err:  # a reply of another shape: keep the events
        return WorkerSettings(
            notes=(f"the nodes' `celery inspect` replies were unreadable ({err!r})",)
        )


def settings_from(
    stats: dict[str, dict],
    conf: dict[str, dict],
    queues: dict[str, tuple[str, ...]] | None = None,
    held: dict[str, int] | None = None,
) -> WorkerSettings:
    """The fields ``inspect stats``, ``inspect conf``, ``inspect active_queues`` and ``inspect
    scheduled`` (``held``: the ETA requests each node holds) replies give, per node name."""
    if not stats:
        return WorkerSettings(
            notes=(
                "no worker answered `celery inspect` (remote control off, or gone before the "
                "end): worker count and concurrency are what the events showed running at once",
            )
        )
    nodes, held = sorted(stats), held or {}
    fields = node_fields(nodes, stats, conf, held)
    first = stats[nodes[0]]
    settings = conf.get(nodes[0], {})
    for key, (setting, kind) in CONF_FIELDS.items():
        if settings.get(setting) is not None:  # None: Celery's own "not set"
            fields[key] = kind(settings[setting])
    fields["ack.visibility_timeout"] = float(
        transport_options(first).get("visibility_timeout", KOMBU_REDIS_VISIBILITY_TIMEOUT)
    )
    # "celery.concurrency.prefork:TaskPool" → "prefork"
    kinds = sorted(
        {stats[n]["pool"]["implementation"].split(":")[0].rsplit(".", 1)[-1] for n in nodes}
    )
    notes = [
        f"observed with `celery inspect stats` / `inspect conf` on {', '.join(nodes)}: pool "
        f"{', '.join(kinds)}, prefetch_count {first.get('prefetch_count')}; app-wide settings "
        "(a task's own acks_late would override them)"
    ]
    slots = {processes(stats[n]) for n in nodes}
    mixed = f"nodes differ in concurrency {sorted(slots)}: written as the most common"
    mine = {node: qs for node, qs in (queues or {}).items() if node in stats}
    return WorkerSettings(
        fields,
        tuple(notes),
        mixed if len(slots) > 1 else "",
        pools_from(stats, conf, mine, held),
        mine,
    )


def node_fields(
    nodes: list[str], stats: dict[str, dict], conf: dict[str, dict], held: dict[str, int]
) -> dict:
    """Count, concurrency (the most common; ``--autoscale``'s MAX and MIN in its place) and
    prefetch multiplier of a group of nodes: its first node's prefetch count less the ETA
    requests it holds (each raised it by one), over its processes, else the multiplier its conf
    says. The prefetch count first: `celery worker --prefetch-multiplier N`, how pools of one
    app get different windows, sets the node's own and leaves the app's
    `worker_prefetch_multiplier`, which `inspect conf` reports, as it was."""
    fields: dict[str, Any] = {"workers.count": len(nodes)}
    scaler = stats[nodes[0]].get("autoscaler")
    if scaler:  # --autoscale MAX,MIN (its keepalive is an environment variable: not reported),
        # which sizes the pool in place of a concurrency: the scenario refuses both given
        fields["workers.autoscale_max"] = int(scaler["max"])
        fields["workers.autoscale_min"] = int(scaler["min"])
    else:
        slots = Counter(processes(stats[n]) for n in nodes)
        fields["workers.concurrency"] = slots.most_common(1)[0][0]
    prefetch_count = stats[nodes[0]].get("prefetch_count")
    multiplier = conf.get(nodes[0], {}).get("worker_prefetch_multiplier")
    if prefetch_count is not None:  # max(processes, 1) × multiplier, as Celery sets it
        own = int(prefetch_count) - held.get(nodes[0], 0)
        fields["workers.prefetch_multiplier"] = own // max(processes(stats[nodes[0]]), 1)
    elif multiplier is not None:
        fields["workers.prefetch_multiplier"] = int(multiplier)
    return fields


def pools_from(
    stats: dict[str, dict],
    conf: dict[str, dict],
    queues: dict[str, tuple[str, ...]],
    held: dict[str, int],
) -> tuple[dict[str, Any], ...]:
    """One pool per set of queues the nodes consume (``-Q``, in the first node's order), with
    its nodes' count, concurrency, prefetch multiplier and queue order (kombu's
    ``queue_order_strategy`` transport option, round_robin when unset)."""
    groups: dict[frozenset[str], list[str]] = {}
    for node in sorted(queues):
        groups.setdefault(frozenset(queues[node]), []).append(node)
    return tuple(
        {
            "queues": list(queues[nodes[0]]),
            "queue_order": transport_options(stats[nodes[0]]).get(
                "queue_order_strategy", "round_robin"
            ),
            **{
                k.removeprefix("workers."): v
                for k, v in node_fields(nodes, stats, conf, held).items()
            },
        }
        for nodes in groups.values()
    )


def processes(stats: dict) -> int:
    """A node's most pool processes: its ``--autoscale`` MAX (its ``max-concurrency`` is then
    the processes it has now, measured), else its concurrency."""
    scaler = stats.get("autoscaler")
    return int(scaler["max"]) if scaler else int(stats["pool"]["max-concurrency"])


def transport_options(stats: dict) -> dict[str, Any]:
    """A node's broker transport options, as ``inspect stats`` reports them."""
    return (stats.get("broker") or {}).get("transport_options") or {}


def task_limits(registered: dict[str, list[str]], conf: dict[str, dict]) -> dict[str, dict]:
    """Each task name's rate and time limits, as [[tasks]] fields: its own, which ``inspect
    registered rate_limit time_limit soft_time_limit`` lists beside its name
    (``"shop.call [rate_limit=4/s]"``, ``"shop.export [time_limit=0.6 soft_time_limit=0.4]"``),
    else the app's (``task_time_limit``…, from ``inspect conf``). A limit left out of a
    recording left its tasks' waits out: the token bucket's for a rate limit, the replaced
    child's for a hard time limit. A rate limit of 0 is none, as Celery reads it (``holds``)."""
    app = next(iter(conf.values()), {})
    defaults = {key: app[setting] for key, setting in LIMITS.items() if app.get(setting)}
    limits: dict[str, dict] = {}
    for entries in registered.values():
        for entry in entries:
            name, _, given = entry.partition(" [")
            own = dict(pair.split("=", 1) for pair in given.rstrip("]").split() if "=" in pair)
            found = {**defaults, **{k: v for k, v in own.items() if k in LIMITS}}
            found = {k: str(v) if k == "rate_limit" else float(v) for k, v in found.items()}
            if "rate_limit" in found and not holds(found["rate_limit"]):
                del found["rate_limit"]  # "0": no limit, its tasks' waits are hand-overs
            if found.get("soft_time_limit", 0) >= found.get("time_limit", float("inf")):
                del found["soft_time_limit"]  # the hard limit comes first: the soft one never
            if found:
                limits[name] = found
    return limits


def holds(rate_limit: str) -> bool:
    """Whether a task's rate limit holds its tasks back, read by Celery's own parser: "0" and
    "0/s" are none (``celery.utils.time.rate`` gives 0, and the worker makes no token bucket
    for it); one it cannot read is taken as a limit, as the worker listed it."""
    try:
        return bool(rate(rate_limit))
    except (ValueError, KeyError):
        return True
