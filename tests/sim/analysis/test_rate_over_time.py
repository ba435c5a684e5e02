"""The rate a scenario sets over time, summed over its streams, and the rate its run drew."""

import numpy as np
import pytest

from sim.analysis import rate_over_time
from sim.engine.model import simulate
from tests.sim.helpers import make, web_and_batch

CYCLE = {
    "arrivals.process": "cycle",
    "arrivals.rate": 4.0,
    "arrivals.amplitude": 0.5,
    "arrivals.period": 400.0,
    "run.duration": 800.0,
}


def test_a_cycle_s_set_rate_swings_around_its_mean_and_the_run_draws_it():
    sc = make(**CYCLE)
    trace = simulate(sc)
    end = rate_over_time.run_end(sc, trace)
    t, rate = rate_over_time.set_rate(sc, end)
    assert end == 800.0 and rate.max() == pytest.approx(6.0, rel=1e-3)
    assert rate.min() == pytest.approx(2.0, rel=1e-3)
    middle, drawn = rate_over_time.drawn_rate(trace, end, bins=8)
    expected = np.interp(middle, t, rate)
    # 8 bins of 100 s: at least 200 arrivals each (7 % standard error); 30 % is over 4 of them
    assert np.all(np.abs(drawn / expected - 1) < 0.3)
    assert drawn.mean() * 800 == trace.n_tasks


def test_a_steady_scenario_has_no_rate_over_time_to_show():
    assert rate_over_time.set_rate(make(), 100.0) is None


def test_a_type_s_own_cycle_adds_to_the_shared_steady_stream():
    sc = web_and_batch("rate = 2.0", 'process = "piecewise"\nrates = [0.0, 6.0]\nperiod = 100.0')
    _, rate = rate_over_time.set_rate(sc, 99.0)
    assert rate[0] == 2.0 and rate[-1] == 8.0
