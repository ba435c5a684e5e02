"""What a run paid for: worker-seconds and node-seconds from its capacity rows.

A node costs from the moment it is up until it stops consuming, and its pool processes cost as
long as the node is up; starting processes count (they are alive), a node that drains in a warm
shutdown does not (it consumes nothing). The same function reads a simulated and a live trace.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import numpy as np

from sim.trace import Capacity


def capacity_cost(
    capacity: Iterable[Capacity],
    end: float,
    start: float = 0.0,
    nodes: Collection[str] | None = None,
) -> tuple[float, float]:
    """(worker_seconds, node_seconds) from ``start`` to ``end``: ∫ Σ processes of up nodes dt
    and ∫ number of up nodes dt, each node's last row holding until ``end``; of ``nodes`` only,
    when given (a pool's)."""
    worker_seconds = node_seconds = 0.0
    since: dict[str, tuple[float, bool, int]] = {}

    def pay(node: str, until: float) -> None:
        nonlocal worker_seconds, node_seconds
        begin, up, processes = since[node]
        span = max(0.0, min(until, end) - max(begin, start))
        if up:
            node_seconds += span
            worker_seconds += processes * span

    for t, node, up, processes in capacity:
        if nodes is not None and node not in nodes:
            continue
        if node in since:
            pay(node, t)
        since[node] = (t, up, processes)
    for node in since:
        pay(node, end)
    return worker_seconds, node_seconds


def down_clocks(
    capacity: Iterable[Capacity], end: float, nodes: Collection[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per node of ``nodes`` that was ever not up, its down clock: the seconds it had not been
    up by each of its rows' times and ``end`` (``times``, ``seconds``), rising at one second a
    second from a row that says not up to the next. Piecewise linear, so the time any interval
    spent down is two ``np.interp`` reads: a warm shutdown's drain, whose running tasks still
    fill slots no capacity row counts."""
    rows: dict[str, list[tuple[float, bool]]] = {}
    for t, node, up, _ in capacity:
        if node in nodes:
            rows.setdefault(node, []).append((t, up))
    clocks = {}
    for node, seen in rows.items():
        if all(up for _, up in seen):
            continue
        times = np.array([t for t, _ in seen] + [max(end, seen[-1][0])])
        down = np.array([not up for _, up in seen], dtype=float)
        clocks[node] = (times, np.concatenate(([0.0], np.cumsum(np.diff(times) * down))))
    return clocks


def processes_over_time(
    capacity: Iterable[Capacity], end: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pool processes of up nodes over time, as a step function
    (``level[i]`` from ``t[i]`` until ``t[i + 1]``): one step per distinct row time, after all
    its rows; with ``end``, the last level held until then, so the line reaches the end of the
    run as the queue's does."""
    now: dict[str, int] = {}
    total = 0
    times: list[float] = []
    levels: list[int] = []
    for t, node, up, processes in capacity:
        count = processes if up else 0
        total += count - now.get(node, 0)
        now[node] = count
        if times and times[-1] == t:
            levels[-1] = total
        else:
            times.append(t)
            levels.append(total)
    if end is not None and times and end > times[-1]:
        times.append(end)
        levels.append(total)
    return np.array(times, dtype=float), np.array(levels, dtype=int)


def nodes_over_time(
    capacity: Iterable[Capacity], end: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Up nodes over time, the step function ``processes_over_time`` draws with each up node
    counted once, whatever its pool: the area under it is ``node_seconds``."""
    return processes_over_time(((t, node, up, 1) for t, node, up, _ in capacity), end)
