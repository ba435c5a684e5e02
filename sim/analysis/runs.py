"""A run of a scenario, reported: the summary as the CLI, the app and the lessons all ask for it.

A trace alone does not say how many slots its run had, which scenario it was or its seed; the
scenario does. Taking the scenario here means no caller passes them by hand, and none can pass
another scenario's.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from sim.analysis import groups, metrics
from sim.analysis.cost import capacity_cost, down_clocks
from sim.analysis.metrics import Summary
from sim.engine import budget, heap
from sim.engine.backend import Progress
from sim.engine.model import tally
from sim.rules import retry
from sim.rules.outage import certain_until
from sim.scenario import Scenario
from sim.sections import Pool, TaskType
from sim.trace import Capacity, Trace

# said where a run submits nothing: its all-zero figures would read as a perfect queue
NO_TASKS = (
    "the run submits no task: its run.duration ends before the first arrival; lengthen it or "
    "give run.tasks"
)


def endless(scenario: Scenario) -> str:
    """Why no task of some type ever ends, said before its run ("" when every type can end): it
    retries for ever and always fails (``retry.never_ends``: failure probability 1, or outages
    of probability 1 from the start past its ``last_chance``), so its figures are those of no
    finished task, and its run follows each through ``retry.FOLLOWED`` retries: the executions
    that costs, a task's and the run's (``budget``'s estimates), the CLI's warning and
    Explore's box alike."""
    kinds = [t for t in scenario.task_types if retry.never_ends(t, last_chance(scenario, t))]
    if not kinds:
        return ""
    which = f" (task types {', '.join(t.name for t in kinds)})" if scenario.tasks else ""
    each = budget.expected_attempts(scenario)
    return (
        f"max_retries = inf and {_failing(scenario, kinds, which)} (Celery retries it for "
        f"ever); the simulator follows each through "
        f"{retry.FOLLOWED} retries (about {each:,.0f} executions a task, "
        f"{each * budget.expected_tasks(scenario):,.0f} a run), a live run until its drain, and "
        "the summary counts it in tasks_lost"
    )


def last_chance(scenario: Scenario, kind: TaskType) -> float:
    """The scenario time before which a task of ``kind`` cannot have run all the attempts the
    simulator follows: the arrivals' span (``budget.arrivals_span``) and the least its
    ``retry.FOLLOWED`` retries' countdowns add up to (``retry.least_retrying``). Failing every
    attempt until then, none of its tasks ends, the last to arrive at least."""
    return budget.arrivals_span(scenario) + retry.least_retrying(kind.retry)


def _failing(scenario: Scenario, kinds: list[TaskType], which: str) -> str:
    """Why the attempts of ``kinds`` (``which``) all fail, and what follows: failure
    probability 1, none ends; or an outage of probability 1 past their ``last_chance``, after
    which an attempt delayed beyond it may yet succeed (the run's figures say how many)."""
    certain = [certain_until(t.failures.probability, t.failures.outage) for t in kinds]
    if all(math.isinf(until) for until in certain):
        return f"failure probability 1{which}: no task ever succeeds, so none ends"
    until, kind = min(zip(certain, kinds, strict=True), key=lambda pair: pair[0])
    return (
        f"failures.outage of probability 1 from 0 to {until:g} s{which}, past the run's "
        f"arrivals and the least its {retry.FOLLOWED} retries wait (about "
        f"{last_chance(scenario, kind):,.0f} s): no attempt succeeds before the outage ends, "
        "so its tasks are left retrying unless an attempt ends after it"
    )


def unfinished(summary: Summary, scenario: Scenario) -> str:
    """What a run's tasks that never ended mean for its figures, said after it ("" where every
    task ended): how many (``tasks_lost``, the same from a trace or a summary-only run), and
    that a sojourn and the throughput count only tasks that ended, so they read as a fine queue
    (0 where none did: sojourn 0, throughput 0). The CLI's warning and Explore's alike; a type
    of which none ends says so (``endless``)."""
    lost = summary.tasks_lost
    if not lost:
        return ""
    ended = summary.tasks_succeeded + summary.tasks_failed
    why = " (retried for ever, failing every attempt: left retrying)" if endless(scenario) else ""
    none = ", and read 0 as none did" if not ended else ""
    return (
        f"{lost:,} of {summary.tasks_submitted:,} tasks never ended{why}, counted in "
        f"tasks_lost: a task's sojourn runs to its SUCCESS or FAILURE, so the sojourn figures "
        f"and the throughput are those of the {ended:,} that ended{none}"
    )


def summarize(
    trace: Trace, scenario: Scenario, engine: str = "sim", seed: int | None = None
) -> Summary:
    """The summary of ``trace``, a run of ``scenario`` with ``seed`` (default: the scenario's)."""
    return summary(metrics.tally(trace), scenario, engine, seed)


def simulated(
    scenario: Scenario, seed: int | None = None, progress: Progress | None = None
) -> Summary:
    """Simulate ``scenario`` and summarize it without keeping its trace (sweeps, Explore,
    ``simulate --json``): the same summary as ``summarize(simulate(...))``, in less memory."""
    return summary(tally(scenario, seed, progress), scenario, seed=seed)


def summary(
    run: metrics.Tally, scenario: Scenario, engine: str = "sim", seed: int | None = None
) -> Summary:
    """The summary of a run's ``Tally``, by task type, queue and pool too. A pool whose
    capacity varies is busy over the slot-seconds it had (``alive``). The figures by group that
    read the end times come first, as the summary takes them (``groups.grouped``)."""
    members = pools(run, scenario)
    alive = alive_slot_seconds(run, scenario, members)
    served = {p.name: p.queues for p in scenario.worker_pools}  # each pool's own time
    # before the summary takes the end times
    by = groups.grouped(run, members, scenario.run.warmup, alive, served=served)
    heap.give_back()  # the scratch blocks freed inside the heap, before the summary's
    figures = metrics.summary_of(
        run,
        scenario.slots,
        engine=engine,
        scenario=scenario.name,
        seed=scenario.seed if seed is None else seed,
        warmup=scenario.run.warmup,
        alive=_whole(run, scenario, alive),
    )
    heap.give_back()
    return replace(figures, **by(figures))


def capacity_varies(pool: Pool) -> bool:
    """Whether a pool's capacity follows its load: Celery's --autoscale or a node autoscaler."""
    return pool.workers.autoscale_max > 0 or pool.workers.node_autoscaled


def alive_slot_seconds(
    run: metrics.Tally, scenario: Scenario, members: dict[str, tuple[list[int], int]]
) -> dict[str, float]:
    """Per pool whose capacity varies, or that nodes joined (``joined_nodes``), the slot-seconds
    its nodes had after the warm-up: the worker-seconds they were up, from the run's capacity
    rows (none where it has no rows: a static count then), and the seconds tasks ran on them
    while not up (a warm shutdown's drain: its processes finish them, though no longer counted
    as up). So busy slot-seconds never exceed them: a pool under --autoscale with rolling
    deploys read a utilisation of 1.11, a live node joined by two 2.17 over its own slot."""
    if not run.capacity:
        return {}
    joined = joined_nodes(run, scenario)  # in the first pool, beside its own nodes
    varying = [
        p.name
        for i, p in enumerate(scenario.worker_pools)
        if capacity_varies(p) or (i == 0 and joined)
    ]
    nodes = {p: {run.workers[i] for i in members[p][0]} for p in varying}
    draining = _busy_while_down(run, scenario.run.warmup, set().union(*nodes.values()))
    return {
        p: capacity_cost(run.capacity, run.makespan, scenario.run.warmup, nodes[p])[0]
        + sum(draining.get(n, 0.0) for n in nodes[p])
        for p in varying
    }


def _busy_while_down(run: metrics.Tally, warmup: float, nodes: set[str]) -> dict[str, float]:
    """Per node of ``nodes``, the seconds its executions ran after ``warmup`` while it was not
    up (``cost.down_clocks``); one pass over the executions, none when no node ever went down."""
    clocks = {
        run.workers.index(n): clock
        for n, clock in down_clocks(run.capacity, run.makespan, nodes).items()
    }
    if not clocks:
        return {}
    seconds = dict.fromkeys(clocks, 0.0)
    for start, end, worker in run.spans():
        for w, (times, down) in clocks.items():
            mine = worker == w
            if mine.any():
                since = np.interp(metrics.after(start[mine], warmup), times, down)
                seconds[w] += math.fsum(
                    np.interp(metrics.after(end[mine], warmup), times, down) - since
                )
    return {run.workers[w]: s for w, s in seconds.items()}


def _whole(run: metrics.Tally, scenario: Scenario, alive: dict[str, float]) -> float | None:
    """The slot-seconds of every pool after the warm-up when one varies (the static ones at
    their slots), else None: a static run's utilisation stays slots over the span."""
    if not alive:
        return None
    span = run.makespan - scenario.run.warmup
    fixed = (p.workers.slots * span for p in scenario.worker_pools if p.name not in alive)
    return sum(alive.values()) + sum(fixed)


def pools(trace: Trace | metrics.Tally, scenario: Scenario) -> dict[str, tuple[list[int], int]]:
    """Each pool's workers (indices into ``trace.workers``, by the names the scenario gives its
    nodes, those a node autoscaler added too; a node it names neither way joined a live run,
    `queuelab worker`, and serves the first pool) and its slots (those it starts with)."""
    found: dict[str, tuple[list[int], int]] = {
        p.name: ([], p.workers.slots) for p in scenario.worker_pools
    }
    named = {name: pool.name for name, pool in scenario.nodes}
    first = scenario.worker_pools[0].name
    for i, name in enumerate(trace.workers):
        found[named.get(name) or added_to(name, scenario) or first][0].append(i)
    return found


def joined_nodes(trace: Trace | metrics.Tally, scenario: Scenario) -> list[str]:
    """The trace's nodes the scenario names neither as its own nor as a node autoscaler's:
    those that joined a live run (`queuelab worker`), in the first pool (``pools``)."""
    named = {name for name, _ in scenario.nodes}
    return [n for n in trace.workers if n not in named and added_to(n, scenario) is None]


def node_pools(trace: Trace, scenario: Scenario) -> dict[str, Pool]:
    """Each of the trace's nodes with its pool (by ``pools``)."""
    named = {p.name: p for p in scenario.worker_pools}
    return {
        trace.workers[i]: named[name]
        for name, (members, _) in pools(trace, scenario).items()
        for i in members
    }


def capacity_rows(trace: Trace, scenario: Scenario) -> dict[str, list[Capacity]]:
    """Each pool's capacity rows: those of its nodes (by ``pools``)."""
    pool_of = node_pools(trace, scenario)
    rows: dict[str, list[Capacity]] = {p.name: [] for p in scenario.worker_pools}
    for row in trace.capacity:
        if (pool := pool_of.get(row[1])) is not None:
            rows[pool.name].append(row)
    return rows


def added_to(name: str, scenario: Scenario) -> str | None:
    """The pool whose node autoscaler named a node so (``Scenario.node_name``), if any."""
    if scenario.pools:
        pool, _, number = name.rpartition("-")
    else:
        pool, number = scenario.worker_pools[0].name, name[1:] if name[:1] == "w" else ""
    scaled = {p.name for p in scenario.worker_pools if p.workers.node_autoscaled}
    return pool if number.isdigit() and pool in scaled else None


def in_system_mean(summary: Summary, scenario: Scenario) -> float:
    """L, the time-average number of tasks in the system: those waiting plus the busy slots (of
    a pool whose capacity varies: its mean worker-seconds over the run, warm-up included)."""
    if summary.worker_seconds and any(capacity_varies(p) for p in scenario.worker_pools):
        return (
            summary.queue_len_mean + summary.utilization * summary.worker_seconds / summary.makespan
        )
    return summary.queue_len_mean + summary.utilization * scenario.slots
