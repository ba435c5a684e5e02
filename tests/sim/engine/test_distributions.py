"""Each distribution has the mean and cv it is given, and the shape it is named for."""

import math
import subprocess
import sys

import numpy as np
import pytest

from sim.engine.distributions import (
    Distribution,
    cv_of,
    hyperexponential_phases,
    is_exponential,
    limited_moments,
    mean_of,
    pareto_shape,
    sample,
    sample_service,
    service_cv,
    weibull_shape,
)
from sim.scenario import MAX_CV, Service
from sim.shapes import MIN_SHAPE_CV

N = 400_000


@pytest.mark.parametrize(
    ("dist", "cv"),
    [
        ("erlang", 1 / math.sqrt(3)),
        ("erlang", 1.0),
        ("hyperexponential", 1.0),
        ("hyperexponential", 2.5),
        ("pareto", 0.3),  # α ≈ 4.5: a finite fourth moment, so the sample's cv settles
        ("weibull", 0.5),
        ("weibull", 2.0),
        ("lognormal", 0.5),
    ],
)
def test_a_sample_has_the_given_mean_and_cv(dist, cv):
    d = Distribution(dist, mean=2.0, cv=cv)
    x = sample(d, np.random.default_rng(11), N)
    # standard error of the mean is cv/√N ≈ 0.4 % at cv 2.5; of the cv about as much
    assert abs(x.mean() / 2.0 - 1) < 0.01, x.mean()
    assert abs(x.std() / x.mean() / cv - 1) < 0.02, x.std() / x.mean()
    assert (mean_of(d), cv_of(d)) == pytest.approx((2.0, cv))


def test_pareto_has_its_least_time_and_power_tail_at_any_cv():
    d = Distribution("pareto", mean=1.0, cv=2.0)
    alpha = pareto_shape(2.0)
    least = (alpha - 1) / alpha
    x = sample(d, np.random.default_rng(5), N)
    assert alpha > 2 and x.min() >= least
    assert abs(x.mean() - 1.0) < 0.03  # the tail is heavy: the mean settles slowly
    for times in (2, 10):
        assert np.mean(x > times * least) == pytest.approx(times**-alpha, rel=0.05)


def test_hyperexponential_phases_have_balanced_means():
    for cv in (1.0, 1.5, 10.0, MAX_CV):
        p, first, second = hyperexponential_phases(3.0, cv)
        assert p * first == pytest.approx(1.5) and (1 - p) * second == pytest.approx(1.5)
        second_moment = 2 * (p * first**2 + (1 - p) * second**2)
        assert math.sqrt(second_moment / 9 - 1) == pytest.approx(cv)
    assert hyperexponential_phases(3.0, 1.0) == (0.5, 3.0, 3.0)  # exponential


def test_weibull_shape_is_exponential_at_cv_one_and_solves_its_cv_at_the_bounds():
    assert weibull_shape(1.0) == pytest.approx(1.0, abs=1e-9)
    for cv in (0.3, 7.0, MAX_CV):
        k = weibull_shape(cv)
        solved = math.sqrt(math.expm1(math.lgamma(1 + 2 / k) - 2 * math.lgamma(1 + 1 / k)))
        assert solved == pytest.approx(cv, rel=1e-6)
    # the least cv (k ≈ 128,000): checked on a sample, as the Gamma ratio is 1 + 1e-10 there
    x = sample(Distribution("weibull", mean=1.0, cv=MIN_SHAPE_CV), np.random.default_rng(2), N)
    assert x.std() / x.mean() == pytest.approx(MIN_SHAPE_CV, rel=0.02)


@pytest.mark.parametrize("dist", ["erlang", "pareto", "weibull", "hyperexponential"])
def test_the_extreme_spreads_still_give_finite_positive_draws(dist):
    low = 1.0 if dist == "hyperexponential" else MIN_SHAPE_CV
    for cv in (low, MAX_CV if dist != "erlang" else 1.0):
        x = sample(Distribution(dist, mean=1e9, cv=cv), np.random.default_rng(1), 1000)
        assert np.isfinite(x).all() and (x >= 0).all()


def test_erlang_reports_the_cv_of_its_whole_phases():
    """cv 0.705 is read as k = 2, whose cv is 1/√2: the formulas use that one."""
    assert service_cv(Service(dist="erlang", cv=0.705)) == 1 / math.sqrt(2)


def test_the_older_distributions_draw_exactly_what_they_drew():
    """Existing traces stay the same: the same NumPy call on the same generator."""
    rng, again = np.random.default_rng(3), np.random.default_rng(3)
    got = sample_service(Service(dist="lognormal", mean=2.0, cv=3.0), rng, 100)
    sigma2 = math.log1p(9.0)
    expected = again.lognormal(math.log(2.0) - sigma2 / 2, math.sqrt(sigma2), 100)
    assert np.array_equal(got, expected)
    got = sample_service(Service(dist="exponential", mean=2.0), rng, 100)
    assert np.array_equal(got, again.exponential(2.0, 100))


def test_simulating_and_sweeping_import_scipy_only_when_a_weibull_needs_it():
    """SciPy is about half the memory a command starts with; only Weibull shapes read it."""
    code = (
        "import sys; import sim.analysis.runs, sim.analysis.sweep, sim.engine.model;"
        "from sim.engine.distributions import Distribution, sample;"
        "import numpy as np; rng = np.random.default_rng(1);"
        "sample(Distribution('lognormal', 1.0, 2.0), rng, 10); print('scipy' in sys.modules);"
        "sample(Distribution('weibull', 1.0, 2.0), rng, 10); print('scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


@pytest.mark.parametrize(
    "d",
    [
        Distribution("exponential", 2.0),
        Distribution("lognormal", 2.0, 1.0),
        Distribution("uniform", low=0.5, high=9.0),
        Distribution("erlang", 2.0, 0.5),
        Distribution("hyperexponential", 2.0, 3.0),
        Distribution("pareto", 2.0, 2.0),
        Distribution("weibull", 2.0, 1.5),
        Distribution("constant", 7.0),
        Distribution("empirical", values=np.array([1.0, 2.0, 9.0])),
    ],
    ids=lambda d: d.dist,
)
def test_a_hard_limit_s_moments_are_those_of_the_sample_cut_at_it(d):
    """E[min(X, 6)], E[min(X, 6)²] and P(X > 6), each shape's from SciPy or its values,
    against 400k draws cut at 6 s."""
    x = sample(d, np.random.default_rng(5), N)
    cut = np.minimum(x, 6.0)
    mean, square, tail = limited_moments(d, 6.0)
    assert (mean, square) == pytest.approx((cut.mean(), (cut * cut).mean()), rel=0.01)
    assert tail == pytest.approx((x > 6.0).mean(), abs=0.002)


@pytest.mark.parametrize(
    ("dist", "cv", "exponential"),
    [
        ("exponential", 1.0, True),
        ("erlang", 1.0, True),  # one phase
        ("hyperexponential", 1.0, True),  # both phases of mean m
        ("weibull", 1.0, True),  # shape 1
        ("lognormal", 1.0, False),
        ("pareto", 1.0, False),
        ("erlang", 0.5, False),
        ("constant", 0.0, False),
    ],
)
def test_a_cv_of_one_is_exponential_only_where_the_shape_makes_it_so(dist, cv, exponential):
    d = Distribution(dist, 2.0, cv)
    assert is_exponential(d) is exponential
    if exponential and dist != "exponential":  # its draws are the exponential's: P(X > m) = e^-1
        x = sample(d, np.random.default_rng(3), N)
        assert np.mean(x > 2.0) == pytest.approx(math.exp(-1), abs=0.005)
