"""Celery's wall-clock costs: at a time scale they are wall ÷ scale in scenario seconds; the
hand-over holds a slot between tasks and the forks of a node's scale-up are serialised, in the
Celery model and not in the textbook queue."""

import numpy as np
import pytest

from sim import costs, scenario
from sim.engine.draws import Draws
from sim.engine.model import simulate
from sim.rules.states import STARTED
from tests.sim.engine.test_autoscale import BURST
from tests.sim.helpers import make

SATURATED = {
    "run.tasks": 6,
    "arrivals.process": "burst",
    "arrivals.burst_size": 6,
    "service.dist": "constant",
    "service.mean": 1.0,
    "workers.count": 1,
}


def test_wall_costs_become_scenario_seconds_at_a_time_scale():
    sc = make(**{"overhead.dispatch": 0.002, "overhead.record": 0.001})
    at = costs.at_time_scale(sc, 0.05)
    o = at.overhead
    assert (o.dispatch, o.record) == pytest.approx((0.04, 0.02))
    assert (o.handover, o.handover_late) == pytest.approx((0.2, 0.38))
    assert at.workers.process_start == pytest.approx(4.0)
    assert at.workers.kill_linger == pytest.approx(1.0)  # a killed node's BRPOP, 50 ms wall
    assert o.restore_interval == pytest.approx(200.0)  # kombu's restore timer, 10 s wall
    assert o.restore_throttle == 10  # a count of timer calls, not a time
    assert costs.at_time_scale(sc, 1.0) is sc  # a real deployment: the costs as measured


@pytest.mark.parametrize(
    ("fields", "period"),
    [({}, 100.0), ({"overhead.restore_throttle": 1}, 10.0), ({"overhead.model": "none"}, None)],
)
def test_nodes_scan_every_interval_times_throttle_and_the_textbook_queue_never(fields, period):
    assert costs.restore_scan(make(**fields)) == period


@pytest.mark.parametrize(
    ("visibility", "time_scale", "interval"),
    [(3600.0, 1.0, 10.0), (3600.0, 0.01, 9.0), (60.0, 0.05, 1.0), (1000.0, 0.001, 1.0)],
)
def test_beside_a_live_run_the_nodes_scan_as_the_live_app_sets_kombu(
    visibility, time_scale, interval
):
    """A live run's nodes scan every quarter of the wall visibility timeout, 1 to 10 s, at every
    timer call: the simulation beside it too, in scenario seconds at its time scale."""
    sc = make(**{"ack.visibility_timeout": visibility})
    beside = costs.beside_live_run(sc, time_scale)
    assert costs.live_restore_interval(visibility * time_scale) == interval
    assert beside.overhead.restore_throttle == costs.LIVE_RESTORE_THROTTLE == 1
    assert costs.restore_scan(beside) == pytest.approx(interval / time_scale)
    assert beside.overhead.handover == pytest.approx(sc.overhead.handover / time_scale)


def test_each_pools_process_start_is_scaled():
    sc = scenario.loads(
        '[[pools]]\nname = "a"\nprocess_start = 0.1\n[[pools]]\nname = "b"\ncount = 2\n'
    )
    at = costs.at_time_scale(sc, 0.1)
    assert [p.workers.process_start for p in at.pools] == pytest.approx([1.0, 2.0])
    assert [p.workers.kill_linger for p in at.pools] == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize(
    ("fields", "handover"),
    [
        ({}, 0.010),
        ({"ack.late": True}, 0.019),
        ({"overhead.model": "none"}, 0.0),
        ({"overhead.model": "none", "ack.late": True}, 0.0),
    ],
)
def test_the_hand_over_is_celerys_in_its_ack_mode_and_none_in_the_textbook_queue(fields, handover):
    assert costs.handover(make(**fields)) == handover


@pytest.mark.parametrize("late", [False, True])
def test_a_saturated_slot_starts_its_next_task_a_hand_over_after_the_last_ended(late):
    """One slot, six 1 s tasks at once: they start 1 + hand-over apart (0.5 s at this time
    scale's 0.05 wall ÷ 0.1), and exactly 1 s apart without the Celery costs."""
    fields = {**SATURATED, "ack.late": late, "overhead.handover": 0.05}
    fields["overhead.handover_late"] = 0.05
    for model, gap in (("celery", 1.5), ("none", 1.0)):
        sc = costs.at_time_scale(make(**fields, **{"overhead.model": model}), 0.1)
        starts = np.sort(simulate(sc).t[simulate(sc).state == STARTED])
        assert np.diff(starts) == pytest.approx([gap] * 5), model


def test_a_nodes_forks_are_serialised_and_take_work_together():
    """--autoscale 8,1 meets 40 messages at once: one process per received message, 7 forks of
    0.5 s one after another, so the new processes all take their first task at 3.5 s (as
    measured: together once the last fork is done), while the first process ends its 2 s task
    and takes the next a hand-over later; in the textbook queue each new one at 0.5 s. In the
    Celery model the first task starts when it is delivered, and the forks begin when the
    second is (its drawn delivery: the first that finds no idle process)."""
    sc = make(**BURST)
    celery = simulate(sc)
    starts = np.sort(celery.t[celery.state == STARTED])[:9]
    first, second = Draws(sc).deliveries(0)[:2]
    assert starts[:2] == pytest.approx([first, first + 2.01])
    assert starts[2:] == pytest.approx([second + 3.5] * 7)
    none = simulate(make(**BURST, **{"overhead.model": "none"}))
    assert np.sort(none.t[none.state == STARTED])[:8] == pytest.approx([0.0] + [0.5] * 7)
