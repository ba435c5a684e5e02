"""An arrival rate that varies over time and repeats every ``arrivals.period``: piecewise constant
(``arrivals.rates``, equal pieces) or a daily cycle, rate × (1 + amplitude × sin(2πt / period)).

Both average ``arrivals.rate`` over a period. Arrivals at such a rate are a non-homogeneous
Poisson process, drawn by inversion: the epochs s₁ < s₂ < … of a unit-rate Poisson process,
mapped through the inverse of the cumulative rate Λ(t) = ∫₀ᵗ rate(u) du, are its arrival times.
That is exact (no bound to thin against, no time grid), costs one draw per arrival however peaked
the rate, and keeps common random numbers: the same seed's k-th arrival moves smoothly as the
rates or the amplitude change, rather than being thinned away.
"""

from __future__ import annotations

import math

import numpy as np

from sim.scenario import Arrivals

VARYING = ("piecewise", "cycle")
_GRID = 4096  # phases at which the cycle's Λ brackets every root before Newton's method
_NEWTON_STEPS = 60  # each step at least halves the bracket: 60 is past float precision
_PHASE_TOLERANCE = 1e-13  # radians: a few ulps of 2π


def rate_at(a: Arrivals, t: np.ndarray) -> np.ndarray:
    """The rate in tasks/s at scenario times ``t``."""
    t = np.asarray(t, dtype=float)
    if a.process == "piecewise":
        return np.asarray(a.rates)[_piece(a, t % a.period)]
    return a.rate * (1 + a.amplitude * np.sin(2 * math.pi * t / a.period))


def cumulative(a: Arrivals, t: float) -> float:
    """Λ(t): the expected number of arrivals before ``t``."""
    cycles, u = divmod(t, a.period)
    if a.process == "piecewise":
        edges = _edges(a)
        j = int(_piece(a, np.array(u)))
        into = edges[j] + a.rates[j] * (u - j * a.period / len(a.rates))
        return float(cycles * edges[-1] + into)
    x = 2 * math.pi * u / a.period
    return a.rate * (
        cycles * a.period + u + a.amplitude * a.period / (2 * math.pi) * (1 - math.cos(x))
    )


def inverse(a: Arrivals, s: np.ndarray) -> np.ndarray:
    """Λ⁻¹(s): the time by which ``s`` arrivals are expected, for ``s`` >= 0."""
    if a.process == "piecewise":
        edges = _edges(a)
        cycles, r = np.divmod(s, edges[-1])
        j = np.minimum(np.searchsorted(edges, r, side="right") - 1, len(a.rates) - 1)
        piece = a.period / len(a.rates)
        return cycles * a.period + j * piece + (r - edges[j]) / np.asarray(a.rates)[j]
    cycles, r = np.divmod(s, a.rate * a.period)
    phase = _cycle_phase(a.amplitude, 2 * math.pi * r / (a.rate * a.period))
    return (cycles + phase / (2 * math.pi)) * a.period


def _edges(a: Arrivals) -> np.ndarray:
    """Λ at the start of each piece of one period, and at its end."""
    return np.concatenate([[0.0], np.cumsum(a.rates) * (a.period / len(a.rates))])


def _piece(a: Arrivals, u: np.ndarray) -> np.ndarray:
    """The piece of the period that times ``u`` within it fall in."""
    n = len(a.rates)
    return np.minimum((u * n / a.period).astype(int), n - 1)


def _cycle_phase(amplitude: float, y: np.ndarray) -> np.ndarray:
    """x in [0, 2π) with x + amplitude × (1 − cos x) = y, for y in [0, 2π). The left side is
    increasing, so a grid brackets each root and interpolation starts close to it; Newton's
    method then needs a step or two, bisecting where a step would leave the bracket (at
    amplitude 1 the slope is 0 at x = 3π/2). It stops within a few ulps of y: Λ itself is no
    more precise than that."""
    grid = np.linspace(0, 2 * math.pi, _GRID + 1)
    side = _phase_side(amplitude, grid)
    edge = np.clip(np.searchsorted(side, y, side="right"), 1, _GRID)
    low, high = grid[edge - 1], grid[edge]
    x = low + (y - side[edge - 1]) / (side[edge] - side[edge - 1]) * (high - low)
    for _ in range(_NEWTON_STEPS):
        g = _phase_side(amplitude, x) - y
        low, high = np.where(g < 0, x, low), np.where(g < 0, high, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - g / (1 + amplitude * np.sin(x))
        inside = (newton >= low) & (newton <= high)
        step = np.where(
            np.abs(g) > _PHASE_TOLERANCE, np.where(inside, newton, (low + high) / 2) - x, 0
        )
        x += step
        if not np.any(np.abs(step) > _PHASE_TOLERANCE):
            break
    return x


def _phase_side(amplitude: float, x: np.ndarray) -> np.ndarray:
    """Λ over one period in phase units: 2π Λ(t) / (rate × period) at x = 2πt / period."""
    return x + amplitude * (1 - np.cos(x))
