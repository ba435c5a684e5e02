"""The benchmark's engines simulate one queue, so their times compare like with like."""

import pytest

from bench.sim_speed import C, draws, heapq_mmc, naive_simpy, simpy_callbacks, simpy_with_trace


def test_every_baseline_gives_the_same_waits_for_the_same_draws():
    arrivals, services = draws(5000)
    engines = (heapq_mmc, simpy_callbacks, simpy_with_trace, naive_simpy)
    waits = [engine(arrivals, services, C) for engine in engines]
    assert waits[0] > 0.1  # tasks queued (ρ = 0.9 on 8 workers): not a trivial all-zero match
    assert waits == pytest.approx([waits[0]] * len(engines), rel=1e-9)
