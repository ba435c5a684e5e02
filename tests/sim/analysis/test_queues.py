"""Each queue's messages by where they are, on small traces whose answers can be worked
out by hand."""

import numpy as np

from sim.analysis import monitor
from sim.analysis.queues import QueueStats, queue_stats
from sim.rules.states import PENDING, RECEIVED, RETRY, STARTED
from sim.trace import Recorder
from tests.sim.analysis.helpers import run, two_types


def test_each_queues_tasks_now_are_split_by_where_they_are():
    """At 7.5 s: task 2 (sent at 5) waits, 3 runs again, 0 and 1 have ended; with two types,
    each on its own queue, each queue counts its own."""
    (one,) = queues(run())
    assert one == QueueStats(
        "celery", waiting=1, scheduled=0, reserved=0, running=1, oldest_wait=2.5
    )
    kinds = two_types()
    q1, q2 = queues(run(**kinds))
    assert q1 == QueueStats("q1", waiting=0, scheduled=0, reserved=0, running=1, oldest_wait=None)
    assert q2 == QueueStats("q2", waiting=1, scheduled=0, reserved=0, running=0, oldest_wait=2.5)
    r = Recorder(("w1",))  # a retried task waits again, since its RETRY; one received is reserved
    for task, state, t in [(0, PENDING, 0.0), (0, RECEIVED, 1.0), (0, STARTED, 1.0)]:
        r.add(task, 0, state, t, -1 if state == PENDING else 0)
    r.add(0, 0, RETRY, 2.0, 0)
    r.add(1, 0, PENDING, 2.5, -1)
    r.add(1, 0, RECEIVED, 3.0, 0)
    (q,) = queues(r.trace())
    assert (q.waiting, q.scheduled, q.reserved, q.running, q.oldest_wait) == (1, 0, 1, 0, 1.0)
    r.add(0, 1, RECEIVED, 3.0, 0)  # the retry, taken by w1: scheduled, or reserved once due
    (q,) = queues(r.trace(), held=[0])
    assert (q.waiting, q.scheduled, q.reserved) == (0, 1, 1)
    (q,) = queues(r.trace())
    assert (q.waiting, q.scheduled, q.reserved) == (0, 0, 2)


def queues(trace, held=()):
    """``queue_stats`` of ``trace``, the tasks ``held`` scheduled."""
    scheduled = np.isin(np.arange(trace.n_tasks), held)
    return queue_stats(trace, monitor.task_times(trace), scheduled)
