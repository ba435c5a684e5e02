"""Distributions of service times and inter-arrival gaps, each given by what a user knows.

A ``Distribution`` is a name and the fields it reads (``sim.shapes.DIST_READS``): a mean and a
cv (std / mean) for every shape but uniform (low, high) and empirical (a sample). Each shape's
own parameters follow from mean m and cv c:

- exponential: mean m (cv 1); constant: m (cv 0);
- lognormal: σ² = ln(1 + c²), μ = ln m − σ²/2;
- erlang: k = round(1/c²) phases of mean m/k each (c must be 1/√k within 1.5 %: sim.shapes);
- hyperexponential (c ≥ 1), two phases with balanced means (Whitt 1982): phase 1 with
  probability p = (1 + √((c² − 1)/(c² + 1)))/2 and mean m/(2p), else mean m/(2(1 − p));
- pareto, the classic (type I) with a least time x_m: shape α = 1 + √(1 + 1/c²) > 2, so the
  mean and cv are finite for every c, and x_m = m(α − 1)/α;
- weibull: shape k solved from c² = Γ(1 + 2/k)/Γ(1 + 1/k)² − 1, scale m/Γ(1 + 1/k).

Samplers draw a whole vector from one generator, so the simulator pays NumPy's price per task,
not Python's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from sim.data_files import read_numbers
from sim.scenario import Arrivals, Service
from sim.shapes import erlang_phases

WEIBULL_SHAPES = (0.1, 1e6)  # cv from about 430 down to 1.3e-6: MAX_CV and MIN_SHAPE_CV within


def empirical_values(service: Service) -> np.ndarray:
    """The sample an empirical distribution resamples from (a file's checked at load:
    ``sim.data_files``)."""
    return np.asarray(service.values or read_numbers(service.file), dtype=float)


@dataclass(frozen=True, eq=False)
class Distribution:
    """A distribution by its name and the fields that name reads; ``values`` is an empirical
    sample, already read from its file."""

    dist: str
    mean: float = 1.0
    cv: float = 1.0
    low: float = 0.0
    high: float = 0.0
    values: np.ndarray | tuple[float, ...] = ()


def of_service(service: Service) -> Distribution:
    """The service-time distribution a [service] table gives."""
    s = service
    values = empirical_values(s) if s.dist == "empirical" else ()
    return Distribution(s.dist, s.mean, s.cv, s.low, s.high, values)


def of_gaps(arrivals: Arrivals) -> Distribution:
    """The gaps between arrivals of a Poisson or renewal process: mean 1/rate."""
    dist = "exponential" if arrivals.process == "poisson" else arrivals.dist
    return Distribution(dist, 1.0 / arrivals.rate, arrivals.cv)


def sample(d: Distribution, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` draws of ``d``."""
    if d.dist == "exponential":
        return rng.exponential(d.mean, n)
    if d.dist == "constant":
        return np.full(n, d.mean)
    if d.dist == "lognormal":
        return rng.lognormal(*_lognormal(d), n)
    if d.dist == "uniform":
        return rng.uniform(d.low, d.high, n)
    if d.dist == "erlang":
        return rng.gamma(*_erlang(d), n)
    if d.dist == "hyperexponential":
        p, first, second = hyperexponential_phases(d.mean, d.cv)
        return rng.exponential(1.0, n) * np.where(rng.random(n) < p, first, second)
    if d.dist == "pareto":
        alpha, scale = _pareto(d)
        return scale * (1 + rng.pareto(alpha, n))
    if d.dist == "weibull":
        k, scale = _weibull(d)
        return scale * rng.weibull(k, n)
    values = np.asarray(d.values, dtype=float)
    return values[rng.integers(0, len(values), n)]


# each shape's parameters from its mean and cv, one definition for its draws and its moments
def _lognormal(d: Distribution) -> tuple[float, float]:
    """(μ, σ) of the normal whose exponential has ``d``'s mean and cv."""
    sigma2 = math.log1p(d.cv**2)
    return math.log(d.mean) - sigma2 / 2, math.sqrt(sigma2)


def _erlang(d: Distribution) -> tuple[int, float]:
    """(phases, mean of a phase)."""
    k = erlang_phases(d.cv)
    return k, d.mean / k


def _pareto(d: Distribution) -> tuple[float, float]:
    """(shape α, scale: the least value)."""
    alpha = pareto_shape(d.cv)
    return alpha, d.mean * (alpha - 1) / alpha


def _weibull(d: Distribution) -> tuple[float, float]:
    """(shape k, scale)."""
    k = weibull_shape(d.cv)
    return k, d.mean / math.exp(_scipy().special.gammaln(1 + 1 / k))


def mean_of(d: Distribution) -> float:
    """The distribution's mean, for analytic formulas."""
    if d.dist == "uniform":
        return (d.low + d.high) / 2
    if d.dist == "empirical":
        return float(np.mean(d.values))
    return d.mean


def cv_of(d: Distribution) -> float:
    """The distribution's coefficient of variation (std / mean)."""
    if d.dist == "exponential":
        return 1.0
    if d.dist == "constant":
        return 0.0
    if d.dist == "erlang":
        return 1 / math.sqrt(erlang_phases(d.cv))
    if d.dist == "uniform":
        return (d.high - d.low) / math.sqrt(12) / mean_of(d)
    if d.dist == "empirical":
        values = np.asarray(d.values, dtype=float)
        return float(values.std() / values.mean()) if values.mean() > 0 else 0.0
    return d.cv


def is_exponential(d: Distribution) -> bool:
    """Whether ``d`` is the exponential distribution, the M of M/M/c: by name, or a shape that
    its cv of 1 makes one (an Erlang of one phase, the balanced hyperexponential, a Weibull of
    shape 1). A cv of 1 alone is not enough: a lognormal or Pareto of cv 1 is no M."""
    return d.dist == "exponential" or (
        d.dist in ("erlang", "hyperexponential", "weibull") and cv_of(d) == 1
    )


def sample_service(service: Service, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` service times in seconds."""
    return sample(of_service(service), rng, n)


def service_mean(service: Service) -> float:
    """The service distribution's mean, for analytic formulas."""
    return mean_of(of_service(service))


def service_cv(service: Service) -> float:
    """The service distribution's coefficient of variation (std / mean)."""
    return cv_of(of_service(service))


def hyperexponential_phases(mean: float, cv: float) -> tuple[float, float, float]:
    """(p, m1, m2): phase 1 with probability p and mean m1, else mean m2, with balanced means
    p·m1 = (1 − p)·m2 = mean/2. 1 − p is written without cancellation for a large cv."""
    c2 = cv * cv
    root = math.sqrt((c2 - 1) / (c2 + 1))
    p, q = (1 + root) / 2, 1 / ((c2 + 1) * (1 + root))
    return p, mean / (2 * p), mean / (2 * q)


def pareto_shape(cv: float) -> float:
    """The classic Pareto's α for a cv: cv² = 1/(α(α − 2)), the root above 2."""
    return 1 + math.sqrt(1 + cv**-2)


def _scipy() -> ModuleType:
    """SciPy, imported when a Weibull first needs Γ or a root: it is about half the memory
    the CLI starts with (68 of 144 MiB), and no other shape reads it."""
    import scipy.optimize
    import scipy.special

    return scipy


@cache
def weibull_shape(cv: float) -> float:
    """The Weibull shape k whose cv is ``cv``; cv falls as k grows, so one root (in log k)."""
    gammaln = _scipy().special.gammaln

    def excess(log_k: float) -> float:  # log of the cv at shape k, less log cv
        k = math.exp(log_k)
        return math.log(math.expm1(gammaln(1 + 2 / k) - 2 * gammaln(1 + 1 / k))) / 2 - math.log(cv)

    low, high = (math.log(k) for k in WEIBULL_SHAPES)
    return math.exp(_scipy().optimize.brentq(excess, low, high, xtol=1e-12))


def limited_moments(d: Distribution, limit: float) -> tuple[float, float, float]:
    """E[min(X, limit)], E[min(X, limit)²] and P(X > limit): the moments of an execution a
    hard time limit ends at ``limit``, for analytic formulas."""
    if d.dist in ("constant", "empirical"):
        values = np.asarray(d.values if d.dist == "empirical" else (d.mean,), dtype=float)
        cut = np.minimum(values, limit)
        return float(cut.mean()), float((cut * cut).mean()), float((values > limit).mean())
    if d.dist == "hyperexponential":  # a mixture: its moments mix its phases'
        p, first, second = hyperexponential_phases(d.mean, d.cv)
        a, b = (limited_moments(Distribution("exponential", m), limit) for m in (first, second))
        mean, square, tail = (p * x + (1 - p) * y for x, y in zip(a, b, strict=True))
        return mean, square, tail
    shape = _frozen(d)
    tail = float(shape.sf(limit))
    mean, square = (float(shape.expect(lambda x, k=k: x**k, lb=0.0, ub=limit)) for k in (1, 2))
    return mean + limit * tail, square + limit * limit * tail, tail


def _frozen(d: Distribution) -> Any:
    """``d`` as SciPy's frozen distribution (imported here: SciPy's stats is large)."""
    from scipy import stats

    if d.dist == "exponential":
        return stats.expon(scale=d.mean)
    if d.dist == "lognormal":
        mu, sigma = _lognormal(d)
        return stats.lognorm(s=sigma, scale=math.exp(mu))
    if d.dist == "uniform":
        return stats.uniform(loc=d.low, scale=d.high - d.low)
    if d.dist == "erlang":
        k, scale = _erlang(d)
        return stats.gamma(a=k, scale=scale)
    if d.dist == "pareto":
        alpha, scale = _pareto(d)
        return stats.pareto(b=alpha, scale=scale)
    k, scale = _weibull(d)
    return stats.weibull_min(c=k, scale=scale)
