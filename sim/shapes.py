"""Which fields each service distribution and arrival process reads, and the cv each shape takes.

A distribution is given by what a user knows, its mean and its cv (std / mean);
``sim.engine.distributions`` turns those into the shape's own parameters. A field the chosen
distribution or process does not read is an error when the scenario gives it, not silently
dropped: ``[service] cv = 3`` without ``dist = "lognormal"`` would otherwise run exponential.
"""

from __future__ import annotations

import math
from typing import Any

from sim.fields import ScenarioError

# The [service] fields each distribution reads besides `dist`.
DIST_READS: dict[str, tuple[str, ...]] = {
    "exponential": ("mean",),
    "constant": ("mean",),
    "lognormal": ("mean", "cv"),
    "uniform": ("low", "high"),
    "empirical": ("file", "values"),
    "erlang": ("mean", "cv"),
    "hyperexponential": ("mean", "cv"),
    "pareto": ("mean", "cv"),
    "weibull": ("mean", "cv"),
}
# Inter-arrival gaps have mean 1 / arrivals.rate, so a renewal process takes the distributions
# a mean (and a cv) set; an empirical one is a trace resampled (arrivals.replay = "resample").
GAP_DISTS = tuple(d for d, reads in DIST_READS.items() if "mean" in reads)
# The [arrivals] fields each process reads besides `process`; renewal adds its dist's cv.
PROCESS_READS: dict[str, tuple[str, ...]] = {
    "poisson": ("rate",),
    "constant": ("rate",),
    "burst": ("rate", "burst_size"),
    "trace": ("file", "replay"),
    "renewal": ("rate", "dist"),
    "piecewise": ("rate", "rates", "period"),
    "cycle": ("rate", "amplitude", "period"),
}
REPLAYS = ("as_is", "resample")
# What the check below looks at. arrivals.rate is left out: with a trace it still sizes a
# run.duration's memory estimate, and the app's rate slider sets it on every scenario.
SERVICE_CHECKED = ("mean", "cv", "low", "high", "file", "values")
ARRIVALS_CHECKED = ("burst_size", "file", "replay", "dist", "cv", "rates", "amplitude", "period")
MIN_MEAN_RATE = 1e-9  # arrivals.rate's least, one task per 1e9 s (sim.sections.MAX_SECONDS)
RATE_TOLERANCE = 1e-9  # relative: the mean of rates written out by dumps reads back a hair off
ERLANG_TOLERANCE = 0.015  # relative: 0.707 and 0.71 are k = 2, 0.33 is k = 9, 0.6 is no k
MIN_SHAPE_CV = 1e-5  # erlang, pareto, weibull: below it their shape overflows; use constant


def reads(m: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Per section, the fields the scenario's distribution and process read (``m`` is flat)."""
    arrivals = process_reads(m["arrivals.process"], m["arrivals.dist"])
    return {"service": DIST_READS[m["service.dist"]], "arrivals": arrivals}


def process_reads(process: str, dist: str) -> tuple[str, ...]:
    """The [arrivals] fields ``process`` reads besides ``process``; renewal gaps of ``dist``
    read its cv too (their mean is 1/rate)."""
    arrivals = PROCESS_READS[process]
    if "dist" in arrivals:
        arrivals += tuple(n for n in DIST_READS[dist] if n != "mean")
    return arrivals


def taken_from_scenario(own: dict[str, Any], process: str, dist: str) -> set[str]:
    """The [arrivals] fields a task type with its own ``[tasks.arrivals]`` (``own``, as
    written) reads from the scenario's: those it does not set itself, of those its process
    reads, ``process`` and ``rate`` always (as ``ARRIVALS_CHECKED`` leaves them: a trace's
    rate sizes a run.duration's memory estimate). A piecewise type that sets its rates sets
    its rate too, their mean (``settle_rates``)."""
    own_set = set(own) | ({"rate"} if process == "piecewise" and "rates" in own else set())
    return {"process", "rate", *process_reads(process, dist)} - own_set


def ignored_fields(m: dict[str, Any]) -> list[str]:
    """The checked service and arrivals fields the scenario's choices do not read."""
    read = reads(m)
    return [
        f"{section}.{name}"
        for section, checked in (("service", SERVICE_CHECKED), ("arrivals", ARRIVALS_CHECKED))
        for name in checked
        if name not in read[section]
    ]


def without_unread(data: dict[str, Any]) -> dict[str, Any]:
    """Nested scenario data without the service and arrivals fields its choices do not read."""
    sections = ("service", "arrivals")
    ignored = set(ignored_fields({f"{s}.{k}": v for s in sections for k, v in data[s].items()}))
    return data | {
        s: {k: v for k, v in data[s].items() if f"{s}.{k}" not in ignored} for s in sections
    }


def settle_rates(m: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """Piecewise rates and ``arrivals.rate`` made one, so the rate is always the mean rate:
    the rates given alone set it; the rate given alone (``--set``, a sweep, the app's slider)
    scales the rates to it; both given must agree. ``m`` is flat, as in ``check``."""
    if m["arrivals.process"] != "piecewise":
        return m
    rates, rate = m["arrivals.rates"], m["arrivals.rate"]
    mean = sum(rates) / len(rates) if rates else 0.0
    if not mean >= MIN_MEAN_RATE:
        raise ScenarioError(
            f"arrivals.rates = {list(rates)!r}: process = 'piecewise' needs a rate per piece "
            f"(tasks/s, each >= 0) with a mean of at least {MIN_MEAN_RATE:g}, as arrivals.rate"
        )
    if "arrivals.rate" not in given:
        return m | {"arrivals.rate": mean}
    if "arrivals.rates" not in given:
        return m | {"arrivals.rates": tuple(r * rate / mean for r in rates)}
    if abs(rate - mean) > RATE_TOLERANCE * mean:
        # to as many digits as tell them apart: rate = 3.3333333 beside rates [0, 10, 0] read
        # "arrivals.rate = 3.33333 but arrivals.rates average 3.33333"
        digits = next(d for d in range(6, 18) if f"{rate:.{d}g}" != f"{mean:.{d}g}")
        raise ScenarioError(
            f"arrivals.rate = {rate:.{digits}g} but arrivals.rates average {mean:.{digits}g}: "
            "the rate is their mean; give the rates alone, or a rate alone to scale them to it"
        )
    return m


def check(m: dict[str, Any], given: set[str]) -> None:
    """A given field the choices ignore, or a cv the chosen shape cannot take, is an error."""
    for key in ignored_fields(m):
        if key in given:
            section = key.partition(".")[0]
            chooser = "service.dist" if section == "service" else "arrivals.process"
            if key == "arrivals.cv" and m[chooser] == "renewal":
                chooser = "arrivals.dist"
            read = ", ".join(f"{section}.{name}" for name in reads(m)[section]) or "nothing else"
            raise ScenarioError(
                f"{key} is given but {chooser} = {m[chooser]!r} does not read it (it reads "
                f"{read}): remove it, or choose a {chooser.partition('.')[2]} that reads it"
            )
    check_cv("service.cv", m["service.dist"], m["service.cv"])
    if m["arrivals.process"] == "renewal":
        check_cv("arrivals.cv", m["arrivals.dist"], m["arrivals.cv"])


def check_cv(key: str, dist: str, cv: float) -> None:
    """The cv ``dist`` can take: hyperexponential ≥ 1, erlang 1/√k, a floor for the shaped."""
    if dist in ("erlang", "pareto", "weibull") and cv < MIN_SHAPE_CV:
        raise ScenarioError(
            f"{key} = {cv!r} is too small for {dist}: must be >= {MIN_SHAPE_CV:g} "
            "(a tighter spread is dist = 'constant')"
        )
    if dist == "hyperexponential" and cv < 1:
        raise ScenarioError(
            f"{key} = {cv!r}: hyperexponential needs cv >= 1 (for less spread: erlang, "
            "weibull or lognormal)"
        )
    if dist == "erlang" and abs(cv * math.sqrt(k := erlang_phases(cv)) - 1) > ERLANG_TOLERANCE:
        raise ScenarioError(
            f"{key} = {cv!r}: erlang with k phases has cv = 1/√k: 1, 0.707, 0.577, 0.5, "
            f"0.447, … within {ERLANG_TOLERANCE:.1%}; the nearest is {1 / math.sqrt(k):.3g} "
            f"(k = {k})"
        )


def erlang_phases(cv: float) -> int:
    """Erlang's k for a cv: the whole number nearest 1/cv², at least one phase."""
    return max(1, round(cv**-2))
