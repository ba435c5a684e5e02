"""kombu's restore scan: when a message past its visibility timeout goes back on its queue.

Redis only keeps un-acked messages; a worker node puts them back. Each node's event loop calls
``maybe_restore_messages`` every ``unacked_restore_interval`` seconds, and ``restore_visible``
scans Redis on every ``unacked_restore_throttle``-th call; the first call, at the node's
(re)start (``on_poll_init``, as it connects), scans. So a node up since ``u`` scans at
``u + k × interval × throttle`` for k = 0, 1, 2 … while it is up, and a message whose deadline
(delivery + visibility timeout) has passed goes back at the first scan of any up node at or
after its deadline. A scan takes every message due then, the latest delivered first, each
pushed to the head of its queue (``ZRANGE unacked_index BYSCORE REV``, ``restore_by_tag``), so
the earliest delivered is read first.
"""

from __future__ import annotations

import math


def scan_period(interval: float, throttle: int) -> float:
    """Seconds between a node's scans: every ``throttle``-th call of a timer of ``interval``."""
    return interval * throttle


def next_scan(up_since: float, period: float, at: float) -> float:
    """The first scan at or after ``at`` of a node up since ``up_since`` that scans every
    ``period`` seconds from its start (``up_since`` itself when ``at`` is no later; ``at``
    itself where a float that large cannot tell its scans apart)."""
    if at <= up_since:
        return up_since
    scan = up_since + math.ceil((at - up_since) / period) * period
    return scan if scan >= at else max(scan + period, at)  # a quotient rounded down
