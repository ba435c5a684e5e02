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

from sim import costs
from sim.engine import budget, heap, timer
from sim.engine.autoscale import Autoscaler
from sim.engine.backend import Backend, Progress
from sim.engine.broker import Broker, runaway_advice
from sim.engine.deploy import rolling_deploys
from sim.engine.draws import Draws
from sim.engine.node_autoscale import NodeAutoscaler
from sim.engine.policy import WorkerPolicy
from sim.engine.producer import Producer
from sim.engine.ticks import Ticks
from sim.engine.worker import Worker
from sim.rules import routing
from sim.rules.fate import Fates
from sim.scenario import Pool, Scenario, ScenarioError, rate_limited
from sim.tally import Tally, TallyRecorder
from sim.trace import ParquetStream, Recorder, Trace

ROWS_PER_TASK = 4  # PENDING, RECEIVED, STARTED, SUCCESS: a trace's room, taken up front


def check_warmup(warmup: float, arrivals: np.ndarray, seed: int) -> None:
    """A warm-up must leave a task to measure: past the last arrival every latency would read 0,
    a perfect queue. A file is checked against its arrivals' expected span when read; the drawn
    ones (a burst's times, a trace file's, a random last arrival) may end sooner."""
    if warmup and len(arrivals) and arrivals[-1] < warmup:
        raise ScenarioError(
            f"run.warmup = {warmup:g} must be <= {arrivals[-1]:g} s, the last arrival at seed "
            f"{seed}: no task after it would be measured"
        )


class Model:
    """One simulated deployment of a scenario; ``run()`` returns its trace."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int | None = None,
        progress: Progress | None = None,
        summary_only: bool = False,
        stream: ParquetStream | None = None,
        arrivals: np.ndarray | None = None,
    ) -> None:
        budget.check_fits(scenario, trace=not summary_only)  # before the draws are made
        heap.map_large_blocks()  # the draws and a summary's scratch given back when freed
        self.scenario = scenario
        self.draws = Draws(scenario, seed)
        if arrivals is None:
            times = np.ascontiguousarray(self.draws.arrivals, np.float64)
        elif len(arrivals) == self.draws.n_tasks:
            times = np.array(arrivals, np.float64)  # a copy: a summary-only recorder writes in it
        else:
            raise ValueError(f"{len(arrivals)} arrival times for {self.draws.n_tasks} tasks")
        check_warmup(scenario.run.warmup, times, self.draws.seed)
        self.env = simpy.Environment()
        nodes = scenario.nodes
        names, types = tuple(name for name, _ in nodes), self.draws.trace_types()
        self.recorder: Recorder | TallyRecorder = (
            TallyRecorder(names, times, **types, stream=stream)
            if summary_only
            else Recorder(names, **types, rows=ROWS_PER_TASK * self.draws.n_tasks)
        )
        self.backend = Backend(self.env, self.recorder, self.draws.n_tasks, progress)
        self.workers: list[Worker] = []  # the broker's too: its nodes' scans restore
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
            lane_of_task=memoryview(
                np.array([lanes.index(lane) for lane in lane_of_type], np.int16)[self.draws.type_of]
            )
            if len(lanes) > 1
            else None,
            quiet=self._quiet,
            handover=scenario.overhead.dispatch + sum(costs.delivery(scenario)),
            scan_every=costs.restore_scan(scenario),
            nodes=self.workers,
        )
        self.fates = Fates(self.draws)
        self.policies = {
            p.name: WorkerPolicy.from_pool(scenario, p, lanes) for p in scenario.worker_pools
        }
        self._unlimited: list[bool] | None = None
        self._keepalive_ticks: dict[str, Ticks] = {}  # per pool: its autoscalers' timer ticks
        for i, (_, pool) in enumerate(nodes):
            self._make_node(i, pool)
        # the producer reads Python floats through a memoryview: no copy
        self.producer = Producer(self.env, memoryview(times), self.backend, self.broker)

    def _quiet(self) -> bool:
        """Every arrival sent and every node idle, blocked on its BRPOP: what the broker holds
        is all that is left (``Broker._held_ahead``)."""
        return self.producer.produced and all(
            w.retired or (w.waiting and w.free_slots + w.starting == w.slots) for w in self.workers
        )

    def _make_node(self, index: int, pool: Pool) -> Worker:
        """Worker node ``index`` of ``pool``, with an autoscaler under ``--autoscale``."""
        worker = Worker(
            index, self.policies[pool.name], self.env, self.broker, self.backend, self.fates
        )
        w = pool.workers
        if w.autoscale_max:
            if self._unlimited is None:  # per task: its type has no rate limit
                limited = np.array([rate_limited(t) for t in self.scenario.task_types])
                self._unlimited = (~limited[self.draws.type_of]).tolist()
            limits = (w.autoscale_max, w.autoscale_min, w.autoscale_keepalive)
            field = self.scenario.pool_field(pool.name, "autoscale_keepalive")
            if field not in self._keepalive_ticks:
                self._keepalive_ticks[field] = Ticks(
                    self.draws.n_tasks, field, w.autoscale_keepalive, "the autoscaler's timer"
                )
            worker.autoscaler = Autoscaler(
                worker, limits, self._unlimited, self._keepalive_ticks[field]
            )
        self.workers.append(worker)
        return worker

    def add_node(self, name: str) -> int:
        """A node a node autoscaler decided to add: named and logged down until it starts."""
        index = self.recorder.add_node(name)
        self.backend.node(index, False, 0)
        return index

    def start_node(self, index: int, pool: Pool) -> Worker:
        """An added node consumes from now on."""
        worker = self._make_node(index, pool)
        self.broker.fetch(worker)
        return worker

    def submit(self, task: int) -> None:
        """The producer sends task ``task`` now."""
        self.producer.submit(task)

    def members(self, pool: Pool) -> list[int]:
        """Trace indices of ``pool``'s nodes at the start: each pool deploys and scales its own."""
        return [i for i, (_, p) in enumerate(self.scenario.nodes) if p.name == pool.name]

    def start_workers(self) -> None:
        for worker in self.workers:
            self.broker.fetch(worker)

    def run(self) -> Trace:
        """Replay the scenario's arrivals and run until nothing is left to happen."""
        self.play()
        return self.recorder.trace()

    def play(self) -> None:
        """Run until nothing is left to happen (``run`` and ``tally`` read the recorder)."""
        self.producer.start()
        pools = self.scenario.worker_pools
        for pool in pools:
            every = pool.workers.deploy_every
            if every:
                nodes = [self.workers[i] for i in self.members(pool)]
                self.env.process(rolling_deploys(self.env, nodes, every, self.producer))
        self.start_workers()
        for pool in pools:
            if pool.workers.node_autoscaled:
                NodeAutoscaler(self, pool, self.members(pool))
        with cyclic_gc_paused():
            timer.run(self.env)
        self.fates.release()  # nothing draws again: free the draws, not wait for the collector
        self.backend.release()
        heap.give_back()


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
    scenario: Scenario,
    seed: int | None = None,
    progress: Progress | None = None,
    arrivals: np.ndarray | None = None,
) -> Trace:
    """Run ``scenario`` (with ``seed`` in place of its own, if given) and return the trace;
    ``arrivals``, one time per task in task order, replaces the drawn arrival times (a live
    run's send times, to simulate beside it)."""
    return _played(scenario, seed, progress, arrivals=arrivals).trace()


def tally(
    scenario: Scenario,
    seed: int | None = None,
    progress: Progress | None = None,
    stream: ParquetStream | None = None,
) -> Tally:
    """Run ``scenario`` keeping only what its summary reads (``sim.tally``), no trace; with a
    ``stream``, its trace is written to Parquet as the run makes it."""
    return _played(scenario, seed, progress, summary_only=True, stream=stream).tally()


def _played(*args, **kwargs) -> Recorder | TallyRecorder:
    """The recorder of a ``Model(*args, **kwargs)`` run to its end; the model, and with it the
    per-task draws, freed before the recorder's arrays are joined."""
    model = Model(*args, **kwargs)
    model.play()
    return model.recorder
