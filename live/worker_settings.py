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
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError

INSPECT_TIMEOUT = 1.0  # seconds to wait for the nodes' replies, as `celery inspect` waits
KOMBU_REDIS_VISIBILITY_TIMEOUT = 3600.0  # seconds: kombu's Redis transport when unset

# scenario field ← the Celery setting `inspect conf` reports for it, and its type
CONF_FIELDS = {
    "workers.prefetch_multiplier": ("worker_prefetch_multiplier", int),
    "ack.late": ("task_acks_late", bool),
    "ack.reject_on_worker_lost": ("task_reject_on_worker_lost", bool),
    "results.track_started": ("task_track_started", bool),
    "workers.lost_wait": ("worker_lost_wait", float),
}


@dataclass(frozen=True)
class WorkerSettings:
    """Scenario fields the nodes reported (dotted key → value) and where they came from."""

    fields: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def inspect_workers(app: Celery, hosts: set[str]) -> WorkerSettings:
    """Ask the nodes that were heard in the events (all that answer when none was heard)."""
    inspect = app.control.inspect(timeout=INSPECT_TIMEOUT)
    try:
        stats = inspect.stats() or {}
        conf = (inspect.conf(with_defaults=True) or {}) if stats else {}
    except (OSError, OperationalError):  # the broker went away: keep what the events showed
        stats, conf = {}, {}
    if hosts and hosts & set(stats):
        stats = {node: s for node, s in stats.items() if node in hosts}
    try:
        return settings_from(stats, conf)
    except (KeyError, TypeError, ValueError) as err:  # a reply of another shape: keep the events
        return WorkerSettings(
            notes=(f"the nodes' `celery inspect` replies were unreadable ({err!r})",)
        )


def settings_from(stats: dict[str, dict], conf: dict[str, dict]) -> WorkerSettings:
    """The fields ``inspect stats`` and ``inspect conf`` replies give, per node name."""
    if not stats:
        return WorkerSettings(
            notes=(
                "no worker answered `celery inspect` (remote control off, or gone before the "
                "end): worker count and concurrency are what the events showed running at once",
            )
        )
    nodes = sorted(stats)
    slots = Counter(int(stats[n]["pool"]["max-concurrency"]) for n in nodes)
    concurrency = slots.most_common(1)[0][0]
    fields: dict[str, Any] = {"workers.count": len(nodes), "workers.concurrency": concurrency}
    first = stats[nodes[0]]
    settings = conf.get(nodes[0], {})
    for key, (setting, kind) in CONF_FIELDS.items():
        if settings.get(setting) is not None:  # None: Celery's own "not set"
            fields[key] = kind(settings[setting])
    if "workers.prefetch_multiplier" not in fields and first.get("prefetch_count"):
        fields["workers.prefetch_multiplier"] = int(first["prefetch_count"]) // concurrency
    transport = (first.get("broker") or {}).get("transport_options") or {}
    fields["ack.visibility_timeout"] = float(
        transport.get("visibility_timeout", KOMBU_REDIS_VISIBILITY_TIMEOUT)
    )
    # "celery.concurrency.prefork:TaskPool" → "prefork"
    pools = sorted(
        {stats[n]["pool"]["implementation"].split(":")[0].rsplit(".", 1)[-1] for n in nodes}
    )
    notes = [
        f"observed with `celery inspect stats` / `inspect conf` on {', '.join(nodes)}: pool "
        f"{', '.join(pools)}, prefetch_count {first.get('prefetch_count')}; app-wide settings "
        "(a task's own acks_late would override them)"
    ]
    if len(slots) > 1:
        notes.append(f"nodes differ in concurrency {dict(slots)}: written as {concurrency}")
    return WorkerSettings(fields, tuple(notes))
