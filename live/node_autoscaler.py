"""A live run's queue-length node autoscaler: the simulator's (``sim.engine.node_autoscale``) on
real Celery nodes, deciding by the same rules (``sim.rules.node_autoscale``).

Every ``node_interval × time_scale`` wall seconds from the run's origin it reads the LLEN of the
pool's Redis lists (each queue it consumes, one list per priority step: ``run_keys.run_lists``)
and wants ``wanted`` nodes, weighs them over the ``Stabilization`` window and goes to
``scaled``'s count, nodes still starting counting as present. An added node, named as the
simulator names it (``Scenario.node_name``), is started at the decision as a real ``celery
worker`` held (``celery_app.hold``) until ``node_start × time_scale`` after it: it consumes then,
as the simulated one does, or, when its boot is longer than that, once it is ready, later than
the simulator can know (``WorkerPool.since`` past its ``consume_at``; ``start_note`` says it
before the run). A removed node is the one
a ReplicaSet deletes first (``removed_first``), given the deploy's warm shutdown (SIGTERM, its
group killed after ``shutdown_grace``) and never restarted. Each decision is looked at by the
capacity sampler as it is made, so the capacity rows are the simulator's: a node down with 0
processes at the decision, up with its processes when it consumes, down at its removal. Each
decision is recorded in the run's Redis (``live.node_decisions``), for the trace. Polls
end, as the simulator's, once every arrival is sent and nothing is queued, un-acked or running,
and with the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import redis

from live import node_decisions
from live.celery_app import LiveConfig
from live.clock import Clock
from live.run_keys import run_lists
from live.workers import BOOT, Node, WorkerPool
from sim.rules import node_autoscale
from sim.rules.node_autoscale import Decision
from sim.scenario import Pool, Scenario

LOOK = 0.02  # wall seconds between looks at a starting node's ready and at the next poll


@dataclass(frozen=True)
class Poll:
    """One poll's ``decision`` (due at its scenario time ``t``), read from Redis at scenario
    time ``at``."""

    decision: Decision
    at: float


def start_note(sc: Scenario, time_scale: float) -> str | None:
    """What to say before a live run whose node autoscaler's ``node_start`` is shorter in wall
    time than a real node's boot: its added nodes will consume later than simulated."""
    for pool in sc.worker_pools:
        w = pool.workers
        if w.node_autoscaled and w.node_start * time_scale < BOOT:
            field = sc.pool_field(pool.name, "node_start")
            return (
                f"{field} = {w.node_start:g} s is {w.node_start * time_scale:.2g} wall seconds "
                f"at time scale {time_scale:g}, shorter than a Celery node's boot here (about "
                f"{BOOT:g} s): its added nodes will consume later than simulated; a time scale "
                f"of at least {BOOT / w.node_start:.2g} keeps them on time"
                if w.node_start
                else f"{field} = 0: its added nodes consume once booted, about {BOOT:g} wall "
                "seconds after the decision, later than simulated"
            )
    return None


class NodeAutoscaler(threading.Thread):
    """One pool's node autoscaler over the run's ``workers``, from ``clock``'s origin until
    ``finished`` is set or ``done()`` says no poll could change the run; ``look()`` samples the
    capacity as it decides, ``named`` (the collector's node names) gets the added ones, and
    ``polled(poll)`` hears each decision. A lost Redis ends it, kept in ``error``."""

    def __init__(
        self,
        pool: Pool,
        sc: Scenario,
        workers: WorkerPool,
        client: redis.Redis,
        clock: Clock,
        finished: threading.Event,
        done: Callable[[], bool],
        look: Callable[[], None],
        named: list[str],
        polled: Callable[[Poll], None] | None = None,
    ) -> None:
        super().__init__(daemon=True, name=f"queuelab-nodes-{pool.name}")
        self.pool, self.sc, self.workers, self.client, self.clock = pool, sc, workers, client, clock
        self.finished, self.done, self.look, self.named = finished, done, look, named
        self.polled = polled
        config: LiveConfig = workers.config
        self.lists = run_lists(config, pool.queues)
        self.ready_key = config.key("ready")
        self.run_id = config.run_id
        self.nodes = [name for name, p in sc.nodes if p.name == pool.name]  # oldest first
        self.made = len(self.nodes)  # nodes numbered so far
        self.starting: set[str] = set()  # added nodes not consuming yet (held or booting)
        self.window = node_autoscale.Stabilization(len(self.nodes), pool.workers.node_cooldown)
        self.error: redis.RedisError | None = None

    def run(self) -> None:
        interval = self.pool.workers.node_interval
        polls = 1
        try:
            while not self.finished.wait(LOOK):
                self._check_starting()
                if time.time() < self.clock.wall(polls * interval):
                    continue
                if self.done():
                    return
                self._poll(polls * interval)
                polls += 1
        except redis.RedisError as err:
            self.error = err

    def _poll(self, due: float) -> None:
        """The poll due at scenario time ``due`` (its window is the simulator's, of polls
        ``node_interval`` apart; ``Poll.at`` is when it read Redis), recorded once its nodes
        are started and stopped."""
        at = self.clock.now()
        queued = sum(self.client.llen(name) for name in self.lists)
        d = node_autoscale.decide(
            self.pool.name, due, queued, len(self.nodes), self.window, self.pool.workers
        )
        added = tuple(self._add() for _ in range(d.goal - d.nodes))
        removed = tuple(self._remove() for _ in range(d.nodes - d.goal))
        d = replace(d, added=added, removed=removed)
        node_decisions.record(self.client, self.workers.config, d)
        self.look()
        if self.polled is not None:
            self.polled(Poll(d, at))

    def _add(self) -> str:
        self.made += 1
        name = self.sc.node_name(self.pool, self.made)
        consume_at = time.time() + self.clock.wall_seconds(self.pool.workers.node_start)
        self.nodes.append(name)
        self.starting.add(name)
        self.named.append(name)
        self.workers.add(Node(name, self.pool.name, self.pool.workers.concurrency), consume_at)
        return name

    def _remove(self) -> str:
        up = self.workers.up()
        down = [n for n in self.nodes if n not in self.starting and not up.get(n, False)]
        name = node_autoscale.removed_first(self.nodes, self.starting, down)
        self.nodes.remove(name)
        self.starting.discard(name)
        grace = self.clock.wall_seconds(self.pool.workers.shutdown_grace)
        self.workers.remove(name, grace)
        return name

    def _check_starting(self) -> None:
        """Added nodes that have begun to consume (their ready, written once held no more)."""
        if not self.starting:
            return
        names = list(self.starting)
        ready = self.client.hmget(self.ready_key, [f"{n}@{self.run_id}" for n in names])
        consuming = [(n, float(at)) for n, at in zip(names, ready, strict=True) if at is not None]
        for name, since in consuming:
            self.starting.discard(name)
            self.workers.consuming(name, since)
        if consuming:
            self.look()
