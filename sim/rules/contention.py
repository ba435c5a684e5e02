"""CPU contention: a machine with fewer cores than busy slots runs every task slower.

A worker node is one machine with ``workers.cores`` cores. While ``busy`` slots compute at once
the cores are shared, so each task gets ``cores / busy`` of a core: past the core count, more
concurrency adds waiting, not throughput. The slowdown is fixed when an execution starts, from
the slots busy then — a simplification of processor sharing that keeps one event per execution
and still shows the plateau.
"""

from __future__ import annotations


def slowdown(busy: int, cores: int) -> float:
    """How many times longer a task takes with ``busy`` slots (itself included) on ``cores``."""
    if cores == 0 or busy <= cores:
        return 1.0
    return busy / cores
