"""Live mode with several task types, queues and pools: real ``task_routes``, one ``celery
worker -Q`` group per pool, real priorities and time limits; the same trace columns."""

import numpy as np
import pytest

from live.run import run_live
from sim import scenario
from sim.analysis import compare, invariants, runs
from sim.engine.model import simulate
from sim.rules.states import FAILURE, STARTED

pytestmark = [pytest.mark.live, pytest.mark.alone]

TWO_POOLS = """
[run]
tasks = 150
[arrivals]
rate = 5.0
[ack]
late = true
[workers]
prefetch_multiplier = 1
[retry]
countdown = 0.5
[[tasks]]
name = "thumbnail"
share = 0.6
queue = "fast"
[tasks.service]
mean = 0.3
[tasks.failures]
probability = 0.1
[[tasks]]
name = "report"
queue = "slow"
time_limit = 2.0
[tasks.service]
mean = 0.8
[[pools]]
name = "fast"
queues = ["fast"]
count = 2
[[pools]]
name = "slow"
queues = ["slow"]
count = 2
concurrency = 2
"""


def test_each_task_type_runs_on_its_own_pool_as_simulated(redis_url, no_leftovers):
    # ~35 s of wall time at time scale 1, where Celery's own per-task cost is small
    sc = scenario.loads(TWO_POOLS)
    live = run_live(sc, redis_url, time_scale=1.0)
    sim = simulate(sc)
    assert live.types == sim.types == (("thumbnail", "fast"), ("report", "slow"))
    assert (live.task_types() == sim.task_types()).all()  # the same draws, the same types
    started = np.flatnonzero(live.state == STARTED)
    for kind, pool in ((0, "fast-"), (1, "slow-")):
        workers = live.worker[started[live.task_types()[live.task[started]] == kind]]
        assert {live.workers[w] for w in workers.tolist()} == {f"{pool}1", f"{pool}2"}
    report = invariants.check(live, sc, slack=0.05)
    assert report.ok, report.violations[:5]
    # the hard time limit failed exactly the reports whose drawn service passed 2 s
    failed = set(live.task[live.state == FAILURE].tolist())
    assert failed == set(sim.task[sim.state == FAILURE].tolist())
    result = compare.compare(sc, sim, live, tolerance=0.25)
    by_name = {f.figure: f for f in result.figures}
    for kind in ("thumbnail", "report"):
        for figure in ("sojourn_mean", "throughput"):
            assert by_name[f"{kind}.{figure}"].ok, by_name[f"{kind}.{figure}"]
    assert runs.summarize(live, sc, engine="live").by_pool["slow"]["slots"] == 4


PRIORITIES = """
[run]
tasks = 30
[arrivals]
process = "burst"
burst_size = 30
[ack]
late = true
[workers]
count = 1
prefetch_multiplier = 1
[service]
dist = "constant"
mean = 0.1
[[tasks]]
name = "urgent"
priority = 0
[[tasks]]
name = "bulk"
priority = 9
"""


def test_priorities_order_a_backlog_as_simulated(redis_url, no_leftovers):
    # one worker, prefetch 1, late ack: after the first two, every urgent task runs before any
    # bulk one, in Redis as in the model (~4 s of wall time)
    sc = scenario.loads(PRIORITIES)
    order = {}
    for engine, trace in (("sim", simulate(sc)), ("live", run_live(sc, redis_url, 1.0))):
        rows = np.flatnonzero(trace.state == STARTED)
        order[engine] = "".join("ub"[k] for k in trace.task_types()[trace.task[rows]].tolist())
    for names in order.values():
        rest = names[2:]
        assert rest == "u" * rest.count("u") + "b" * rest.count("b"), order
    assert sorted(order["sim"]) == sorted(order["live"])
