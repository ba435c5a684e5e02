"""Rolling deploys: a warm shutdown gives reserved messages back as the worker exits; a kill
after the grace period gives nothing back, loses the running task under early ack and reruns it
under late ack."""

from pathlib import Path

import numpy as np
import pytest

from live.run import check_live
from sim import scenario
from sim.analysis import invariants
from sim.analysis.metrics import sojourns, summarize
from sim.engine.deploy import warm_shutdown
from sim.engine.model import Model, simulate
from sim.rules.states import RECEIVED
from sim.scenario import ScenarioError
from tests.sim.helpers import make, sent_with_countdowns

SHIPPED = Path(__file__).resolve().parents[3] / "scenarios"

BASE = {
    "run.tasks": 600,
    "arrivals.rate": 3.0,
    "workers.count": 4,
    "workers.deploy_every": 60.0,
    "ack.visibility_timeout": 3600.0,
}


def one_worker_stopped(grace: float) -> tuple[np.ndarray, dict[float, tuple[int, int]]]:
    """One worker, ten 20 s tasks arriving together: it runs one, reserves four (prefetch 4,
    early ack), five wait in Redis. SIGTERM at 5 s; returns when tasks were received a second
    time, and what the worker holds ready and Redis queues just before and after the running
    task ends (at 20 s)."""
    sc = make(
        **{
            "run.tasks": 10,
            "arrivals.rate": 1000.0,
            "workers.count": 1,
            "workers.prefetch_multiplier": 4,
            "service.dist": "constant",
            "service.mean": 20.0,
            "workers.shutdown_grace": grace,
            "workers.restart_delay": 5.0,
            "ack.visibility_timeout": 100.0,
        }
    )
    model = Model(sc)
    worker, seen = model.workers[0], {}

    def deploy():
        yield model.env.timeout(5.0)
        warm_shutdown(worker)
        for at in (19.9, 20.1):
            yield model.env.timeout(at - model.env.now)
            seen[at] = (worker.prefetched, model.broker.queued)

    model.env.process(deploy())
    trace = model.run()
    rows = np.flatnonzero(trace.state == RECEIVED)
    order = np.lexsort((trace.t[rows], trace.task[rows]))
    task, t = trace.task[rows][order], trace.t[rows][order]
    return t[1:][np.diff(task) == 0], seen


def test_a_stopping_worker_keeps_what_it_reserved_until_it_exits():
    """As Celery 5.7 on Redis does: the reserved messages stay un-acked while the running task
    finishes, and kombu restores them as the worker's connection closes."""
    received_again, seen = one_worker_stopped(grace=1000.0)
    assert seen[19.9] == (4, 5)  # SIGTERM came at 5 s, and nothing went back yet
    assert seen[20.1] == (0, 9)  # the task ended, the worker exited: all four back
    assert len(received_again) == 4 and received_again.min() > 25  # run after the restart


def test_a_worker_killed_after_the_grace_gives_nothing_back():
    """Killed at 8 s, it restores nothing: its four reserved messages come back only when Redis
    finds them un-acked past the visibility timeout (100 s)."""
    received_again, _ = one_worker_stopped(grace=3.0)
    assert len(received_again) == 4 and received_again.min() >= 100


def test_a_warm_shutdown_gives_back_what_it_held_in_kombus_order():
    """As tests/live/test_celery_shutdown.py measured on Celery 5.7 (concurrency 1, early ack,
    multiplier 2): an ETA message (task 0), one running (1), two reserved (2, 3), two queued
    (4, 5); SIGTERM at 1.2 s. The held three stay un-acked until the running task ends, then go
    back ahead of the queued two, each RPUSHed in delivery order (kombu's ``restore_unacked``
    over ``QoS._delivered``), so BRPOP pops the last delivered first: 3, 2, 0, then 4, 5."""
    sc = make(
        **{
            "run.tasks": 6,
            "workers.count": 1,
            "workers.prefetch_multiplier": 2,
            "workers.restart_delay": 100.0,
            "service.dist": "constant",
            "service.mean": 3.0,
        }
    )
    model = sent_with_countdowns(sc, ((0.0, 60.0),) + ((0.0, None),) * 5)
    lane, seen = model.broker.lanes[0], []

    def deploy():
        yield model.env.timeout(1.2)
        warm_shutdown(model.workers[0])
        for at in (2.0, 3.5):
            yield model.env.timeout(at - model.env.now)
            unacked = {d.message.task for d in model.broker.unacked if d.message.unacked is d}
            seen.append((unacked, [m.task for m in lane]))

    model.env.process(deploy())
    model.run()
    assert seen == [({0, 2, 3}, [4, 5]), (set(), [3, 2, 0, 4, 5])]


def test_a_warm_shutdown_gives_reserved_messages_back_soon():
    sc = make(**BASE | {"workers.prefetch_multiplier": 4, "workers.shutdown_grace": 1000.0})
    trace = simulate(sc)
    report = invariants.check(trace, sc)
    assert report.ok, report.violations[:3]
    assert report.redeliveries > 0  # reserved messages went to another worker …
    rows = np.flatnonzero(trace.state == RECEIVED)  # time-ordered
    order = np.lexsort((trace.t[rows], trace.task[rows]))
    task, t = trace.task[rows][order], trace.t[rows][order]
    gaps = np.diff(t)[np.diff(task) == 0]  # between two receptions of one task
    assert gaps.max() < 60  # … within the deploy, not after the visibility timeout
    s = summarize(trace, sc.workers.slots)
    assert s.tasks_lost == 0 and s.duplicate_executions == 0
    assert s.tasks_succeeded == sc.run.tasks


def grace_too_short(late: bool) -> dict:
    sc = make(
        **BASE
        | {
            "service.dist": "constant",
            "service.mean": 20.0,
            "arrivals.rate": 0.15,
            "workers.shutdown_grace": 5.0,
            "ack.late": late,
            "ack.visibility_timeout": 300.0,
        },
    )
    trace = simulate(sc)
    assert invariants.check(trace, sc).ok
    return summarize(trace, sc.workers.slots)


def test_a_kill_after_the_grace_period_loses_early_acked_tasks():
    s = grace_too_short(late=False)
    assert s.tasks_lost > 0
    assert s.tasks_succeeded + s.tasks_lost == s.tasks_submitted


def test_a_kill_after_the_grace_period_reruns_late_acked_tasks():
    s = grace_too_short(late=True)
    assert s.tasks_lost == 0
    assert s.tasks_succeeded == s.tasks_submitted
    assert s.executions > s.tasks_submitted


def test_deploys_faster_than_a_task_stop_with_the_last_arrival():
    """Each deploy kills and requeues the 20 s tasks; the run still ends, because deploys stop
    with the arrivals, and then every task gets through."""
    sc = make(
        **BASE
        | {
            "run.tasks": 20,
            "arrivals.rate": 1.0,
            "service.dist": "constant",
            "service.mean": 20.0,
            "workers.deploy_every": 5.0,
            "workers.shutdown_grace": 1.0,
            "ack.late": True,
            "ack.visibility_timeout": 30.0,
        }
    )
    s = summarize(simulate(sc), sc.workers.slots)
    assert s.tasks_succeeded == sc.run.tasks
    assert s.executions > sc.run.tasks


def test_a_warm_shutdown_gives_held_eta_messages_back_too():
    """Retries waiting out their countdown in a worker's memory go back to Redis as it exits and
    run on another worker at their ETA, not an hour later (the visibility timeout)."""
    sc = make(
        **BASE
        | {
            "failures.probability": 0.5,
            "retry.countdown": 100.0,
            "workers.shutdown_grace": 1000.0,
        }
    )
    trace = simulate(sc)
    report = invariants.check(trace, sc)
    assert report.ok, report.violations[:3]
    retried = (trace.state == RECEIVED) & (trace.attempt > 0)
    keys = trace.task[retried] * 64 + trace.attempt[retried]
    assert len(keys) > len(np.unique(keys))  # some retry was received twice: given back
    s = summarize(trace, sc.workers.slots)
    assert s.tasks_lost == 0 and s.duplicate_executions == 0
    assert s.tasks_succeeded + s.tasks_failed == sc.run.tasks
    # three retries 100 s apart and some queueing, never a visibility timeout (an hour) late
    assert sojourns(trace).max() < sc.ack.visibility_timeout / 5


def test_each_pool_deploys_on_its_own_period():
    """A pool's own ``deploy_every`` restarts its nodes and no other pool's (it was read only
    from [workers], so a pool's setting was silently ignored)."""
    sc = scenario.load(SHIPPED / "thumbnails_and_reports.toml").replace(
        **{"run.tasks": 2000, "pools.slow.deploy_every": 40.0}
    )
    stopped = {node for _, node, up, _ in simulate(sc).capacity if not up}
    assert stopped == {"slow-1", "slow-2", "slow-3"}
    assert invariants.redelivery_delay(sc) == 0.0  # their warm shutdowns give messages back


def test_live_refuses_a_pools_deploys_naming_the_pool():
    sc = scenario.load(SHIPPED / "thumbnails_and_reports.toml")
    with pytest.raises(ScenarioError, match=r"pools\.slow\.deploy_every = 40: rolling deploys"):
        check_live(sc.replace(**{"pools.slow.deploy_every": 40.0}))
    check_live(sc)
