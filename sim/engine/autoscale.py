"""A node's autoscaler (``celery worker --autoscale MAX,MIN``): grows and shrinks its pool.

As Celery's ``Autoscaler`` registered with the event loop (celery/worker/autoscale.py:57-61):
``maybe_scale`` runs on every task message the node receives and on a timer every ``keepalive``
seconds from the node's start; the decision is ``sim.rules.autoscale.scaled``. A new process
takes work ``workers.process_start`` after it is started (in the Celery cost model, forks one
after another, all taking work when the last is done, each counted in the capacity rows once
its own fork is done); a shrink stops idle processes. A node
restarted after a crash or a deploy starts again with ``min`` processes and a new autoscaler.
The timer is left out while it could change nothing (no reserved, held or surplus processes)
and joins its grid again at the next message, so a run still ends; while it runs, it spends the
pool's ``Ticks`` (a keepalive tiny against the run stops it, naming the field).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.engine.broker import Message
from sim.engine.ticks import Ticks
from sim.rules import autoscale

if TYPE_CHECKING:
    from sim.engine.worker import Worker


class Autoscaler:
    """One life of one node's autoscaler: its timer and its last scale-up and received task."""

    def __init__(
        self,
        worker: Worker,
        limits: tuple[int, int, float],
        unlimited: list[bool],
        budget: Ticks,
    ) -> None:
        self.worker, self.env = worker, worker.env
        self.limits = limits  # (max, min, keepalive)
        self.unlimited = unlimited  # per task: its type has no rate limit
        self.budget = budget  # the timer ticks the pool's nodes may still fire
        self.born = self.env.now  # the timer's grid starts with the node
        self.last_scale_up: float | None = None
        self.last_received: float | None = None
        self.ticking = False
        self.ticks = 0  # timer ticks so far: the next is at born + (ticks + 1) × keepalive
        self.ticked: float | None = None  # when the timer last ticked
        self.forks_end = 0.0  # serialised forks: when the node's last fork is done
        self.forking = 0  # scale-ups whose forks are not all done
        self.unforked = 0  # processes decided whose fork is not done: not counted yet

    def fresh(self) -> Autoscaler:
        """The autoscaler of the node's next life (after a restart)."""
        return Autoscaler(self.worker, self.limits, self.unlimited, self.budget)

    def received(self, message: Message) -> None:
        """A message reached the node. Only one that goes straight to the pool calls the
        ``on_task_message`` callbacks (strategy.py:210-221: an ETA or a rate limit returns
        first); every one may need the timer."""
        if message.eta <= self.env.now and self.unlimited[message.task]:
            self.last_received = self.env.now
            self.maybe_scale()
        self._keep_ticking()

    def maybe_scale(self, previous_tick: float | None = None) -> None:
        """``previous_tick``: on a timer tick, the time of the tick before it (``scaled``)."""
        w = self.worker
        busy = w.slots - w.free_slots - w.starting
        qty = len(w.ready) + busy  # reserved requests: prefetched and running
        now = self.env.now
        active = autoscale.last_active(self.last_scale_up, self.last_received)
        wanted = autoscale.scaled(qty, w.slots, busy, now, active, self.limits, previous_tick)
        if wanted > w.slots:
            self.last_scale_up = now
            self._grow(wanted - w.slots)
        elif wanted < w.slots:
            self._shrink(w.slots - wanted)

    def _grow(self, n: int) -> None:
        w, now = self.worker, self.env.now
        w.slots += n
        w.starting += n
        start = w.policy.process_start
        if w.policy.serial_forks:  # each fork waits for the node's earlier ones (measured)
            begin = max(self.forks_end, now)
            self.forks_end = begin + n * start
            self.forking += 1
            self.unforked += n
            for k in range(1, n + 1):
                self.env.timeout(begin + k * start - now).callbacks.append(self._forked)
            start = self.forks_end - now
        w.capacity_changed()
        self.env.timeout(start, n).callbacks.append(self._started)

    def _forked(self, _event) -> None:
        """One more fork is done: the process exists, and the capacity rows count it from
        here, as the live run counts a node's children in /proc."""
        w = self.worker
        if w.autoscaler is self and not w.down and self.unforked:
            self.unforked -= 1
            w.capacity_changed()

    def _started(self, event) -> None:
        """New processes take work (unless this life of the node is over); forks made one
        after another on the node's event loop all take work when the last one is done."""
        w = self.worker
        if w.policy.serial_forks:
            self.forking -= 1
            if self.forking:
                return
        if w.autoscaler is not self or w.down:
            return
        n = w.starting if w.policy.serial_forks else event.value
        n = min(n, w.starting)  # a shrink may have stopped some while they started
        w.starting -= n
        w.free_slots += n
        if w.alive:
            w.run_next()

    def _shrink(self, n: int) -> None:
        """Stop ``n`` idle processes, the started ones first (the caller never asks more). A
        real node cannot shrink while it forks (the forks hold its event loop), so the count
        drops the forks still to come first: it never falls below the processes kept."""
        w = self.worker
        idle = min(n, w.free_slots)
        w.free_slots -= idle
        w.starting -= n - idle
        self.unforked -= min(self.unforked, n)  # counted as the ones not forked yet
        w.slots -= n
        w.capacity_changed()

    def _settled(self) -> bool:
        """Nothing a timer tick could change until the next message arrives."""
        w = self.worker
        reserved = w.slots - w.free_slots - w.starting + len(w.ready) + len(w.held)
        return not reserved and w.slots <= self.limits[1]

    def _keep_ticking(self) -> None:
        if not self.ticking:
            self.ticking = True
            keepalive = self.limits[2]
            passed = math.floor((self.env.now - self.born) / keepalive)
            self.ticks = max(self.ticks, passed) + 1
            delay = max(0.0, self.born + self.ticks * keepalive - self.env.now)
            self.env.timeout(delay).callbacks.append(self._tick)

    def _tick(self, _event) -> None:
        w = self.worker
        self.ticking = False
        if w.autoscaler is not self or not w.alive:
            return  # the node stopped: its next life has its own timer
        self.budget.spend()
        previous, self.ticked = self.ticked, self.env.now
        self.maybe_scale(previous)
        if not self._settled():
            self._keep_ticking()
