"""Live mode on a real redis-server with real Celery workers, checked against the simulator."""

import shlex
import subprocess

import numpy as np
import pytest

from live import events
from live.redis_server import private_redis
from live.run import run_live
from sim.analysis import invariants
from sim.analysis.metrics import execution_spans, last_terminal, summarize
from sim.engine.model import simulate
from sim.rules import retry
from sim.rules.states import FAILURE, PENDING, RETRY, STARTED, SUCCESS
from tests.sim.helpers import CRASHY, crashing_tasks, make

# alone, each live test marked so (a new one too), but where a test counts outcomes the draws
# fix, which a busy host does not change, shown by five runs beside phase-1 tests
pytestmark = pytest.mark.live

SCALE = 0.02  # 1 scenario second = 20 ms of wall time


def test_the_drain_waits_for_a_task_types_own_retries_and_service():
    """A pure bound, here beside the runs it bounds: [[tasks]] that fail and retry, or run
    long, with nothing of it in the scenario-level tables, still get their time (the drain
    read only those tables: a type's retries could be cut off as lost)."""
    from live.clock import Clock
    from live.run import default_drain
    from sim import scenario

    plain = scenario.loads('[[tasks]]\nname = "a"\nqueue = "celery"\n')
    typed = plain.replace(
        **{
            "tasks.a.failures.probability": 0.5,
            "tasks.a.retry.max_retries": 3,
            "tasks.a.retry.countdown": 10.0,
            "tasks.a.service.mean": 4.0,
        }
    )
    clock = Clock(None, 0.1)
    # 20 × the 4 s service and 3 retries × 10 s, scaled, against 20 × the default 1 s alone
    assert default_drain(typed, clock) - default_drain(plain, clock) == pytest.approx(0.1 * 90)


def test_the_drain_of_a_type_retried_for_ever_is_finite_as_far_as_the_simulator_follows():
    """``max_retries = inf`` drains as ``retry.FOLLOWED`` retries do: inf × a countdown was an
    endless drain (and inf × 0 a NaN one)."""
    from live.clock import Clock
    from live.run import default_drain

    bounded = make(**{"failures.probability": 0.5, "retry.max_retries": retry.FOLLOWED})
    clock = Clock(None, 0.1)
    endless = bounded.replace(**{"retry.max_retries": retry.FOREVER})
    assert default_drain(endless, clock) == default_drain(bounded, clock) < 1e5


def test_300_tasks_with_failures_lose_nothing_and_retry_as_drawn(redis_url, no_leftovers):
    sc = make(
        **{
            "run.tasks": 300,
            "workers.count": 3,
            "arrivals.rate": 2.0,
            "service.mean": 1.0,
            "failures.probability": 0.2,
            "retry.backoff": 1.0,
            "retry.backoff_max": 8.0,
            "retry.max_retries": 3,
        }
    )
    trace = run_live(sc, redis_url, time_scale=SCALE)
    s = summarize(trace, sc.workers.slots, engine="live")
    assert s.tasks_submitted == 300 and s.tasks_lost == 0
    assert s.tasks_succeeded + s.tasks_failed == 300
    assert s.retries == int(np.count_nonzero(trace.state == RETRY)) > 20
    report = invariants.check(trace, sc, slack=0.005 / SCALE)  # 5 ms of clock and timer slack
    assert report.ok, report.violations[:5]
    # the same draws: real Celery retried exactly the tasks and attempts the simulator did
    sim = simulate(sc)
    assert _retried(trace) == _retried(sim)
    assert s.tasks_failed == summarize(sim, sc.workers.slots).tasks_failed


@pytest.mark.alone
def test_max_retries_inf_reaches_celery_as_none_and_retries_as_drawn(redis_url, no_leftovers):
    """``retry.max_retries = inf``: the live task is registered, and retries, with Celery's
    ``max_retries = None``, so real Celery retries past its default bound of 3 exactly the
    (task, attempt) pairs the simulator does (up to attempt 5 here), and fails none."""
    sc = make(
        **{
            "run.tasks": 30,
            "workers.count": 2,
            "arrivals.rate": 2.0,
            "service.mean": 0.5,
            "failures.probability": 0.6,
            "retry.countdown": 1.0,
            "retry.max_retries": retry.FOREVER,
        }
    )
    sim = simulate(sc)
    assert max(attempt for _, attempt in _retried(sim)) > 3
    trace = run_live(sc, redis_url, time_scale=SCALE)
    assert _retried(trace) == _retried(sim)
    assert not (trace.state == FAILURE).any()
    assert summarize(trace, sc.workers.slots, engine="live").tasks_succeeded == 30


def _retried(trace) -> set[tuple[int, int]]:
    rows = trace.state == RETRY
    return set(zip(trace.task[rows].tolist(), trace.attempt[rows].tolist(), strict=True))


@pytest.mark.alone
def test_late_ack_redelivers_a_killed_nodes_task_after_the_visibility_timeout(
    redis_url, no_leftovers
):
    sc = make(**CRASHY, **{"ack.late": True})
    crashing = crashing_tasks(sc)
    assert crashing, "the scenario must draw at least one crash"
    trace = run_live(sc, redis_url, time_scale=0.05)
    s = summarize(trace, sc.workers.slots, engine="live")
    assert s.tasks_lost == 0 and s.tasks_succeeded == 40
    ends, _ = last_terminal(trace)
    starts = trace.t[(trace.state == STARTED)]
    assert len(starts) > 40  # the killed executions ran again
    for task in crashing:
        first_start = trace.t[(trace.task == task) & (trace.state == STARTED)].min()
        # redelivered no sooner than the visibility timeout after its delivery
        assert ends[task] - first_start >= sc.ack.visibility_timeout
    assert invariants.check(trace, sc, slack=0.005 / 0.05).ok
    predicted = summarize(simulate(sc), sc.workers.slots)
    assert predicted.tasks_lost == 0 and predicted.duplicate_executions >= len(crashing)


LINGER = 0.25  # wall s a killed node's connection may stay open (measured 30-125 ms; DESIGN)


@pytest.mark.alone
def test_early_ack_loses_the_running_task_and_returns_its_neighbours(redis_url, no_leftovers):
    """Early ack loses each crashing task and no reserved neighbour. A kill may also take one
    more message: the next one pushed while the dead node's BRPOP lingers (DESIGN, "A killed
    node's BRPOP"), whose linger in wall time is seconds of scenario time here."""
    from sim.engine.draws import Draws

    sc, time_scale = make(**CRASHY), 0.05
    crashing = crashing_tasks(sc)
    trace = run_live(sc, redis_url, time_scale=time_scale, drain=120.0)
    _, end_state = last_terminal(trace)
    lost = set(np.flatnonzero(end_state < 0).tolist())
    _, sim_end = last_terminal(simulate(sc))
    assert crashing == set(np.flatnonzero(sim_end < 0).tolist())
    assert crashing <= lost
    draws, sent = Draws(sc), trace.t[trace.state == PENDING]
    kills = [
        trace.t[(trace.task == k) & (trace.state == STARTED)].min()
        + draws.crash_point(k, 0, 0) * draws.service(k, 0)
        for k in crashing
    ]
    taken = lost - crashing  # by a killed node's lingering BRPOP: at most one a kill
    assert len(taken) <= len(kills)
    for k in taken:
        (at,) = sent[trace.task[trace.state == PENDING] == k]
        assert any(0 <= at - kill <= LINGER / time_scale for kill in kills), (k, at, kills)
    # every other task finished, reserved neighbours included
    assert np.count_nonzero(end_state == SUCCESS) == 40 - len(lost)
    assert invariants.check(trace, sc, slack=0.005 / time_scale).ok


@pytest.mark.alone
@pytest.mark.parametrize("late", [False, True])
def test_a_dead_pool_childs_task_fails_when_the_pool_reaps_it_not_worker_lost_wait_later(
    redis_url, late, no_leftovers
):
    """Celery's prefork pool marks a dead child's job lost as it reaps the child
    (``AsynPool.on_job_process_lost``): at once, or at the pool's next check, every 5 s of
    the node's life; not ``worker_lost_wait`` (10 s) later. The slot's new child then takes
    the next task. One slot, 0.4 s tasks a second apart, task 3's child killed 0.15 s in;
    measured at time scale 1 over 14 deaths: FAILURE 0.02-4.9 s after the kill (mean 1.8 s),
    the next tasks waiting as long. The model notices at once (it had held the slot 10 s, the
    next tasks waiting 5-9 s)."""
    sc = make(
        **{
            "run.tasks": 12,
            "arrivals.process": "constant",
            "arrivals.rate": 1.0,
            "service.dist": "constant",
            "service.mean": 0.4,
            "workers.count": 1,
            "workers.concurrency": 1,
            "workers.prefetch_multiplier": 1,
            "ack.late": late,
            "failures.crash_kind": "child",
            "failures.crash_probability": 0.15,
            "seed": 2,
        }
    )
    assert sc.workers.lost_wait == 10.0 and crashing_tasks(sc) == {3}
    for engine, trace, within in (
        ("sim", simulate(sc), 0.5),
        ("live", run_live(sc, redis_url), 5.5),
    ):
        numbers = trace.task_numbers()
        at = {state: {} for state in (PENDING, STARTED)}
        for row in np.flatnonzero(np.isin(trace.state, [PENDING, STARTED])):
            at[trace.state[row]].setdefault(numbers[trace.task[row]], trace.t[row])
        (failed_at,) = trace.t[trace.state == FAILURE]
        assert failed_at - at[STARTED][3] < within, (engine, failed_at - at[STARTED][3])
        waits = [at[STARTED][n] - at[PENDING][n] for n in range(4, 12)]
        assert max(waits) < within, (engine, waits)


@pytest.mark.parametrize("reject", [False, True])
def test_a_dead_pool_child_fails_its_task_unless_rejected_on_worker_lost(
    redis_url, reject, no_leftovers
):
    """The direction both engines agree on."""
    sc = make(
        **{
            **CRASHY,
            "failures.crash_kind": "child",
            "ack.late": True,
            "ack.reject_on_worker_lost": reject,
        }
    )
    crashing = crashing_tasks(sc)
    assert crashing
    trace = run_live(sc, redis_url, time_scale=0.05)
    failed = set(trace.task[trace.state == FAILURE].tolist())  # any FAILURE row
    predicted = summarize(simulate(sc), sc.workers.slots)
    if reject:
        assert not failed and predicted.tasks_failed == 0  # requeued at once and rerun
        _, end_state = last_terminal(trace)
        assert (end_state == SUCCESS).all()
    else:
        assert failed and failed <= crashing  # WorkerLostError: FAILURE, even under late ack
        assert predicted.tasks_failed == len(crashing)


@pytest.mark.alone
def test_a_dead_pool_childs_task_is_retried_after_the_countdown_on_worker_lost(
    redis_url, no_leftovers
):
    """``task_retry_on_worker_lost`` (celery/worker/request.py ``_retry_worker_lost``): the
    task of a dead pool child is retried, ``default_retry_delay`` later, as a new attempt,
    while fewer than ``max_retries`` retries were made; ``reject_on_worker_lost`` then requeues
    nothing. Real Celery retries exactly the (task, attempt) pairs the simulator does (the
    same crash draws), none fails, and each retry starts no sooner than the countdown after
    its RETRY row: the row is stamped when the node finds its child dead, before Celery sends
    the retry and counts its ETA (stamped by the ``task_retry`` signal after the send, the
    row was 7 ms late at load 6, 27-61 ms at load 10-12, and the retry seemed early). Less
    1 ms of wall time: the ETA travels as microseconds and moves onto the receiving node's
    monotonic clock."""
    sc = make(
        **{
            **CRASHY,
            "failures.crash_kind": "child",
            "ack.late": True,
            "ack.reject_on_worker_lost": True,
            "retry.on_worker_lost": True,
            "retry.countdown": 20.0,
            # 30 s wall: Celery may notice a dead child only at its pool's next 5 s check (DESIGN,
            # "A dead pool child"), and a late-ack message un-acked past the timeout would be
            # restored and run again beside its retry (seen at 60 s, 3 s wall, load 6)
            "ack.visibility_timeout": 600.0,
        }
    )
    assert crashing_tasks(sc)
    trace = run_live(sc, redis_url, time_scale=0.05)
    sim = simulate(sc)
    assert _retried(trace) == _retried(sim) and _retried(trace)
    assert not (trace.state == FAILURE).any() and not (sim.state == FAILURE).any()
    for task, attempt in _retried(trace):
        (retried_at,) = trace.t[
            (trace.task == task) & (trace.attempt == attempt) & (trace.state == RETRY)
        ]
        next_start = trace.t[
            (trace.task == task) & (trace.attempt == attempt + 1) & (trace.state == STARTED)
        ].min()
        assert next_start - retried_at >= sc.retry.countdown - 0.001 / 0.05, (task, attempt)


def test_a_run_leaves_nothing_open_or_stored_on_its_redis(no_leftovers):
    """Every connection the run opened is closed when it returns: the producer's, in kombu's
    process-wide pool, stayed open for good (two, after a collection too), one more for each
    run the app started, and the result backend's pubsub until a collection. Nor is a key of
    it left: its tasks' results stayed for ``result_expires`` (a day at time scale 1)."""
    import redis

    from live.redis_server import private_redis
    from tests.conftest import open_connections

    with private_redis() as url:
        client = redis.Redis.from_url(url)
        trace = run_live(make(**{"run.tasks": 20, "workers.count": 1}), url, time_scale=SCALE)
        assert len(trace) and open_connections(client) == []
        assert client.keys("*") == []


def test_progress_counts_the_tasks_ended_of_the_whole_run():
    """Of all the run's tasks, not of those sent so far: `live` said "running: 91/99 tasks
    (91%)" 99 tasks into a run of 200. A pure check of the watcher, on a collector stand-in."""
    import threading
    from types import SimpleNamespace

    from live.run import Watcher

    finished, said = threading.Event(), []

    def progress(done: int, total: int) -> None:
        said.append((done, total))
        finished.set()

    collector = SimpleNamespace(
        poll=lambda: None, done=set(range(91)), pending=dict.fromkeys(range(99))
    )
    watcher = Watcher(collector, finished, progress, None, lambda: (), 200)
    watcher.run()
    assert said == [(91, 200)]


def test_a_pool_childs_first_task_holds_its_slot_no_longer_than_its_later_ones(
    redis_url, no_leftovers
):
    """A child makes its draws and its Redis connections as it starts (``Run.warm``): made
    on its first task, they held that task's slot 60-100 ms of wall time more than the later
    ones' (measured at load 2-4 on 2 cores), 3-5 scenario seconds of every slot at time scale
    0.02 before the first task was done, a backlog the simulated queue never had. Two nodes of
    one process each, so each node's first execution is its child's first; tasks of a
    constant 25 ms, far enough apart that none waits for a slot."""
    sc = make(
        **{
            "run.tasks": 24,
            "arrivals.process": "constant",
            "arrivals.rate": 0.5,
            "service.dist": "constant",
            "service.mean": 0.5,
            "workers.count": 2,
            "workers.concurrency": 1,
        }
    )
    scale = 0.05
    spans = execution_spans(run_live(sc, redis_url, time_scale=scale))
    beyond = (spans["end"] - spans["start"] - 0.5) * scale  # wall s past the drawn service
    firsts = [int(np.flatnonzero(spans["worker"] == w)[0]) for w in np.unique(spans["worker"])]
    later = np.delete(beyond, firsts)
    assert len(firsts) == 2 and len(later) >= 20
    # the later ones' median: the rows' and the result's writes (3-6 ms at load 5 on 2 cores);
    # a first one was 36-83 ms without the warm-up, with it 4-13 ms (the run's origin is read
    # once, on the first task: it is set after the nodes are up)
    assert beyond[firsts].max() - np.median(later) < 0.03, (beyond[firsts], np.median(later))


def test_a_pool_child_writes_a_started_row_and_counts_its_execution_in_one_round_trip(
    no_leftovers,
):
    """The STARTED row and the count of the execution it starts (what the task's draws read:
    a crash point is per execution) go to Redis in one transaction: apart, they were one round
    trip more in every task's slot (``bench/live_overhead.py``). Read from what Redis executed
    (``MONITOR`` on a private redis-server), per client, transaction by transaction."""
    sc = make(**{"run.tasks": 8, "workers.count": 2, "service.dist": "constant"})
    with private_redis() as url:
        monitor = subprocess.Popen(
            ["redis-cli", "-u", url, "monitor"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert monitor.stdout.readline().strip() == "OK"
            trace = run_live(sc, url, time_scale=SCALE)
        finally:
            monitor.terminate()
            said, _ = monitor.communicate()
    assert (trace.state == STARTED).sum() == 8
    open_by: dict[str, list[list[str]]] = {}  # client → the transaction it has open
    counted = []  # each transaction that counts an execution: its commands
    for line in said.splitlines():
        client, _, command = line.partition(" ")[2].partition("] ")  # after its time
        words = shlex.split(command)
        if words[0] == "MULTI":
            open_by[client] = []
        elif words[0] == "EXEC":
            done = open_by.pop(client)
            if any(w[0] == "HINCRBY" and w[1].endswith(":executions") for w in done):
                counted.append(done)
        elif client in open_by:
            open_by[client].append(words)
    started = [
        [w for w in done if w[0] == "RPUSH" and events.decode(w[2]).state == STARTED]
        for done in counted
    ]
    assert len(counted) == 8 and all(len(rows) == 1 for rows in started), counted
