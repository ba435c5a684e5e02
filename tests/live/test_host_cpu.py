"""The host's CPU busy share over a live run, read from /proc/stat."""

import time

from live.host_cpu import BusyShare, ticks

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
