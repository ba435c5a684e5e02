"""The queue-length node autoscaler's rules: ceil(LLEN / target) within the bounds, up by at most
a step, down only to the most wanted over the cooldown window."""

import pytest

from sim.rules.node_autoscale import bounds_error, scaled, wanted


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
