"""The restore scan in the model: a message past its visibility timeout goes back at the first
scan of an up node (kombu), or at its deadline in the textbook queue."""

import numpy as np
import pytest

from sim import costs
from sim.analysis import invariants
from sim.engine.model import Model, simulate
from sim.rules.restore import next_scan
from sim.rules.states import RECEIVED
from tests.sim.helpers import crashing_tasks, make

# three late-ack nodes, one message each at a time; a node its task kills stays down
KILLED = {
    "run.tasks": 30,
    "workers.count": 3,
    "workers.concurrency": 1,
    "workers.prefetch_multiplier": 1,
    "workers.restart_delay": 2000.0,
    "workers.kill_linger": 0.0,
    "arrivals.rate": 0.05,
    "service.dist": "constant",
    "service.mean": 1.0,
    "ack.late": True,
    "ack.visibility_timeout": 5.0,
    "failures.crash_probability": 0.1,
    "failures.crash_kind": "node",
}


def _received(trace, task: int) -> np.ndarray:
    return np.sort(trace.t[(trace.task == task) & (trace.state == RECEIVED)])


@pytest.mark.parametrize(("interval", "throttle"), [(10.0, 10), (2.0, 3)])
def test_a_killed_nodes_message_runs_again_at_the_first_scan_after_its_deadline(interval, throttle):
    """Every node started at 0 scans at 0, P, 2P … (P = interval × throttle); the killed
    node's message is due 5 s after its delivery and is received again, by an idle node, as
    the first of those scans at or after that hands it out (plus Celery's delivery)."""
    sc = make(
        **KILLED, **{"overhead.restore_interval": interval, "overhead.restore_throttle": throttle}
    )
    trace = simulate(sc)
    task = min(crashing_tasks(sc))
    first, again = _received(trace, task)[:2]
    deadline = first + sc.ack.visibility_timeout
    scan = next_scan(0.0, costs.restore_scan(sc), deadline)
    assert scan < sc.workers.restart_delay  # no node restarted, so none scanned out of turn
    assert scan - deadline > 0.5  # the scan, not the deadline, decides
    assert scan + sc.overhead.delivery <= again <= scan + 0.1
    assert invariants.check(trace, sc).ok


def test_the_textbook_queue_restores_at_the_deadline():
    sc = make(**KILLED, **{"overhead.model": "none"})
    trace = simulate(sc)
    task = min(crashing_tasks(sc))
    first, again = _received(trace, task)[:2]
    assert again == pytest.approx(first + sc.ack.visibility_timeout, abs=1e-9)


def test_a_restarted_node_scans_as_it_starts():
    """The killed node is back 10 s later: it scans as it connects, before the others' next
    scan (every 100 s), and hands the message out then."""
    sc = make(**{**KILLED, "workers.restart_delay": 10.0})
    trace = simulate(sc)
    task = min(crashing_tasks(sc))
    first, again = _received(trace, task)[:2]
    deadline = first + sc.ack.visibility_timeout
    assert next_scan(0.0, costs.restore_scan(sc), deadline) > again  # not the others' scan
    assert deadline < again < deadline + 10.1  # its node's restart, 10 s after the kill


def test_messages_due_at_one_scan_come_back_the_latest_first_each_to_the_head():
    """A node killed holding four messages (prefetch 4, late ack): one scan restores them all,
    the latest delivered first, each to the head. The idle node's waiting BRPOP is handed the
    first pushed, and it asks again only after the scan: then it reads the other three in the
    order they were first delivered."""
    sc = make(
        **{
            **KILLED,
            "run.tasks": 12,
            "workers.count": 2,
            "workers.prefetch_multiplier": 4,
            "arrivals.process": "burst",
            "arrivals.burst_size": 12,
            "arrivals.rate": 1.0,
            "service.mean": 3.0,
            "failures.crash_probability": 0.0,
        }
    )
    model = Model(sc)
    model.env.process(_kill_at(model.env, model.workers[0], 0.5))
    model.play()
    trace = model.recorder.trace()
    rows = np.flatnonzero(trace.state == RECEIVED)
    held = [int(t) for t in trace.task[rows[trace.worker[rows] == 0]]]  # in delivery order
    again = [int(t) for t in trace.task[rows] if t in held][len(held) :]  # in receipt order
    assert len(held) == 4 and again == [held[-1], *held[:-1]]
    deadline = trace.t[rows[trace.worker[rows] == 0]].max() + sc.ack.visibility_timeout
    restored = trace.t[rows[len(rows) - 4 :]]
    assert (restored >= next_scan(0.0, costs.restore_scan(sc), deadline)).all()


def _kill_at(env, worker, at):
    yield env.timeout(at)
    worker.crash()
