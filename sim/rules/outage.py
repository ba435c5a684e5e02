"""Downstream outages: windows of scenario time in which attempts fail at another rate.

A task that calls a flaky API fails now and then (``failures.probability``); when the API is down
it fails nearly always. An attempt's fate is decided when its work ends — the moment it would have
the API's answer — by the same uniform draw either way, so an outage changes which attempts fail
without changing any other draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Outage:
    """From ``start`` to ``end`` (seconds), an attempt fails with ``probability``."""

    start: float
    end: float
    probability: float


def failure_probability(base: float, outages: tuple[Outage, ...], t: float) -> float:
    """The chance that an attempt ending at ``t`` fails: an outage's if one covers ``t``."""
    for outage in outages:
        if outage.start <= t < outage.end:
            return outage.probability
    return base


def certain_until(base: float, outages: tuple[Outage, ...]) -> float:
    """How long from the run's start every attempt fails: up to the first time whose failure
    probability (``failure_probability``, an outage's or ``base``) is below 1; 0 where the
    start's is, inf where none is. It changes only where an outage starts or ends."""
    for t in sorted({0.0, *(o.start for o in outages), *(o.end for o in outages)}):
        if failure_probability(base, outages, t) < 1:
            return t
    return math.inf
