import pytest

from sim.analysis import metrics, runs
from sim.engine.model import simulate
from tests.sim.helpers import make


def test_a_summary_takes_slots_name_and_seed_from_the_scenario():
    sc = make(**{"run.tasks": 300, "workers.count": 3, "workers.concurrency": 2, "seed": 7})
    trace = simulate(sc)
    s = runs.summarize(trace, sc, engine="live")
    assert s == metrics.summarize(trace, 6, engine="live", scenario=sc.name, seed=7)
    assert runs.summarize(trace, sc, seed=9).seed == 9


def test_tasks_in_system_are_the_waiting_ones_and_the_busy_slots():
    sc = make(**{"run.tasks": 2000, "workers.count": 4, "arrivals.rate": 3.0})
    s = runs.summarize(simulate(sc), sc)
    assert runs.in_system_mean(s, sc) == s.queue_len_mean + 4 * s.utilization
    # Little's law: L = λW
    assert runs.in_system_mean(s, sc) == pytest.approx(s.throughput * s.sojourn_mean, rel=0.05)
