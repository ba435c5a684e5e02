"""The queue-length node autoscaler's rules: ceil(LLEN / target) within the bounds, up by at most
a step, down only to the most wanted over the cooldown window."""

import pytest

from sim.rules.node_autoscale import (
    Stabilization,
    bounds_error,
    decide,
    removed_first,
    said,
    scaled,
    wanted,
)
from tests.sim.helpers import make


@pytest.mark.parametrize(
    ("queued", "nodes"), [(0, 1), (1, 1), (10, 1), (11, 2), (95, 10), (1000, 20)]
)
def test_wanted_is_the_queue_over_the_target_rounded_up_within_the_bounds(queued, nodes):
    assert wanted(queued, target=10, least=1, most=20) == nodes


def test_up_by_at_most_the_step_at_once_whatever_the_window():
    assert scaled(2, 20, [2, 20], step=4) == 6
    assert scaled(2, 5, [5], step=4) == 5


def test_down_only_to_the_most_wanted_in_the_window_all_the_surplus_at_once():
    assert scaled(6, 1, [6, 3, 1], step=4) == 6  # a poll of the window still wanted 6
    assert scaled(6, 1, [3, 2, 1], step=4) == 3
    assert scaled(6, 1, [1, 1], step=4) == 1


def test_bounds_errors_name_the_fields():
    assert bounds_error(3, 1, 20, "workers.") is None
    assert "pools[1].count = 30" in bounds_error(30, 1, 20, "pools[1].")
    assert "workers.min_nodes = 5 must be <= workers.max_nodes = 2" in bounds_error(
        2, 5, 2, "workers."
    )


def test_the_window_holds_the_polls_of_the_cooldown_its_start_a_poll():
    """Cooldown 60 s from 3 nodes: the start's 3 weighs until a poll 60 s on (included), a
    higher want stays as long, a lower one behind a higher one only once that one went."""
    window = Stabilization(3, 60.0)
    assert window.polled(30.0, 1) == [3, 1]
    assert window.polled(60.0, 2) == [3, 2]  # the start exactly 60 s ago is in
    assert window.polled(90.0, 1) == [2, 1]
    assert window.polled(120.0, 5) == [5]
    assert window.polled(181.0, 1) == [1]


def test_a_replicaset_removes_a_starting_node_then_a_down_one_then_the_newest():
    nodes = ["w1", "w2", "w3", "w4"]
    assert removed_first(nodes, starting={"w2"}, down={"w3"}) == "w2"
    assert removed_first(nodes, starting=(), down={"w1", "w3"}) == "w3"
    assert removed_first(nodes, starting=(), down=()) == "w4"


def test_a_decision_says_the_queue_the_bound_and_the_step_that_held_it():
    """10 per node, 1 to 6 nodes, 4 a poll, a 60 s cooldown, from 2 nodes."""
    w = make(**{"workers.node_target": 10, "workers.max_nodes": 6, "workers.count": 2}).workers
    window = Stabilization(2, 60.0)
    up = decide("workers", 30.0, 95, 2, window, w)
    assert (up.kind, up.want, up.goal, up.kept_by) == ("start", 6, 6, None)
    assert (
        said(up, w)
        == "95 queued wants 6 nodes (ceil(95 / node_target 10) = 10, capped at max_nodes 6)"
    )
    step = decide("workers", 30.0, 55, 1, Stabilization(1, 60.0), w)
    assert (step.kind, step.goal) == ("start", 5)
    assert said(step, w).endswith("ceil(55 / node_target 10)): node_step 4 starts at most 4 a poll")


def test_a_hold_says_which_poll_kept_the_nodes_and_through_when():
    w = make(
        **{"workers.node_target": 10, "workers.count": 2, "workers.node_cooldown": 60.0}
    ).workers
    window = Stabilization(2, w.node_cooldown)
    decide("workers", 30.0, 45, 2, window, w)  # wants 5: starts 3
    held = decide("workers", 60.0, 0, 5, window, w)
    assert (held.kind, held.want, held.held, held.goal, held.kept_by) == ("hold", 1, 5, 5, 30.0)
    assert said(held, w) == (
        "0 queued wants 1 node (ceil(0 / node_target 10) = 0, raised to min_nodes 1), but a poll "
        "of the last 60 s (node_cooldown) wanted 5, the latest at 30 s: all 5 kept through 90 s "
        "unless a poll wants them again"
    )
    decide("workers", 90.0, 25, 5, window, w)  # wants 3: the poll at 30 s still in the window
    part = decide("workers", 120.0, 0, 5, window, w)
    assert (part.kind, part.goal, part.kept_by) == ("stop", 3, 90.0)
    assert "wanted 3, the latest at 90 s: 3 kept through 150 s" in said(part, w)
    decide("workers", 150.0, 0, 3, window, w)
    gone = decide("workers", 180.0, 0, 3, window, w)
    assert (gone.kind, gone.goal, gone.kept_by) == ("stop", 1, None)
    assert said(gone, w).endswith("and no poll of the last 60 s (node_cooldown) wanted more")
    steady = decide("workers", 210.0, 3, 1, window, w)
    assert steady.kind == "steady" and said(steady, w).endswith("as many as there are")
