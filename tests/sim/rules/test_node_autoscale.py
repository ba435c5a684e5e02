"""The queue-length node autoscaler's rules: ceil(LLEN / target) within the bounds, up by at most
a step, down only to the most wanted over the cooldown window."""

import pytest

from sim.rules.node_autoscale import Stabilization, bounds_error, removed_first, scaled, wanted


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
