"""kombu's restore scan as a rule: a node scans at its start and every interval × throttle."""

import pytest

from sim.rules.restore import next_scan, scan_period


def test_a_node_scans_every_interval_times_throttle():
    assert scan_period(10.0, 10) == 100.0  # kombu's defaults
    assert scan_period(2.0, 3) == 6.0
    assert scan_period(4.0, 1) == 4.0  # the live run's throttle: every timer call


@pytest.mark.parametrize(
    ("at", "scan"),
    [
        (0.0, 5.0),  # before it starts: its first scan, as it connects
        (5.0, 5.0),  # at its start
        (5.001, 11.0),
        (11.0, 11.0),  # a scan at the very time counts
        (11.5, 17.0),
        (59.0, 59.0),  # the ninth
        (59.000001, 65.0),
    ],
)
def test_the_next_scan_of_a_node_started_at_5_scanning_every_6(at, scan):
    assert next_scan(5.0, 6.0, at) == scan


def test_the_next_scan_is_never_before_the_time_asked_whatever_the_rounding():
    up_since, period = 0.1, 0.3
    for k in range(1, 2000):
        at = up_since + k * period  # a sum the quotient may round either way
        scan = next_scan(up_since, period, at)
        assert at <= scan < at + period * (1 + 1e-9)
