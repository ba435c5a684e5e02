"""What a run paid for: worker-seconds and node-seconds from its capacity rows.

A node costs from the moment it is up until it stops consuming, and its pool processes cost as
long as the node is up; starting processes count (they are alive), a node that drains in a warm
shutdown does not (it consumes nothing). The same function reads a simulated and a live trace.
"""

from __future__ import annotations

from collections.abc import Iterable

from sim.trace import Capacity


def capacity_cost(capacity: Iterable[Capacity], end: float) -> tuple[float, float]:
    """(worker_seconds, node_seconds) from time 0 to ``end``: ∫ Σ processes of up nodes dt and
    ∫ number of up nodes dt, each node's last row holding until ``end``."""
    worker_seconds = node_seconds = 0.0
    since: dict[str, tuple[float, bool, int]] = {}

    def pay(node: str, until: float) -> None:
        nonlocal worker_seconds, node_seconds
        start, up, processes = since[node]
        span = max(0.0, min(until, end) - start)
        if up:
            node_seconds += span
            worker_seconds += processes * span

    for t, node, up, processes in capacity:
        if node in since:
            pay(node, t)
        since[node] = (t, up, processes)
    for node in since:
        pay(node, end)
    return worker_seconds, node_seconds
