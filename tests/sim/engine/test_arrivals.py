"""Renewal arrivals have the gaps they are given; a trace is replayed as is or resampled."""

import numpy as np
import pytest

from sim.engine.arrivals import arrival_times
from sim.engine.draws import Draws
from tests.sim.helpers import make


def times(seed=1, **fields):
    return Draws(make(**fields), seed=seed).arrivals


@pytest.mark.parametrize(
    ("dist", "cv"), [("erlang", 0.5), ("hyperexponential", 3.0), ("weibull", 0.4), ("pareto", 0.3)]
)
def test_renewal_gaps_have_mean_one_over_rate_and_the_given_cv(dist, cv):
    t = times(
        **{
            "run.tasks": 300_000,
            "arrivals.process": "renewal",
            "arrivals.rate": 4.0,
            "arrivals.dist": dist,
            "arrivals.cv": cv,
        }
    )
    gaps = np.diff(t)
    assert abs(gaps.mean() * 4.0 - 1) < 0.01  # standard error cv/√n: ≤ 0.6 %
    assert abs(gaps.std() / gaps.mean() / cv - 1) < 0.02


def test_renewal_with_exponential_gaps_is_the_poisson_process_draw_for_draw():
    fields = {"run.tasks": 1000, "arrivals.rate": 3.0}
    poisson = times(**fields)
    renewal = times(**fields, **{"arrivals.process": "renewal", "arrivals.dist": "exponential"})
    assert np.array_equal(poisson, renewal)


def test_renewal_over_a_duration_holds_every_arrival_before_it():
    t = times(
        **{
            "run.duration": 5000.0,
            "arrivals.rate": 2.0,
            "arrivals.process": "renewal",
            "arrivals.dist": "lognormal",
            "arrivals.cv": 2.0,
        }
    )
    assert t[-1] < 5000.0 and abs(len(t) / 10_000 - 1) < 0.05


@pytest.mark.parametrize(("duration", "bursts"), [(1.0, 1), (50.0, 1), (50.0001, 2), (60.0, 2)])
def test_bursts_over_a_duration_come_whole_every_one_that_starts_before_it(duration, bursts):
    fields = {"arrivals.process": "burst", "arrivals.rate": 100.0, "arrivals.burst_size": 5000}
    t = times(**fields, **{"run.duration": duration})  # bursts at 0, 50, 100, … s
    assert len(t) == bursts * 5000  # a rate's worth (1.2 × 100 × 1 + 50) cut the first to 170
    assert np.array_equal(np.unique(t), np.arange(bursts) * 50.0)


@pytest.fixture
def trace_file(tmp_path):
    path = tmp_path / "arrivals.csv"
    path.write_text("t\n" + "\n".join(str(x) for x in [3.0, 3.5, 4.0, 7.0, 7.25, 10.0]) + "\n")
    return str(path)


def test_a_trace_as_is_is_the_same_file_at_every_seed(trace_file):
    fields = {"arrivals.process": "trace", "arrivals.file": trace_file}
    assert np.array_equal(times(1, **fields), [0.0, 0.5, 1.0, 4.0, 4.25, 7.0])
    assert np.array_equal(times(1, **fields), times(2, **fields))


def test_a_resampled_trace_draws_the_files_gaps_per_seed(trace_file):
    fields = {
        "arrivals.process": "trace",
        "arrivals.file": trace_file,
        "arrivals.replay": "resample",
    }
    one, two = times(1, **fields), times(2, **fields)
    assert len(one) == len(two) == 6 and one[0] == two[0] == 0.0  # as many as the replay holds
    assert set(np.diff(one).round(9)) <= {0.5, 3.0, 0.25, 2.75}
    assert not np.array_equal(one, two) and np.array_equal(one, times(1, **fields))
    assert len(times(1, **fields, **{"run.tasks": 3})) == 3


def test_a_resampled_trace_over_a_duration_runs_past_the_files_span(trace_file):
    sc = make(
        **{
            "arrivals.process": "trace",
            "arrivals.file": trace_file,
            "arrivals.replay": "resample",
            "run.duration": 700.0,
        }
    )
    t = arrival_times(sc, np.random.default_rng(4))
    # 5 gaps of mean 1.4 s: about 500 arrivals before 700 s
    assert t[-1] < 700.0 and 400 < len(t) < 600


def test_a_trace_of_equal_times_resampled_is_itself(tmp_path):
    (tmp_path / "same.txt").write_text("2.0\n2.0\n2.0\n")
    sc = make(
        **{
            "arrivals.process": "trace",
            "arrivals.file": str(tmp_path / "same.txt"),
            "arrivals.replay": "resample",
            "run.duration": 10.0,
        }
    )
    assert np.array_equal(arrival_times(sc, np.random.default_rng(0)), [0.0, 0.0, 0.0])
