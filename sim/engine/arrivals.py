"""When tasks are submitted: Poisson, evenly spaced, in bursts, a renewal process, at a rate that
varies over time, or a trace file replayed as is or with its gaps resampled per seed."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sim.data_files import read_numbers
from sim.engine import varying_rate
from sim.engine.distributions import of_gaps, sample
from sim.scenario import Arrivals, Run, Scenario


def arrival_times(scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """Submission times in seconds from the start of the run, sorted.

    With ``run.duration`` set the run holds every arrival before that time; otherwise exactly
    ``run.tasks`` arrivals (a trace: at most as many as its file holds).
    """
    a, run = scenario.arrivals, scenario.run
    n = run.tasks if not run.duration else int(run.duration * a.rate * 1.2 + 50)
    if a.process == "trace":
        times = _trace(a, run, rng)
    elif a.process == "constant":
        times = np.arange(n) / a.rate
    elif a.process == "burst":  # burst_size tasks at once, bursts spaced so the mean rate is `rate`
        if run.duration:  # every burst that starts before it, whole: not a rate's worth of tasks
            n = bursts_before(a, run.duration) * a.burst_size
        times = (np.arange(n) // a.burst_size) * (a.burst_size / a.rate)
    elif a.process in varying_rate.VARYING:  # unit-rate Poisson epochs through Λ⁻¹
        horizon = varying_rate.cumulative(a, run.duration) if run.duration else 0.0
        epochs = _renewal(rng.standard_exponential, n, horizon)
        times = varying_rate.inverse(a, epochs)
    else:  # poisson or renewal: independent gaps, mean 1/rate
        gaps = of_gaps(a)
        times = _renewal(lambda m: sample(gaps, rng, m), n, run.duration)
    return times[times < run.duration] if run.duration else times[: run.tasks]


def bursts_before(a: Arrivals, duration: float) -> int:
    """The bursts that start before ``duration``: every k >= 0 with k × burst_size / rate below
    it, by the same float products ``arrival_times`` compares (a quotient alone may round
    across the boundary)."""
    spacing = a.burst_size / a.rate
    k = math.ceil(duration / spacing)
    while k > 1 and (k - 1) * spacing >= duration:
        k -= 1
    while k * spacing < duration:
        k += 1
    return k


def _renewal(gaps: Callable[[int], np.ndarray], n: int, duration: float) -> np.ndarray:
    """Cumulative sums of ``n`` gaps, ``n`` more at a time until ``duration`` is passed."""
    times = np.cumsum(gaps(n))
    while duration and times[-1] < duration:
        times = np.concatenate([times, times[-1] + np.cumsum(gaps(n))])
    return times


def _trace(a: Arrivals, run: Run, rng: np.random.Generator) -> np.ndarray:
    """The file's times from its first; resampled, its gaps drawn with replacement, as many
    arrivals as the replay holds (with ``run.duration``, all before it: past the file's span)."""
    times = np.sort(np.asarray(read_numbers(a.file), dtype=float))
    times -= times[0]
    if a.replay == "as_is" or times[-1] == 0:  # no gaps to draw from, or all of them 0
        return times
    gaps = np.diff(times)  # how many a run.duration resamples is bounded at load (data_files)
    n = len(times) - 1 if run.duration else min(run.tasks, len(times)) - 1
    drawn = _renewal(lambda m: gaps[rng.integers(0, len(gaps), m)], max(n, 1), run.duration)
    return np.concatenate([[0.0], drawn])
