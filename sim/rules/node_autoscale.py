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

A poll's outcome is a ``Decision``, made by ``decide`` in the simulator and in a live run alike
and put in words by ``said``: what a user tunes ``node_cooldown`` by reads the same in both.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from sim.words import counted

if TYPE_CHECKING:
    from sim.sections import Workers

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

    def newest(self, nodes: int) -> float:
        """When the newest poll of the window that wanted at least ``nodes`` nodes was (0: the
        start): the nodes it kept may go ``cooldown`` after it."""
        return max(t for t, n in self.recent if n >= nodes)


@dataclass(frozen=True)
class Decision:
    """One poll of pool ``pool``'s node autoscaler at scenario time ``t``: ``queued`` messages
    on its lists want ``want`` nodes, the polls of the cooldown window (this one among them)
    wanted at most ``held``, and the pool goes from ``nodes`` (up or starting) to ``goal``,
    starting the nodes ``added`` and stopping ``removed``. Where the cooldown kept nodes that
    this poll wants no more, ``kept_by`` is when the newest poll that wanted them was."""

    pool: str
    t: float
    queued: int
    want: int
    held: int
    nodes: int
    goal: int
    kept_by: float | None = None
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """What the poll did: "start" or "stop" nodes, "hold" them (fewer wanted, all kept by
        the cooldown) or nothing, "steady" (as many wanted as there are)."""
        if self.goal != self.nodes:
            return "start" if self.goal > self.nodes else "stop"
        return "hold" if self.want < self.nodes else "steady"


def decide(
    pool: str, t: float, queued: int, nodes: int, window: Stabilization, w: Workers
) -> Decision:
    """The poll at ``t`` of a pool of ``nodes`` whose lists hold ``queued`` messages, by the
    pool's settings ``w``; ``window`` takes the poll's want."""
    want = wanted(queued, w.node_target, w.min_nodes, w.max_nodes)
    recent = window.polled(t, want)
    goal = scaled(nodes, want, recent, w.node_step)
    kept_by = window.newest(goal) if want < goal else None
    return Decision(pool, t, queued, want, max(recent), nodes, goal, kept_by)


def said(d: Decision, w: Workers) -> str:
    """Why the poll ``d`` of a pool set by ``w`` did what it did, in words: the queue and the
    nodes it wants, and the bound, step or cooldown that held the decision back, if one did."""
    ceil = math.ceil(d.queued / w.node_target)
    bound = ""
    if ceil > d.want:
        bound = f" = {ceil}, capped at max_nodes {w.max_nodes}"
    elif ceil < d.want:
        bound = f" = {ceil}, raised to min_nodes {w.min_nodes}"
    why = (
        f"{d.queued} queued wants {counted(d.want, 'node')} "
        f"(ceil({d.queued} / node_target {w.node_target}){bound})"
    )
    if d.kind == "start" and d.goal < d.want:
        return f"{why}: node_step {w.node_step} starts at most {w.node_step} a poll"
    if d.kind == "start":
        return why
    if d.kind == "steady":
        return f"{why}, as many as there are"
    if d.kept_by is None:
        return f"{why}, and no poll of the last {w.node_cooldown:g} s (node_cooldown) wanted more"
    kept = f"all {d.goal}" if d.kind == "hold" else str(d.goal)
    return (
        f"{why}, but a poll of the last {w.node_cooldown:g} s (node_cooldown) wanted {d.held}, "
        f"the latest at {d.kept_by:g} s: {kept} kept through {d.kept_by + w.node_cooldown:g} s "
        "unless a poll wants them again"
    )
