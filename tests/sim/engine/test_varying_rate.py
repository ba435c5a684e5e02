"""Arrivals at a rate that varies over time come as often as the rate says, piece by piece and
phase by phase; the draws are exact inversions of the cumulative rate, the seed's own."""

import math

import numpy as np
import pytest

from sim.engine import varying_rate
from sim.engine.draws import ARRIVALS, Draws, stream
from sim.fields import ScenarioError
from tests.sim.helpers import make, web_and_batch

PIECEWISE = {"arrivals.process": "piecewise", "arrivals.rates": [2.0, 10.0, 0.0, 6.0]}


def cycle(amplitude: float = 0.8, **more) -> dict:
    return {
        "arrivals.process": "cycle",
        "arrivals.rate": 10.0,
        "arrivals.amplitude": amplitude,
        "arrivals.period": 100.0,
    } | more


def test_piecewise_arrivals_per_piece_follow_the_rates():
    # 1111 periods of four 10 s pieces at mean 4.5 tasks/s: about 200,000 arrivals
    sc = make(**PIECEWISE, **{"arrivals.period": 40.0, "run.duration": 1111 * 40.0})
    t = Draws(sc).arrivals
    counts = np.bincount((t % 40.0 // 10.0).astype(int), minlength=4)
    expected = np.array([2.0, 10.0, 0.0, 6.0]) * 10.0 * 1111
    # the fewest, 22,220, have a standard error of 0.7 %: 3 % is over 4 of them
    assert counts[2] == 0
    assert np.all(np.abs(counts[[0, 1, 3]] / expected[[0, 1, 3]] - 1) < 0.03)
    assert sc.arrivals.rate == 4.5 and abs(len(t) / (4.5 * 1111 * 40) - 1) < 0.01


def test_cycle_arrivals_per_phase_follow_the_sine():
    sc = make(**cycle(**{"run.tasks": 400_000}))
    t = Draws(sc).arrivals
    periods = math.floor(t[-1] / 100.0)
    t = t[t < periods * 100.0]  # whole periods only
    edges = np.linspace(0, 2 * math.pi, 9)
    counts = np.bincount((t % 100.0 / 100.0 * 8).astype(int), minlength=8)
    # ∫ rate over each eighth of a period: rate × (width + amplitude/ω × (cos a − cos b))
    width, per = 100.0 / 8, 0.8 * 100.0 / (2 * math.pi)
    expected = periods * 10.0 * (width + per * (np.cos(edges[:-1]) - np.cos(edges[1:])))
    # the fewest, about 14,000, have a standard error of 0.85 %: 3 % is 3.5 of them
    assert expected.min() > 13_000
    assert np.all(np.abs(counts / expected - 1) < 0.03)


@pytest.mark.parametrize("amplitude", [0.0, 0.3, 0.8, 1.0])
def test_each_arrival_is_the_unit_rate_epoch_through_the_inverse_cumulative_rate(amplitude):
    sc = make(**cycle(amplitude, **{"run.tasks": 20_000}))
    t = Draws(sc, seed=3).arrivals
    epochs = np.cumsum(stream(3, ARRIVALS).standard_exponential(20_000))
    back = np.array([varying_rate.cumulative(sc.arrivals, x) for x in t[::37]])
    assert np.allclose(back, epochs[::37], rtol=1e-12, atol=1e-9)
    assert np.all(np.diff(t) >= 0)


def test_a_flat_cycle_is_the_poisson_process_of_the_same_seed():
    flat = Draws(make(**cycle(0.0, **{"run.tasks": 5000}))).arrivals
    poisson = Draws(make(**{"arrivals.rate": 10.0, "run.tasks": 5000})).arrivals
    assert np.allclose(flat, poisson, rtol=1e-12)


@pytest.mark.parametrize("fields", [cycle(), PIECEWISE | {"arrivals.period": 30.0}])
def test_the_same_scenario_and_seed_draw_the_same_bytes(fields):
    one, again = (Draws(make(**fields, **{"run.tasks": 3000})).arrivals for _ in range(2))
    other = Draws(make(**fields, **{"run.tasks": 3000}), seed=2).arrivals
    assert one.tobytes() == again.tobytes() and not np.array_equal(one, other)


def test_over_a_duration_every_arrival_before_it_and_the_mean_rate_kept():
    t = Draws(make(**cycle(1.0, **{"run.duration": 1000.0}))).arrivals
    assert t[-1] < 1000.0 and abs(len(t) / 10_000 - 1) < 0.04  # 10 periods; 1 % standard error


def test_a_task_type_s_own_cycle_merges_with_the_shared_stream():
    sc = web_and_batch(
        "rate = 2.0",
        'process = "cycle"\nrate = 8.0\namplitude = 1.0\nperiod = 1000.0',
        run="duration = 2000.0",
    )
    d = Draws(sc)
    batch = d.arrivals[d.type_of == 1]
    assert np.all(np.diff(d.arrivals) >= 0)
    # the second half of each period is the trough: rate × (1 − 2/π) on average, 2.9 of 8
    first, second = np.bincount((batch % 1000.0 // 500.0).astype(int))
    assert abs(second / (2 * 500 * 8 * (1 - 2 / math.pi)) - 1) < 0.1
    assert abs(first / (2 * 500 * 8 * (1 + 2 / math.pi)) - 1) < 0.05


def test_the_rate_alone_scales_the_rates_and_the_rates_alone_set_the_rate():
    sc = make(**PIECEWISE)
    assert sc.arrivals.rate == 4.5
    scaled = sc.replace(**{"arrivals.rate": 9.0})
    assert scaled.arrivals.rates == (4.0, 20.0, 0.0, 12.0)
    assert sc.replace(**{"arrivals.rates": [1.0, 3.0]}).arrivals.rate == 2.0


def test_a_task_type_s_rate_alone_follows_the_scenario_s_profile_at_its_own_mean():
    sc = web_and_batch('process = "piecewise"\nrates = [1.0, 3.0]\nperiod = 100.0', "rate = 6.0")
    assert sc.arrivals.rate == 2.0 and sc.tasks[1].arrivals.rates == (3.0, 9.0)
    changed = sc.replace(**{"tasks.batch.arrivals.rates": [1.0, 2.0]}).tasks[1].arrivals
    assert (changed.rates, changed.rate) == ((1.0, 2.0), 1.5)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (cycle(1.5), r"arrivals.amplitude = 1.5 is out of range: must be a number >= 0 and <= 1"),
        (cycle(**{"arrivals.period": 0.0}), r"arrivals.period = 0.0 is out of range: must be a "),
        (
            {"arrivals.process": "piecewise", "arrivals.rates": [-1.0, 2.0]},
            r"arrivals.rates = \[-1.0, 2.0\]: must be a list of numbers >= 0 and <= 1e\+09",
        ),
        (
            {"arrivals.process": "piecewise", "arrivals.rates": [0.0, 0.0]},
            r"arrivals.rates = \[0.0, 0.0\]: process = 'piecewise' needs a rate per piece "
            r"\(tasks/s, each >= 0\) with a mean of at least 1e-09, as arrivals.rate",
        ),
        ({"arrivals.process": "piecewise"}, r"arrivals.rates = \[\]: process = 'piecewise' needs"),
        (
            {"arrivals.process": "piecewise", "arrivals.rates": [1e-10]},
            r"arrivals.rates = \[1e-10\]: .* a mean of at least 1e-09",
        ),
        (
            PIECEWISE | {"arrivals.rate": 5.0},
            r"arrivals.rate = 5 but arrivals.rates average 4.5: the rate is their mean",
        ),
        (
            {"arrivals.rates": [1.0]},
            r"arrivals.rates is given but arrivals.process = 'poisson' does not read it",
        ),
        (
            {"arrivals.process": "piecewise", "arrivals.rates": [1.0], "arrivals.amplitude": 0.2},
            r"arrivals.amplitude is given but arrivals.process = 'piecewise' does not read it",
        ),
    ],
)
def test_bad_varying_rates_name_the_field_and_the_range(fields, message):
    with pytest.raises(ScenarioError, match=message):
        make(**fields)
