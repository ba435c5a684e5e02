"""Service-time distributions, each parameterised by what a user knows: mean and spread.

Samplers draw a whole vector from one generator, so the simulator pays NumPy's price per task,
not Python's.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np

from sim.scenario import MAX_SECONDS, ScenarioError, Service


@cache
def read_numbers(path: str) -> tuple[float, ...]:
    """Non-negative numbers from a text file: one per line, or the first column of a CSV."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        raise ScenarioError(f"data file {path!r} does not exist") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"data file {path!r} is not text: give numbers one per line") from None
    numbers = []
    for n, line in enumerate(lines, 1):
        cell = line.split(",")[0].strip()
        if not cell or cell.startswith("#"):
            continue
        try:
            value = float(cell)
        except ValueError:
            if not numbers:  # a header line
                continue
            raise ScenarioError(f"{path}:{n}: {cell!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise ScenarioError(f"{path}:{n}: {cell!r} must be a finite number >= 0")
        numbers.append(value)
    if not numbers:
        raise ScenarioError(f"data file {path!r} holds no numbers")
    return tuple(numbers)


def empirical_values(service: Service) -> np.ndarray:
    """The sample an empirical distribution resamples from.

    File values are bounded like ``service.values``: larger ones make sums of times overflow.
    """
    values = np.asarray(service.values or read_numbers(service.file), dtype=float)
    if values.max() > MAX_SECONDS:
        raise ScenarioError(
            f"service.file {service.file!r}: a service time of {values.max():g} s: "
            f"must be <= {MAX_SECONDS:g}"
        )
    return values


def sample_service(service: Service, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` service times in seconds."""
    if service.dist == "exponential":
        return rng.exponential(service.mean, n)
    if service.dist == "constant":
        return np.full(n, service.mean)
    if service.dist == "lognormal":
        sigma2 = math.log1p(service.cv**2)
        return rng.lognormal(math.log(service.mean) - sigma2 / 2, math.sqrt(sigma2), n)
    if service.dist == "uniform":
        return rng.uniform(service.low, service.high, n)
    values = empirical_values(service)
    return values[rng.integers(0, len(values), n)]


def service_mean(service: Service) -> float:
    """The distribution's mean, for analytic formulas."""
    if service.dist == "uniform":
        return (service.low + service.high) / 2
    if service.dist == "empirical":
        return float(empirical_values(service).mean())
    return service.mean


def service_cv(service: Service) -> float:
    """The distribution's coefficient of variation (std / mean)."""
    if service.dist == "exponential":
        return 1.0
    if service.dist == "constant":
        return 0.0
    if service.dist == "lognormal":
        return service.cv
    if service.dist == "uniform":
        return (service.high - service.low) / math.sqrt(12) / service_mean(service)
    values = empirical_values(service)
    return float(values.std() / values.mean()) if values.mean() > 0 else 0.0
