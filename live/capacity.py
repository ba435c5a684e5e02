"""Pool processes per worker node over a live run: the rows of ``Trace.capacity``.

A sampler thread looks every ``POLL`` wall seconds at each node of a pool: up (its main
process runs) and its pool processes, counted as the main process's living children in /proc.
That is read-only and costs the workers nothing (``celery inspect stats`` would give the same
list of pids through a broadcast each node's event loop must answer). A process counts from its
fork, which /proc dates to the clock tick, not from the look that first sees it: under
``--autoscale`` it takes work a start later (measured 0.3-0.6 s, DESIGN "Autoscale: measured"),
often before the next look, and counted from that look a pool ran more tasks than it had
processes (utilisation past 100 %). A process that ended counts until the look that misses it.
A process samples the nodes it started: a run its own, `queuelab worker` those it adds to a run
going on, which it hands to the run (``hand_over``, ``live.joined_capacity``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Collection, Sequence

import redis

from live.clock import Clock
from live.workers import WorkerPool
from sim.trace import Trace

POLL = 0.5  # wall seconds between looks: a keepalive or a process start is longer

Sample = tuple[float, str, bool, int]  # (wall time, node, up, processes)
Row = tuple[float, str, bool, int]  # (scenario time, node, up, processes)


STARTTIME = 19  # /proc/PID/stat's 22nd field, the start in clock ticks since boot, after "comm)"


def living_children() -> dict[int, dict[int, float]]:
    """Per parent pid, its living (not zombie) children now, each pid with the wall time it
    started, its fork, to the clock tick (Linux /proc; empty elsewhere)."""
    children: dict[int, dict[int, float]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return children
    tick = 1 / os.sysconf("SC_CLK_TCK")
    boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)  # wall time at boot
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            state, ppid, start = fields[0], int(fields[1]), int(fields[STARTTIME])
        except (OSError, IndexError, ValueError):
            continue
        if state != "Z":
            children.setdefault(ppid, {})[int(entry)] = boot + start * tick
    return children


def capacity_rows(
    samples: list[Sample], clock: Clock, added: Collection[str] = ()
) -> tuple[Row, ...]:
    """The samples as ``Trace.capacity`` rows: per node, its state at scenario time 0 (the last
    sample at or before the origin, else its first), then a row at each change after it; a
    node ``added`` while the run went (a node autoscaler's) from its first sample, as the
    simulator logs one from the decision."""
    first: dict[str, Row] = {}
    later: list[Row] = []
    for wall, node, up, processes in sorted(samples, key=lambda s: s[0]):
        t = clock.scenario(wall)
        if t <= 0 or (node not in first and node not in added):
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
    keeping a sample per node only when its (up, processes) changed: a process that appeared
    dated at its fork (not before the previous look), one gone and a node going up or down at
    the look that sees it."""

    def __init__(
        self,
        pool: WorkerPool,
        interval: float = POLL,
        hand_over: Callable[[Sequence[Sample]], None] | None = None,
    ) -> None:
        super().__init__(daemon=True, name="queuelab-capacity")
        self.pool = pool
        self.interval = interval
        self.hand_over = hand_over  # given the new samples after each look of the thread's
        self.samples: list[Sample] = []
        self._handed = 0  # how many of ``samples`` ``hand_over`` took
        self._last: dict[str, tuple[bool, int]] = {}
        self._children: dict[str, set[int]] = {}  # per node, the pool pids its last look saw
        self._mains: dict[str, int | None] = {}  # per node, the main pid its last look saw
        self._looked = 0.0  # wall time of the previous look
        self._done = threading.Event()
        self._lock = threading.Lock()  # the run's node autoscalers look too

    def sample(self) -> None:
        """One look at every node; one not started yet is down (a node joining a run going on,
        looked at before its boot, counts from when it came up). A node whose main process is
        another than the last look's died and came back between the two: down, then up, when
        the new one started (a restart at a small time scale is far quicker than a look). A
        node a node autoscaler added is down with 0 processes until it consumes, its processes
        counted from then (``WorkerPool.since``); a removed one is down, with the processes
        that drain its tasks until it exits, as a deploy's warm shutdown. The autoscaler looks
        as it decides, so those rows are dated as the simulator's, not up to a ``POLL``
        later."""
        with self._lock:
            # the nodes first, the time last: dated before them, a node added or removed while
            # /proc was read (a busy host's 0.5 s) had its row before its decision
            consumes, mains = self.pool.up(), self.pool.main_pids()
            children = living_children()
            now = time.time()
            for node, pid in mains.items():
                pool = children.get(pid, {}) if pid is not None else {}
                if pid is not None and self._mains.get(node, pid) != pid:
                    born = next((kids[pid] for kids in children.values() if pid in kids), now)
                    self._add(max(born, self._looked), node, False, 0)
                    self._children[node] = set()
                self._mains[node] = pid
                _, count = self._last.get(node, (False, 0))
                floor = max(self._looked, self.pool.since.get(node, 0.0))
                for forked in sorted(
                    pool[p] for p in pool.keys() - self._children.get(node, set())
                ):
                    count += 1  # its parent ran then: the node was up
                    self._add(max(forked, floor), node, True, count)
                self._children[node] = set(pool)
                self._add(now, node, pid is not None and consumes.get(node, False), len(pool))
            self._looked = now

    def _add(self, wall: float, node: str, up: bool, processes: int) -> None:
        if self._last.get(node) != (up, processes):
            self._last[node] = (up, processes)
            self.samples.append((wall, node, up, processes))

    def run(self) -> None:
        while True:
            self.sample()
            self._hand_over()
            if self._done.wait(self.interval):
                return

    def stop(self) -> None:
        """Stop sampling, after one last look."""
        self._done.set()
        if self.is_alive():
            self.join()
        self.sample()
        self._hand_over()

    def _hand_over(self) -> None:
        """Give ``hand_over`` the samples it has not taken yet; those it raised on are given
        again after the next look (a Redis that came back)."""
        new = self.samples[self._handed :]
        if self.hand_over is None or not new:
            return
        with contextlib.suppress(redis.RedisError):  # the joining process reports a lost Redis
            self.hand_over(new)
            self._handed += len(new)

    def rows(self, clock: Clock, joined: Sequence[Sample] = ()) -> tuple[Row, ...]:
        """What was sampled, with the ``joined`` nodes' samples (``live.joined_capacity``), as
        ``Trace.capacity`` rows of the run that ``clock`` times."""
        with self._lock:
            return capacity_rows([*self.samples, *joined], clock, self.pool.added)
