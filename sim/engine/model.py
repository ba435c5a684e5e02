"""The SimPy model of a Celery-on-Redis deployment: producer, broker, workers, result backend.

Each part is its own module in ``sim/engine/``, named as a Celery user knows it (``producer``,
``broker``, ``worker``, ``backend``); the rules they follow (prefetch, ack, retry, an execution's
fate) are calls into the pure modules of ``sim/rules/``, shared with the live mode and the tests.
This module only assembles one run. Every part is driven by callbacks on SimPy events rather
than a process per task, so a task costs a handful of events. All randomness comes from
``sim.engine.draws``, keyed by (seed, task, attempt).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

import numpy as np
import simpy

from sim.engine import budget
from sim.engine.autoscale import Autoscaler
from sim.engine.backend import Backend, Progress
from sim.engine.broker import Broker, runaway_advice
from sim.engine.deploy import rolling_deploys
from sim.engine.draws import Draws
from sim.engine.policy import WorkerPolicy
from sim.engine.producer import Producer
from sim.engine.worker import Worker
from sim.rules import routing
from sim.rules.fate import Fates
from sim.scenario import Scenario
from sim.trace import Recorder, Trace


class Model:
    """One simulated deployment of a scenario; ``run()`` returns its trace."""

    def __init__(
        self, scenario: Scenario, seed: int | None = None, progress: Progress | None = None
    ) -> None:
        budget.check_fits(scenario)  # before the draws, which already hold a value per task
        self.scenario = scenario
        self.draws = Draws(scenario, seed)
        self.env = simpy.Environment()
        nodes = scenario.nodes
        self.recorder = Recorder(tuple(name for name, _ in nodes), **self.draws.trace_types())
        self.backend = Backend(self.env, self.recorder, self.draws.n_tasks, progress)
        types = scenario.task_types
        lane_of_type = [routing.lane_of(t.queue, t.priority) for t in types]
        lanes = tuple(dict.fromkeys(lane_of_type))
        self.broker = Broker(
            self.env,
            scenario.ack.visibility_timeout,
            scenario.overhead.dispatch,
            max_redeliveries=100 * self.draws.n_tasks + 10_000,
            runaway_advice=runaway_advice(scenario),
            lanes=len(lanes),
            lane_of_task=np.array([lanes.index(lane) for lane in lane_of_type])[
                self.draws.type_of
            ].tolist()
            if len(lanes) > 1
            else None,
        )
        fates = Fates(self.draws)
        policies = {
            p.name: WorkerPolicy.from_pool(scenario, p, lanes) for p in scenario.worker_pools
        }
        self.workers = [
            Worker(i, policies[pool.name], self.env, self.broker, self.backend, fates)
            for i, (_, pool) in enumerate(nodes)
        ]
        self._attach_autoscalers()
        self.producer = Producer(self.env, self.draws.arrivals.tolist(), self.backend, self.broker)

    def _attach_autoscalers(self) -> None:
        """An autoscaler on every node of a pool with ``--autoscale``."""
        if not any(p.workers.autoscale_max for p in self.scenario.worker_pools):
            return
        limited = np.array([bool(t.rate_limit) for t in self.scenario.task_types])
        unlimited = (~limited[self.draws.type_of]).tolist()  # per task
        for worker, (_, pool) in zip(self.workers, self.scenario.nodes, strict=True):
            w = pool.workers
            if w.autoscale_max:
                limits = (w.autoscale_max, w.autoscale_min, w.autoscale_keepalive)
                worker.autoscaler = Autoscaler(worker, limits, unlimited)

    def submit(self, task: int) -> None:
        """The producer sends task ``task`` now."""
        self.producer.submit(task)

    def start_workers(self) -> None:
        for worker in self.workers:
            self.broker.fetch(worker)

    def run(self) -> Trace:
        """Replay the scenario's arrivals and run until nothing is left to happen."""
        self.producer.start()
        every = self.scenario.workers.deploy_every
        if every:
            self.env.process(rolling_deploys(self.env, self.workers, every, self.producer))
        self.start_workers()
        with cyclic_gc_paused():
            self.env.run()
        return self.recorder.trace()


@contextmanager
def cyclic_gc_paused():
    """Pause Python's cycle collector while a run allocates its millions of short-lived objects.

    A run frees its events, messages and rows by reference counting (a message and its delivery
    point at each other only until the ack), so the collector finds nothing; left on, it walks
    the young objects every few hundred allocations and costs a fifth of the run.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def simulate(
    scenario: Scenario, seed: int | None = None, progress: Progress | None = None
) -> Trace:
    """Run ``scenario`` (with ``seed`` in place of its own, if given) and return the trace."""
    return Model(scenario, seed, progress).run()
