"""A run's figures per task type, per queue and per pool of workers: the summary's
``by_task``, ``by_queue`` and ``by_pool``, from the trace the same way for every engine.

A group's tasks are an index vector (ascending, so its values come in the order a boolean mask
would give them, and so do the floats computed from them), made by one stable sort of the task
types; with one type every task is in the one group and no index or copy is made at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np

from sim.analysis.cost import capacity_cost
from sim.analysis.metrics import (
    Summary,
    busy_seconds,
    busy_share,
    count,
    latency_stats,
    queued_seconds,
)
from sim.tally import Tally

_LATENCY = tuple(
    f"{kind}_{q}" for kind in ("wait", "sojourn") for q in ("mean", "p50", "p95", "p99")
)
GROUP_FIGURES = {  # the figures by_group gives each task type, queue and pool
    "by_task": ("tasks", *_LATENCY, "throughput"),
    "by_queue": ("tasks", *_LATENCY, "throughput", "queue_len_mean", "queue_len_max"),
    "by_pool": ("slots", "executions", "utilization", "worker_seconds", "node_seconds"),
}


def _of(values: np.ndarray, tasks: np.ndarray | None) -> np.ndarray:
    """``values`` of the tasks ``tasks`` (an index vector; None: every task, no copy)."""
    return values if tasks is None else values[tasks]


def _latency(later: np.ndarray, pending: np.ndarray, kept: np.ndarray) -> dict[str, float]:
    """Mean and percentiles of ``later − pending`` over the ``kept`` tasks where it is known."""
    values = later - pending
    values = values[kept & ~np.isnan(values)]
    return dict(zip(("mean", "p50", "p95", "p99"), latency_stats(values), strict=True))


def _group(run: Tally, tasks: np.ndarray | None, warmup: float, later: bool) -> dict[str, Any]:
    """Figures of the tasks ``tasks``: latencies of those submitted after the warm-up,
    throughput of those ended after it. For every task, with ``later``, the latencies are left
    None for the summary's (the same values in the same order, so the same floats)."""
    pending = _of(run.pending, tasks)
    span = _done_by(run, tasks) - warmup
    figures: dict[str, float | None]
    if later and tasks is None and (warmup or not count(pending, lambda p: p < 0)):
        figures = dict.fromkeys(_LATENCY)
    else:
        kept = pending >= warmup
        w = _latency(_of(run.started, tasks), pending, kept)
        s = _latency(_of(run.end, tasks), pending, kept)
        figures = {
            **{f"wait_{k}": v for k, v in w.items()},
            **{f"sojourn_{k}": v for k, v in s.items()},
        }
    ended = count(_of(run.end, tasks), lambda e: e >= warmup)
    return {
        "tasks": len(pending),
        **figures,
        "throughput": ended / span if span > 0 else 0.0,
    }


def _done_by(run: Tally, tasks: np.ndarray | None) -> float:
    """When the tasks ``tasks`` were done: the last of them to end, or the run's end if one
    never did. A group's throughput is over its own time: dividing by the whole run's, emails
    served as they came at 7 a second read 4.6 while a backlog of reports drained after them."""
    if tasks is None:
        return run.makespan
    end = run.end[tasks]
    return run.makespan if not len(end) or np.isnan(end).any() else float(end.max())


def _queue_mean(run: Tally, tasks: np.ndarray | None, warmup: float) -> float:
    """A queue's mean length after the warm-up, over its own time as its throughput
    (``_done_by``), so that L = λW holds of it: over the whole run's, the emails' queue read
    half their λW while a backlog of reports drained after them."""
    pending, started = _of(run.pending, tasks), _of(run.started, tasks)
    span = _done_by(run, tasks) - warmup
    queued = queued_seconds(pending, started, run.makespan, warmup, lost=True)  # as np.nansum
    return queued / span if span > 0 else 0.0


def _queue_peak(run: Tally, tasks: np.ndarray | None) -> float:
    """A queue's peak length over the whole run, from its tasks' PENDING and STARTED times
    sorted in place: copies of a group's, the run's own (taken, ``Tally.take``) for a queue of
    every task, so this reads them last."""
    up, down = (run.take(name) if tasks is None else run.per_task(name)[tasks] for name in _TIMES)
    return step_peak(_ordered(up), _ordered(down))


_TIMES = ("pending", "started")


def _ordered(times: np.ndarray) -> np.ndarray:
    """``times`` that are known, sorted in place (``times`` is scratch): a view of them, as a
    NaN sorts last (a queue's PENDING times are sorted already: tasks are numbered in arrival
    order; sorting them again costs milliseconds, no copy)."""
    times.sort()
    return times[: int(np.searchsorted(times, np.nan))]


def step_peak(up: np.ndarray, down: np.ndarray) -> float:
    """The highest level of ``metrics.step_counts(up, down)`` (0 when it has no steps), from
    the two vectors, each sorted, alone: after the k-th rise the level is k less the falls at
    or before it (a fall comes first at a tie); after the k-th fall, the rises before it less k.
    A block of steps at a time, so the scratch vectors stay small however long the run."""
    peaks = [
        _peak(up, down, "right", 1),  # after each rise
        _peak(down, up, "left", -1),  # after each fall
    ]
    return float(max(p for p in peaks if p is not None)) if len(up) or len(down) else 0.0


_BLOCK = 1 << 14


def _peak(steps: np.ndarray, others: np.ndarray, side: str, sign: int) -> int | None:
    """The highest level right after one of ``steps`` (None if there are none): ``sign`` × its
    rank less ``sign`` × the ``others`` before it (at or before: ``side`` "right")."""
    best = None
    for lo in range(0, len(steps), _BLOCK):
        block = steps[lo : lo + _BLOCK]
        level = np.searchsorted(others, block, side=side)
        np.subtract(np.arange(lo + 1, lo + 1 + len(block)), level, out=level)
        top = int((level if sign > 0 else -level).max())
        best = top if best is None else max(best, top)
    return best


def _members(run: Tally) -> list[np.ndarray | None]:
    """Per task type, its tasks as an ascending index vector (None for the one type)."""
    if len(run.types) == 1:
        return [None]
    order = np.argsort(run.type_of, kind="stable")  # ascending task index within each type
    bounds = np.searchsorted(run.type_of[order], np.arange(len(run.types) + 1))
    return [order[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _union(members: list[np.ndarray | None], kinds: list[int]) -> np.ndarray | None:
    """The tasks of the types ``kinds``, ascending (None: every task)."""
    if len(kinds) == len(members):
        return None
    if len(kinds) == 1:
        return members[kinds[0]]
    return np.sort(np.concatenate([members[k] for k in kinds]))


def by_group(
    run: Tally,
    pools: dict[str, tuple[list[int], int]] | None = None,
    warmup: float = 0.0,
    alive: dict[str, float] | None = None,
    overall: Summary | None = None,
    served: dict[str, Sequence[str]] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Figures per task type, per queue (with its queue length) and per pool of workers
    (``pools``: name → (worker indices, slots)), for the summary's ``by_task``, ``by_queue``
    and ``by_pool``; after a ``warmup`` as ``metrics.summarize``, a pool in ``alive`` (its
    capacity varies) busy over the slot-seconds it had, a pool in ``served`` (name → the
    queues it consumes) over its own time. ``run``: the run's ``Tally``; ``overall``: its
    summary, whose latencies a group of every task takes as they are."""
    return grouped(run, pools, warmup, alive, overall is not None, served)(overall)


Grouped = dict[str, dict[str, dict[str, Any]]]


def grouped(
    run: Tally,
    pools: dict[str, tuple[list[int], int]] | None = None,
    warmup: float = 0.0,
    alive: dict[str, float] | None = None,
    later: bool = True,
    served: dict[str, Sequence[str]] | None = None,
) -> Callable[[Summary | None], Grouped]:
    """``by_group`` in two steps, so that the run's summary, made between them, may take its
    end times (``metrics.summary_of``): now every figure that reads them or the executions
    (with ``later``, a group of every task's latencies left for the summary's); then, given the
    summary, those latencies and each queue's peak length, which takes the start times."""
    if len(run.types) > 1:  # many groups read each vector: a trace's made once, not per group
        run = replace(run, per_task=cache(run.per_task))
    members = _members(run)
    of_type = [_group(run, tasks, warmup, later) for tasks in members]
    by_queue, queue_tasks = {}, {}
    for queue in dict.fromkeys(q for _, q in run.types):
        kinds = [i for i, (_, q) in enumerate(run.types) if q == queue]
        tasks = queue_tasks[queue] = _union(members, kinds)
        one = len(kinds) == 1  # the type's own figures
        figures = of_type[kinds[0]] if one else _group(run, tasks, warmup, later)
        by_queue[queue] = figures | {"queue_len_mean": _queue_mean(run, tasks, warmup)}
    done = {  # a pool's own time, as its queues' throughput: until the last of their tasks ended
        pool: max(
            (_done_by(run, queue_tasks[q]) for q in queues if q in queue_tasks),
            default=run.makespan,
        )
        for pool, queues in (served or {}).items()
    }
    by_pool = _by_pool(run, pools, warmup, alive, done)

    def finished(overall: Summary | None) -> Grouped:
        for figures in (*of_type, *by_queue.values()):
            for name in _LATENCY:
                if figures[name] is None:
                    figures[name] = getattr(overall, name)
        for queue, tasks in queue_tasks.items():
            by_queue[queue]["queue_len_max"] = _queue_peak(run, tasks)
        return {
            "by_task": {name: f for (name, _), f in zip(run.types, of_type, strict=True)},
            "by_queue": by_queue,
            "by_pool": by_pool,
        }

    return finished


def _by_pool(
    run: Tally,
    pools: dict[str, tuple[list[int], int]] | None,
    warmup: float,
    alive: dict[str, float] | None,
    done: dict[str, float],
) -> dict[str, dict[str, float]]:
    """Slots, executions, utilisation and cost of each pool (see ``by_group``): a static pool's
    busy over its slots from the warm-up until it was ``done`` (the run's end if not given),
    so that ρ = λS/c holds of it: over the whole run's, a thumbnails pool of ρ 0.54 read 0.31
    while another pool's backlog of reports drained after its last thumbnail. Its cost is the
    run's (``cost.capacity_cost`` to the makespan) of its own nodes: what its policy pays,
    which the run's total mixes with the other pools' (an autoscaled pool 30 % off read −3.5 %
    beside fixed ones)."""
    pools, alive = pools or {}, alive or {}
    groups = [  # a pool of every worker: no mask, no copy
        None if len(workers) == len(run.workers) else workers for workers, _ in pools.values()
    ]
    by_pool = {}
    for (name, (workers, slots)), busy in zip(
        pools.items(), busy_seconds(run, warmup, groups), strict=True
    ):
        span = done.get(name, run.makespan) - warmup
        if name in alive:
            share = busy_share(busy, slots, 0.0, alive[name])
        else:
            share = busy / slots / span if span > 0 and slots else 0.0
        nodes = {run.workers[i] for i in workers}
        worker_seconds, node_seconds = capacity_cost(run.capacity, run.makespan, nodes=nodes)
        by_pool[name] = {
            "slots": slots,
            "executions": int(run.starts_by_worker[workers].sum()),
            "utilization": share,
            "worker_seconds": worker_seconds,
            "node_seconds": node_seconds,
        }
    return by_pool
