"""The host's CPU busy share over a live run, read from /proc/stat."""

import time

import pytest

from live.host_cpu import LIGHT, BusyShare, carried_time_scale, demand, ticks

STAT = "cpu  100 5 20 800 50 0 25 0 0 0\ncpu0 50 2 10 400 25 0 12 0 0 0\n"


def test_idle_and_iowait_are_the_idle_ticks():
    assert ticks(STAT) == (150, 1000)


def test_a_spinning_process_makes_the_share_above_zero():
    """This process spins for 0.3 s of its own CPU: whatever else runs, some ticks were busy."""
    with BusyShare() as host:
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
    assert host.share is not None and 0 < host.share <= 1


def test_a_smaller_time_scale_asks_more_of_the_host():
    """mmc's 3.2 tasks a second at time scale 0.02 is 160 a wall second, 1.6 CPU seconds a
    second at 10 ms each: 80 % of 2 cores, 40 % of 4."""
    assert demand(3.2, 0.02, 2) == pytest.approx(0.8)
    assert demand(3.2, 0.02, 4) == pytest.approx(0.4)
    assert demand(3.2, 0.1, 2) == pytest.approx(0.16)


@pytest.mark.parametrize(
    ("rate", "cores", "scale"), [(3.2, 2, 0.1), (3.2, 16, 0.01), (10.0, 2, 0.5), (500.0, 2, 1.0)]
)
def test_the_carried_time_scale_is_the_smallest_that_leaves_the_host_light(rate, cores, scale):
    choices = (0.01, 0.02, 0.05, 0.1, 0.5, 1.0)
    assert carried_time_scale(rate, choices, cores) == scale
    smaller = [s for s in choices if s < scale]
    assert all(demand(rate, s, cores) > LIGHT for s in smaller)
