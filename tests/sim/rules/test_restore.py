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


def test_a_scan_period_below_the_floats_resolution_never_goes_back_in_time():
    """Near 10¹¹ s a float's step is ~10⁻⁵ s: a scan every few microseconds is then at the
    time asked (a scan one period on, as first written, could round below it: a negative
    wait, found by a hostile scenario)."""
    for up_since, period, at in [(0.1, 3e-6, 54303294071.60175), (0.0, 1e-6, 95530273042.93504)]:
        assert next_scan(up_since, period, at) >= at
