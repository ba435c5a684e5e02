"""Where a message waits and in which order a worker reads: kombu's Redis routing as rules.

A task type is routed to a queue; on Redis a queue is one list per priority step (kombu's
``priority_steps`` 0, 3, 6, 9: a message of priority p goes to the largest step <= p), and a
worker's BRPOP names every list of its queues, all of step 0 first, then step 3, …, and within a
step its queues in the order of its queue cycle. BRPOP pops from the first non-empty list, so on
Redis priority 0 is the highest. Under ``round_robin`` the queue a message came from moves to the
end of the cycle; ``sorted`` and ``priority`` keep the cycle fixed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.scenario import Scenario

PRIORITY_STEPS = (0, 3, 6, 9)

Lane = tuple[str, int]  # (queue, priority step): one Redis list


def priority_step(priority: int) -> int:
    """The step whose list a message of ``priority`` goes to."""
    return max(step for step in PRIORITY_STEPS if step <= priority)


def lane_of(queue: str, priority: int) -> Lane:
    return queue, priority_step(priority)


def read_order(cycle: tuple[str, ...], lanes: tuple[Lane, ...]) -> tuple[int, ...]:
    """The lanes (by index into ``lanes``) a worker whose queue cycle is ``cycle`` reads, in
    BRPOP's order: by priority step, then by the cycle."""
    index = {lane: i for i, lane in enumerate(lanes)}
    steps = sorted({step for _, step in lanes})
    return tuple(index[q, s] for s in steps for q in cycle if (q, s) in index)


def initial_cycle(queues: tuple[str, ...], order: str) -> tuple[str, ...]:
    """A worker's queue cycle as it starts: its -Q order, or sorted by name under ``sorted``."""
    return tuple(sorted(queues)) if order == "sorted" else queues


def rotated(cycle: tuple[str, ...], queue: str) -> tuple[str, ...]:
    """``round_robin``: the queue a message came from goes to the end of the cycle."""
    return (*(q for q in cycle if q != queue), queue)


def idle_queues(scenario: Scenario) -> list[str]:
    """One line per ``[[pools]]`` pool that consumes a queue no task type is sent to, naming
    the pool, those queues and the queues tasks are sent to; none where every one is sent to.

    A warning, not an error: a Celery worker may consume a queue nothing is sent to (``-Q`` is
    not checked against ``task_routes``, and a deployment's other producers may send there), so
    such a file is legal; but in a scenario nothing else sends, so the queue stays empty for the
    whole run, and a pool that consumes only such queues idles its workers throughout (a typo
    in a queue name is the likely cause: ``slwo`` for ``slow``)."""
    lines, sent = [], ", ".join(map(repr, scenario.queues))
    for pool in scenario.pools:
        if unsent := [q for q in pool.queues if q not in scenario.queues]:
            one = len(unsent) == 1
            idle = (
                "its workers idle for the whole run"
                if len(unsent) == len(pool.queues)
                else f"its workers take nothing from {'it' if one else 'them'}"
            )
            lines.append(
                f"pool {pool.name} consumes {'queue' if one else 'queues'} "
                f"{', '.join(map(repr, unsent))}, to which no task type is sent: {idle} "
                f"(task types are sent to {sent})"
            )
    return lines
