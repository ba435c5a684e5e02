"""A live run's clock: wall ↔ scenario time (no Redis needed)."""

import threading
import time

import pytest

from live.clock import Clock


def test_instants_convert_both_ways_from_the_origin():
    clock = Clock(1000.0, 0.02)
    assert clock.wall(50.0) == pytest.approx(1001.0)
    assert clock.scenario(1001.0) == pytest.approx(50.0)
    assert clock.scenario(clock.wall(7.25)) == pytest.approx(7.25)


def test_durations_need_no_origin_but_instants_do():
    clock = Clock(None, 0.05)
    assert clock.wall_seconds(60.0) == pytest.approx(3.0)
    with pytest.raises(RuntimeError, match="no t0"):
        clock.scenario(5.0)
    assert clock.started(10.0).scenario(13.0) == pytest.approx(60.0)


def test_now_counts_scenario_seconds_since_the_origin():
    clock = Clock(time.time() - 1.0, 0.1)
    assert 9.9 < clock.now() < 12.0


def test_sleep_until_waits_for_the_scaled_time_and_reports_a_stop():
    clock = Clock(time.time(), 0.01)
    began = time.monotonic()
    assert clock.sleep_until(5.0) is False  # 50 ms of wall time
    assert time.monotonic() - began >= 0.04
    assert clock.sleep_until(-1.0, threading.Event()) is False  # already past: no wait
    stop = threading.Event()
    stop.set()
    assert clock.sleep_until(clock.now() + 1000.0, stop) is True


def test_a_stop_ends_a_producer_that_is_behind():
    """A burst's arrivals are all past once its sending has begun: Ctrl-C must still end it,
    not wait until the whole burst is sent."""
    clock = Clock(time.time(), 0.01)
    stop = threading.Event()
    stop.set()
    assert clock.sleep_until(-1.0, stop) is True
