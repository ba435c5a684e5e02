"""Outage windows: attempts ending inside one fail at its rate, others at the base rate."""

import math

import numpy as np

from sim.engine.model import simulate
from sim.rules.outage import Outage, certain_until, failure_probability
from sim.rules.states import FAILURE, SUCCESS
from tests.sim.helpers import make


def test_the_covering_outage_sets_the_probability():
    outages = (Outage(10, 20, 1.0), Outage(30, 40, 0.5))
    assert failure_probability(0.1, outages, 9.99) == 0.1
    assert failure_probability(0.1, outages, 10) == 1.0
    assert failure_probability(0.1, outages, 20) == 0.1  # the end is open
    assert failure_probability(0.1, outages, 35) == 0.5


def test_every_attempt_fails_from_the_start_until_the_first_time_one_may_succeed():
    """Outages of probability 1 that follow on from 0 hold it; the first that covers a time
    sets it, so an earlier-listed one of a lower probability cuts a later one short."""
    assert certain_until(0.1, ()) == 0.0
    assert certain_until(1.0, ()) == math.inf
    assert certain_until(0.1, (Outage(0, 50, 1.0), Outage(50, 80, 1.0))) == 80
    assert certain_until(0.1, (Outage(0, 50, 1.0), Outage(60, 80, 1.0))) == 50
    assert certain_until(0.1, (Outage(5, 50, 1.0),)) == 0.0  # the start's is the base's
    assert certain_until(0.1, (Outage(20, 30, 0.5), Outage(0, 100, 1.0))) == 20
    assert certain_until(1.0, (Outage(40, 50, 0.9),)) == 40


def test_attempts_ending_in_the_outage_fail_and_the_rest_succeed():
    sc = make(
        **{
            "run.tasks": 2000,
            "arrivals.rate": 5.0,
            "retry.max_retries": 0,
            "failures.outage": [{"start": 100.0, "end": 200.0, "probability": 1.0}],
        }
    )
    trace = simulate(sc)
    failed = trace.t[trace.state == FAILURE]
    succeeded = trace.t[trace.state == SUCCESS]
    assert len(failed) > 300  # ~500 tasks end in a 100 s window at 5 per second
    assert np.all((failed >= 100) & (failed < 200))
    assert not np.any((succeeded >= 100) & (succeeded < 200))


def test_retries_with_backoff_beyond_the_outage_succeed():
    """Retries spaced past the outage get through; capped ones landing inside it do not."""
    base = {
        "run.tasks": 300,
        "arrivals.rate": 1.0,
        "retry.max_retries": 3,
        "retry.backoff": 100.0,
        "failures.outage": [{"start": 0.0, "end": 400.0, "probability": 1.0}],
    }
    capped = simulate(make(**base, **{"retry.backoff_max": 50.0}))
    spaced = simulate(make(**base, **{"retry.backoff_max": 1000.0}))
    failures = [int(np.sum(t.state == FAILURE)) for t in (capped, spaced)]
    assert failures[1] < failures[0] / 2, failures
