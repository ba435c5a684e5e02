"""The state-change row a live worker appends to the run's Redis list, and its one text form.

Written by the task and the worker signals (``live.celery_app``), read by the collector: both
go through ``encode`` and ``decode``, so the format is defined here only. Times are wall
seconds, kept to the microsecond.
"""

from __future__ import annotations

from typing import NamedTuple

SEPARATOR = "|"  # worker node names (``w1``, ``host-w1``) never contain it


class Event(NamedTuple):
    """One state change where it happened. A tuple, so rows unpack as ``task, attempt, …``."""

    task: int
    attempt: int
    state: int
    t: float  # wall seconds (epoch)
    worker: str  # node name, without ``@run_id``


def encode(event: Event) -> str:
    task, attempt, state, t, worker = event
    return SEPARATOR.join((str(task), str(attempt), str(state), f"{t:.6f}", worker))


def decode(raw: bytes | str) -> Event:
    text = raw.decode() if isinstance(raw, bytes) else raw
    task, attempt, state, t, worker = text.split(SEPARATOR)
    return Event(int(task), int(attempt), int(state), float(t), worker)
