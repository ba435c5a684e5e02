"""A pool's queue-length node autoscaler (``workers.node_autoscaler = "queue_length"``).

As KEDA's Redis list scaler with the HPA it drives: a poll every ``node_interval`` seconds from
the start reads the LLEN of the pool's lists and decides by ``sim.rules.node_autoscale``. An
added node is named on from the pool's last one, logs a capacity row that is down at once, and
consumes ``node_start`` seconds later (image pull and boot). A removed node is, as a ReplicaSet
picks it, one still starting, else one down, else the newest; it stops with the deploy's warm
shutdown and never restarts. Each poll's ``Decision`` is recorded (the trace's ``decisions``).
Polls end once every arrival is submitted and nothing is queued,
un-acked or running, so the run ends; each poll spends the pool's ``Ticks`` (an interval tiny
against the run stops it, naming the field).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sim.engine.deploy import remove
from sim.engine.ticks import Ticks
from sim.rules import node_autoscale, routing
from sim.scenario import Pool

if TYPE_CHECKING:
    from sim.engine.model import Model


class NodeAutoscaler:
    """One pool's node autoscaler: its nodes (up or starting) and the recent polls' wants."""

    def __init__(self, model: Model, pool: Pool, nodes: list[int]) -> None:
        self.model, self.pool, self.env = model, pool, model.env
        policy = model.policies[pool.name]
        self.lanes = sorted(set(routing.read_order(policy.queues, policy.lanes)))
        self.nodes = nodes  # trace indices of the pool's nodes, oldest first, removed ones gone
        self.workers = {i: model.workers[i] for i in nodes}  # those up or down, not starting
        self.starting: set[int] = set()
        self.made = len(nodes)  # nodes numbered so far
        self.window = node_autoscale.Stabilization(len(nodes), pool.workers.node_cooldown)
        field = model.scenario.pool_field(pool.name, "node_interval")
        interval = pool.workers.node_interval
        self.budget = Ticks(model.draws.n_tasks, field, interval, "the node autoscaler's poll")
        self.env.process(self._polls())

    def _polls(self):
        w = self.pool.workers
        while True:
            yield self.env.timeout(w.node_interval)
            if self._all_done():
                return
            self.budget.spend()
            queued = sum(len(self.model.broker.lanes[lane]) for lane in self.lanes)
            d = node_autoscale.decide(
                self.pool.name, self.env.now, queued, len(self.nodes), self.window, w
            )
            added = tuple(self._add() for _ in range(d.goal - d.nodes))
            removed = tuple(self._remove() for _ in range(d.nodes - d.goal))
            self.model.recorder.decisions.append(replace(d, added=added, removed=removed))

    def _all_done(self) -> bool:
        """Every arrival submitted and nothing left to run: no poll could change the run."""
        m = self.model
        if not m.producer.produced or m.broker.queued or m.broker.unacked_count:
            return False
        return all(
            not w.ready and not w.held and w.free_slots + w.starting == w.slots
            for w in m.workers
            if w.alive or w.stopping
        )

    def _add(self) -> str:
        self.made += 1
        name = self.model.scenario.node_name(self.pool, self.made)
        index = self.model.add_node(name)
        self.nodes.append(index)
        self.starting.add(index)
        start = self.env.timeout(self.pool.workers.node_start, index)
        start.callbacks.append(self._started)
        return name

    def _started(self, event) -> None:
        index = event.value
        if index in self.starting:  # not removed meanwhile
            self.starting.discard(index)
            self.workers[index] = self.model.start_node(index, self.pool)

    def _remove(self) -> str:
        """The node a ReplicaSet deletes first: a starting one, then a down one, the newest."""
        workers = self.workers
        down = [i for i, worker in workers.items() if worker.down]
        index = node_autoscale.removed_first(self.nodes, self.starting, down)
        self.nodes.remove(index)
        self.starting.discard(index)
        if index in workers:
            remove(workers.pop(index))
        return self.model.recorder.workers[index]
