"""What a worker node is configured to do, read once per run from its pool and the scenario.

A ``WorkerPolicy`` is plain data: the node (``sim.engine.worker``) reads it on every task, so
every scenario lookup and every rule that depends only on the configuration (the prefetch limit,
the pool it starts with under ``--autoscale``) is done here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim import costs
from sim.rules import ack, autoscale, routing
from sim.scenario import Pool, Scenario, rate_limit_per_second


@dataclass(frozen=True)
class WorkerPolicy:
    """What a worker node is configured to do: its pool's [workers] fields, the scenario's ack,
    retry and failures tables, and its task types' limits."""

    concurrency: int  # pool processes it starts with (autoscale: the min)
    limit: int | None  # most un-acked messages it reserves; None: no limit
    acks_late: bool
    ack_at_start: bool  # acked as the task starts, so a crash mid-run loses it
    reject_on_worker_lost: bool
    retry_on_worker_lost: bool
    cores: int  # 0: no CPU contention
    crashes: bool  # executions may die part-way
    child_crashes: bool  # a crash kills the pool child only, not the node
    start_write: float  # the STARTED state's write to the backend, when tracked
    record_overhead: float  # the write that ends an execution
    kill_linger: float  # a killed node's waiting BRPOP is served this long
    restart_delay: float
    shutdown_grace: float
    process_start: float  # a replacement pool child takes work this late
    serial_forks: bool  # the autoscaler's new processes start one after another
    handover: float  # a slot takes its next task this long after its last one ended
    delivers: bool  # Celery's delivery (drawn per attempt) comes before a message can run
    lanes: tuple[routing.Lane, ...]  # every list in Redis, indexed as the broker's
    queues: tuple[str, ...]  # the queues it consumes, in its starting cycle order
    rotates: bool  # round_robin: the queue a message came from goes to the end of the cycle
    time_limits: tuple[tuple[float, float], ...]  # per task type (soft, hard); () if none
    token_gaps: tuple[float, ...]  # per task type 1 / rate_limit, 0 if none; () if none

    @classmethod
    def from_pool(cls, s: Scenario, pool: Pool, lanes: tuple[routing.Lane, ...]) -> WorkerPolicy:
        w, types = pool.workers, s.task_types
        prefetch_from = autoscale.prefetch_concurrency(w.concurrency, w.autoscale_max)
        limits = tuple((t.soft_time_limit, t.time_limit) for t in types)
        gaps = tuple(
            1 / rate if (rate := rate_limit_per_second(t.rate_limit)) else 0.0 for t in types
        )
        return cls(
            concurrency=autoscale.initial_processes(
                w.concurrency, w.autoscale_max, w.autoscale_min
            ),
            limit=ack.prefetch_limit(w.prefetch_multiplier, prefetch_from),
            acks_late=s.ack.late,
            ack_at_start=ack.acked_before_run(s.ack.late),
            reject_on_worker_lost=s.ack.reject_on_worker_lost,
            retry_on_worker_lost=s.retry.on_worker_lost,
            cores=w.cores,
            crashes=s.failures.crash_probability > 0,
            child_crashes=s.failures.crash_kind == "child",
            start_write=s.overhead.record if s.results.track_started else 0.0,
            record_overhead=s.overhead.record,
            kill_linger=w.kill_linger,
            restart_delay=w.restart_delay,
            shutdown_grace=w.shutdown_grace,
            process_start=w.process_start,
            serial_forks=costs.serial_forks(s),
            handover=costs.handover(s),
            delivers=any(costs.delivery(s)),
            lanes=lanes,
            queues=routing.initial_cycle(pool.queues, pool.queue_order),
            rotates=pool.queue_order == "round_robin" and len(pool.queues) > 1,
            time_limits=limits if any(map(any, limits)) else (),
            token_gaps=gaps if any(gaps) else (),
        )
