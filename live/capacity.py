"""Pool processes per worker node over a live run: the rows of ``Trace.capacity``.

A sampler thread looks every ``POLL`` wall seconds at each node the run started: up (its main
process runs) and its pool processes, counted as the main process's living children in /proc.
That is read-only and costs the workers nothing (``celery inspect stats`` would give the same
list of pids through a broadcast each node's event loop must answer). A process counts from its
fork: under ``--autoscale`` it takes work a start later (measured 0.3-0.6 s, DESIGN "Autoscale:
measured"). Only the nodes this process started are sampled; a node joined from another machine
(``queuelab worker``) has no row.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time

from live.clock import Clock
from live.workers import WorkerPool
from sim.trace import Trace

POLL = 0.5  # wall seconds between looks: a keepalive or a process start is longer

Sample = tuple[float, str, bool, int]  # (wall time, node, up, processes)
Row = tuple[float, str, bool, int]  # (scenario time, node, up, processes)


def living_children() -> dict[int, int]:
    """Per parent pid, how many living (not zombie) children it has now (Linux /proc; empty
    elsewhere)."""
    count: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return count
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if state != "Z":
            count[int(ppid)] = count.get(int(ppid), 0) + 1
    return count


def capacity_rows(samples: list[Sample], clock: Clock) -> tuple[Row, ...]:
    """The samples as ``Trace.capacity`` rows: per node, its state at scenario time 0 (the last
    sample at or before the origin, else its first), then a row at each change after it."""
    first: dict[str, Row] = {}
    later: list[Row] = []
    for wall, node, up, processes in sorted(samples, key=lambda s: s[0]):
        t = clock.scenario(wall)
        if t <= 0 or node not in first:
            first[node] = (0.0, node, up, processes)
        else:
            later.append((t, node, up, processes))
    rows = sorted(first.values(), key=lambda r: r[1]) + later
    changed, last = [], {}
    for row in rows:
        if last.get(row[1]) != row[2:]:
            changed.append(row)
            last[row[1]] = row[2:]
    return tuple(changed)


def with_capacity(trace: Trace, rows: tuple[Row, ...]) -> Trace:
    """``trace`` carrying ``rows`` as its ``capacity``, where ``Trace`` has that field."""
    if "capacity" in {f.name for f in dataclasses.fields(trace)}:
        return dataclasses.replace(trace, capacity=rows)
    return trace


class CapacitySampler(threading.Thread):
    """Samples ``pool``'s nodes every ``interval`` wall seconds from ``start()`` to ``stop()``,
    keeping a sample per node only when its (up, processes) changed."""

    def __init__(self, pool: WorkerPool, interval: float = POLL) -> None:
        super().__init__(daemon=True, name="queuelab-capacity")
        self.pool = pool
        self.interval = interval
        self.samples: list[Sample] = []
        self._last: dict[str, tuple[bool, int]] = {}
        self._done = threading.Event()

    def sample(self) -> None:
        """One look at every node."""
        now, children = time.time(), living_children()
        for node, pid in self.pool.main_pids().items():
            state = (pid is not None, children.get(pid, 0) if pid is not None else 0)
            if self._last.get(node) != state:
                self._last[node] = state
                self.samples.append((now, node, *state))

    def run(self) -> None:
        while True:
            self.sample()
            if self._done.wait(self.interval):
                return

    def stop(self) -> None:
        """Stop sampling, after one last look."""
        self._done.set()
        if self.is_alive():
            self.join()
        self.sample()

    def rows(self, clock: Clock) -> tuple[Row, ...]:
        """What was sampled, as ``Trace.capacity`` rows of the run that ``clock`` times."""
        return capacity_rows(self.samples, clock)
