"""When tasks are submitted: Poisson, evenly spaced, in bursts, or replayed from a file."""

from __future__ import annotations

import numpy as np

from sim.engine.distributions import read_numbers
from sim.scenario import Scenario


def arrival_times(scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """Submission times in seconds from the start of the run, sorted.

    With ``run.duration`` set the run holds every arrival before that time; otherwise exactly
    ``run.tasks`` arrivals.
    """
    a, run = scenario.arrivals, scenario.run
    if a.process == "trace":
        times = np.sort(np.asarray(read_numbers(a.file), dtype=float))
        times -= times[0]
        return times[times < run.duration] if run.duration else times[: run.tasks]
    n = run.tasks if not run.duration else int(run.duration * a.rate * 1.2 + 50)
    if a.process == "poisson":
        times = np.cumsum(rng.exponential(1.0 / a.rate, n))
        while run.duration and times[-1] < run.duration:
            more = times[-1] + np.cumsum(rng.exponential(1.0 / a.rate, n))
            times = np.concatenate([times, more])
    elif a.process == "constant":
        times = np.arange(n) / a.rate
    else:  # burst: burst_size tasks at once, bursts spaced so the mean rate is `rate`
        times = (np.arange(n) // a.burst_size) * (a.burst_size / a.rate)
    return times[times < run.duration] if run.duration else times
