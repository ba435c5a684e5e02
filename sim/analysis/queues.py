"""A run's queues now, as Flower's Broker page lists them, from its trace so far: each queue's
messages split by where they are, in Redis's list or held by a worker."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.analysis.monitor import TaskTimes, now
from sim.rules.states import PENDING, RECEIVED, RETRY, STARTED
from sim.trace import Trace


@dataclass(frozen=True)
class QueueStats:
    """One queue now, as Flower's Broker page lists it, its messages split by where they are."""

    name: str
    waiting: int  # in the queue's list: sent, or retried and sent again, not yet delivered
    scheduled: int  # delivered to a worker, held there until a retry's countdown is over
    reserved: int  # delivered to a worker, not started, free to run: prefetched
    running: int  # started, not ended
    oldest_wait: float | None  # seconds the longest-waiting of them has been in the list


def queue_stats(trace: Trace, times: TaskTimes, scheduled: np.ndarray) -> list[QueueStats]:
    """Per queue, in the order the task types name them, its tasks by their latest state: what
    Redis holds for it and what its consumers hold, now; ``scheduled`` per task index
    (``sim.analysis.scheduled``) parts the messages held for a countdown from those
    prefetched. A task waits again after a RETRY (Celery sends it to its queue once more),
    since then."""
    queue_of = np.array([q for _, q in trace.types])[trace.task_types()]
    waiting = np.isin(times.state, [PENDING, RETRY])
    reserved = times.state == RECEIVED
    age = now(trace) - times.last_seen
    stats = []
    for name in dict.fromkeys(q for _, q in trace.types):
        mine = queue_of == name
        waited = age[mine & waiting]
        stats.append(
            QueueStats(
                name=name,
                waiting=len(waited),
                scheduled=int(np.count_nonzero(mine & reserved & scheduled)),
                reserved=int(np.count_nonzero(mine & reserved & ~scheduled)),
                running=int(np.count_nonzero(mine & (times.state == STARTED))),
                oldest_wait=float(waited.max()) if len(waited) else None,
            )
        )
    return stats
