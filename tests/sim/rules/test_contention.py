"""CPU contention: past the core count, more concurrency stops adding throughput."""

import pytest

from sim.analysis.metrics import summarize
from sim.engine.model import simulate
from sim.rules.contention import slowdown
from tests.sim.helpers import make


def test_slowdown_is_busy_slots_over_cores_past_the_core_count():
    assert slowdown(2, 4) == 1.0
    assert slowdown(4, 4) == 1.0
    assert slowdown(8, 4) == 2.0
    assert slowdown(8, 0) == 1.0  # 0 = a core per slot


def throughput(concurrency: int, cores: int) -> float:
    sc = make(
        **{
            "run.tasks": 4000,
            "arrivals.rate": 50.0,  # far more than the pool can do: always saturated
            "workers.count": 1,
            "workers.concurrency": concurrency,
            "workers.cores": cores,
        }
    )
    return summarize(simulate(sc), concurrency).throughput


def test_concurrency_past_the_cores_adds_no_throughput():
    two, four, eight = (throughput(c, cores=2) for c in (2, 4, 8))
    assert four == pytest.approx(two, rel=0.1)
    assert eight == pytest.approx(two, rel=0.1)
    assert two == pytest.approx(2.0, rel=0.1)  # 2 cores, 1 s of work per task


def test_without_a_core_limit_concurrency_scales():
    assert throughput(8, cores=0) == pytest.approx(4 * throughput(2, cores=0), rel=0.1)
