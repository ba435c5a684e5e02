"""A queue-length node autoscaler (KEDA's Redis list scaler driving an HPA), as pure rules.

Every ``node_interval`` seconds it reads the LLEN of the pool's queues and wants
``ceil(LLEN / node_target)`` nodes, clipped to [min_nodes, max_nodes] (KEDA's ``listLength`` is
an ``AverageValue`` target: the HPA divides the metric by it). Up at once, by at most
``node_step`` nodes per poll, counting nodes still starting as present (the HPA counts pods, not
ready ones). Down by the HPA's scale-down stabilization over ``node_cooldown``: to the most
nodes wanted at any poll of the last ``node_cooldown`` seconds, the run's start counting as a
poll that wanted the starting count; so a node goes only when fewer were wanted at every poll
that long, and all the surplus goes at once (the HPA's default scale-down policy allows 100 %
of the pods per period).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Sequence
from typing import TypeVar

Node = TypeVar("Node")


def bounds_error(count: int, least: int, most: int, where: str) -> str | None:
    """Why a pool's starting ``count`` and node bounds do not fit together, if they do not."""
    if least > most:
        return f"{where}min_nodes = {least} must be <= {where}max_nodes = {most}"
    if not least <= count <= most:
        return (
            f"{where}count = {count} must lie within {where}min_nodes = {least} and "
            f"{where}max_nodes = {most}: it is the node autoscaler's starting node count"
        )
    return None


def wanted(queued: int, target: int, least: int, most: int) -> int:
    """Nodes wanted for ``queued`` messages: ``ceil(queued / target)`` within [least, most]."""
    return min(most, max(least, math.ceil(queued / target)))


def scaled(nodes: int, want: int, recent: Sequence[int], step: int) -> int:
    """The pool's node count after a poll that wants ``want`` nodes, with ``nodes`` present
    (up or starting) and ``recent`` the nodes wanted at every poll of the cooldown window
    (``want`` among them, and the start while it is within the window)."""
    if want > nodes:
        return min(want, nodes + step)
    return min(nodes, max(recent))


def removed_first(
    nodes: Sequence[Node], starting: Collection[Node], down: Collection[Node]
) -> Node:
    """The node a ReplicaSet deletes first of ``nodes`` (oldest first): one still starting (it
    never comes up), then one that is down, then the newest."""
    at = max(range(len(nodes)), key=lambda k: (nodes[k] in starting, nodes[k] in down, k))
    return nodes[at]


class Stabilization:
    """The HPA's scale-down stabilization window: the wants of the polls of the last
    ``cooldown`` seconds (a poll exactly that long ago included, to 1 µs), the start a poll that
    wanted ``start`` nodes. Only the polls that could still be the window's highest are kept,
    wants falling: a poll every 1 µs held 10⁸ of them."""

    def __init__(self, start: int, cooldown: float) -> None:
        self.cooldown = cooldown
        self.recent: deque[tuple[float, int]] = deque([(0.0, start)])

    def polled(self, now: float, want: int) -> list[int]:
        """The wants ``scaled`` weighs after a poll at ``now`` that wants ``want`` nodes."""
        since = now - self.cooldown - 1e-6
        while self.recent and self.recent[0][0] < since:
            self.recent.popleft()
        while self.recent and self.recent[-1][1] <= want:  # never the highest again
            self.recent.pop()
        self.recent.append((now, want))
        return [n for _, n in self.recent]
