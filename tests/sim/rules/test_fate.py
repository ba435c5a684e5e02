"""An execution's fate: the simulator's cached fast path decides as the pure functions do."""

import numpy as np
import pytest

from sim.engine.draws import Draws
from sim.rules import fate
from sim.rules.fate import Fates
from sim.rules.states import FAILURE, RETRY, SUCCESS
from tests.sim.helpers import make

OUTAGE = [{"start": 20.0, "end": 40.0, "probability": 0.9}]


@pytest.mark.parametrize("outage", [[], OUTAGE])
def test_the_fast_path_equals_work_and_ending(outage):
    sc = make(
        **{
            "run.tasks": 400,
            "failures.probability": 0.3,
            "failures.crash_probability": 0.2,
            "failures.outage": outage,
            "retry.max_retries": 2,
            "retry.backoff": 1.0,
        }
    )
    draws, fates = Draws(sc), Fates(Draws(sc))
    times = np.linspace(0.0, 60.0, 7)
    states = set()
    for attempt in range(4):
        for task in range(draws.n_tasks):
            for execution in range(3):
                expected = fate.work(draws, task, attempt, execution)
                assert fates.service(task, attempt) == expected.service
                assert fates.crash_point(task, attempt) == expected.crash_at
            for t in times:
                end = fate.ending(draws, task, attempt, t)
                assert fates.ending(task, attempt, t) == (end.state, end.countdown)
                states.add(end.state)
    assert states == {SUCCESS, RETRY, FAILURE}  # every branch was compared


def test_an_execution_number_draws_its_crash_afresh():
    """A redelivered message must not crash on every delivery (a poison message)."""
    draws = Draws(make(**{"run.tasks": 2000, "failures.crash_probability": 0.5}))
    first = [fate.work(draws, t, 0, 0).crash_at is None for t in range(2000)]
    again = [fate.work(draws, t, 0, 1).crash_at is None for t in range(2000)]
    assert first != again and 800 < sum(first) < 1200


def test_a_failed_attempt_retries_after_its_drawn_countdown_until_retries_run_out():
    sc = make(**{"run.tasks": 50, "failures.probability": 0.99, "retry.max_retries": 1})
    draws, retried = Draws(sc), 0
    for task in range(50):
        first = fate.ending(draws, task, 0, 0.0)
        if first.state == RETRY:
            assert first.countdown == draws.countdown(task, 0) == sc.retry.countdown
            retried += 1
        assert fate.ending(draws, task, 1, 0.0).state in (FAILURE, SUCCESS)
    assert retried > 40


def test_a_scenario_where_nothing_fails_keeps_no_failure_draws(monkeypatch):
    """Without a failure probability every execution that does not raise succeeds: no byte a
    task of failure draws is made (a soft time limit still raises, and retries)."""

    def drawn(self, attempt):
        raise AssertionError(f"failure draws of attempt {attempt} made")

    monkeypatch.setattr(Draws, "failures", drawn)
    fates = Fates(Draws(make(**{"run.tasks": 50})))
    assert {fates.ending(task, 0, 0.0) for task in range(50)} == {(SUCCESS, 0.0)}
    assert fates.ending(0, 0, 0.0, raised=True)[0] == RETRY
