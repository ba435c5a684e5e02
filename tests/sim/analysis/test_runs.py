import dataclasses

import pytest

from sim.analysis import groups, metrics, runs
from sim.engine.model import simulate
from tests.sim.helpers import make


def test_a_summary_takes_slots_name_and_seed_from_the_scenario():
    sc = make(**{"run.tasks": 300, "workers.count": 3, "workers.concurrency": 2, "seed": 7})
    trace = simulate(sc)
    s = runs.summarize(trace, sc, engine="live")
    plain = metrics.summarize(trace, 6, engine="live", scenario=sc.name, seed=7)
    assert s == dataclasses.replace(plain, **groups.by_group(trace, {"workers": ([0, 1, 2], 6)}))
    assert runs.summarize(trace, sc, seed=9).seed == 9


def test_pools_group_the_workers_the_scenario_names_for_them():
    sc = make(**{"run.tasks": 300}).replace(
        pools=[
            {"name": "a", "queues": ["celery"], "count": 2},
            {"name": "b", "queues": ["celery"], "count": 1, "concurrency": 3},
        ]
    )
    trace = simulate(sc)
    assert trace.workers == ("a-1", "a-2", "b-1")
    assert runs.pools(trace, sc) == {"a": ([0, 1], 2), "b": ([2], 3)}
    by_pool = runs.summarize(trace, sc).by_pool
    assert by_pool["a"]["executions"] + by_pool["b"]["executions"] == 300


def test_tasks_in_system_are_the_waiting_ones_and_the_busy_slots():
    sc = make(**{"run.tasks": 2000, "workers.count": 4, "arrivals.rate": 3.0})
    s = runs.summarize(simulate(sc), sc)
    assert runs.in_system_mean(s, sc) == s.queue_len_mean + 4 * s.utilization
    # Little's law: L = λW
    assert runs.in_system_mean(s, sc) == pytest.approx(s.throughput * s.sojourn_mean, rel=0.05)
