"""How long a live execution held its slot against a simulated one."""

import pytest

from sim import scenario
from sim.analysis.slot_stretch import held_slot, slot_stretch
from sim.engine.model import simulate
from sim.rules.states import PENDING, RECEIVED, STARTED, SUCCESS
from sim.trace import Recorder


def back_to_back(tasks: int, runtime: float, gap: float):
    """One slot, every task queued at 0, each run ``runtime`` with ``gap`` idle before the next."""
    r = Recorder(("w1",))
    for task in range(tasks):
        r.add(task, 0, PENDING, 0.0)
    for task in range(tasks):
        start = task * (runtime + gap)
        r.add(task, 0, RECEIVED, start, 0)
        r.add(task, 0, STARTED, start, 0)
        r.add(task, 0, SUCCESS, start + runtime, 0)
    return r.trace()


def test_a_slot_is_held_for_the_runtime_and_the_gap_after_it_while_tasks_queue():
    assert held_slot(back_to_back(30, 1.0, 0.5), slots=1) == pytest.approx(1.5)
    assert held_slot(back_to_back(30, 1.0, 0.0), slots=1) == pytest.approx(1.0)
    assert held_slot(back_to_back(10, 1.0, 0.5), slots=1) is None  # too few to say


def test_slot_stretch_finds_a_slower_live_service():
    """mmc with 2,000 tasks and the same draws: a service k times as long is found k times as
    long within 5 % (the backlogs differ, so the estimate is not exact)."""

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=2000"])
    simulated = simulate(sc)
    assert slot_stretch(simulated, simulated, sc.workers.slots) == 1.0
    for k in (1.2, 1.5, 2.0):
        slower = simulate(sc.replace(**{"service.mean": k * sc.service.mean}))
        assert slot_stretch(slower, simulated, sc.workers.slots) == pytest.approx(k, rel=0.05)


def test_slot_stretch_falls_back_on_mean_runtime_without_a_backlog():
    quiet, slow = back_to_back(5, 1.0, 1.0), back_to_back(5, 3.0, 1.0)
    assert slot_stretch(slow, quiet, slots=1) == pytest.approx(3.0)
    queued_only = Recorder(("w1",))
    queued_only.add(0, 0, PENDING, 0.0)
    assert slot_stretch(queued_only.trace(), quiet, slots=1) is None


def test_a_run_stopped_early_is_held_against_the_same_tasks_simulated():
    """A live run stopped after its first tasks were sent, on the same draws as the whole
    simulated run: its slots held no longer than simulated. Against the whole run, mmc's first
    20 of 100 tasks read 1.34×, past ``STRETCHED``, and the Live page said the stopped run's
    queue was another, busier one."""
    import dataclasses

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=100"])
    simulated = simulate(sc)
    for sent in (20, 34, 50):
        keep = simulated.task < sent
        columns = {
            c: getattr(simulated, c)[keep] for c in ("task", "attempt", "state", "t", "worker")
        }
        stopped = dataclasses.replace(simulated, **columns)
        assert slot_stretch(stopped, simulated, sc.workers.slots) == pytest.approx(1.0)
