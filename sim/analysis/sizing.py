"""Sizing worker pools: each pool's worker-count trade-off against the p95 of the task types it
serves, and the fewest workers in all that keep every type's p95 at or under its target.

Pools that share no queue serve disjoint task types, and a type's draws come from its own
streams, so a pool's count leaves every other pool's tasks exactly as they were: each pool is
sized alone, from its own sweep (its count varied, the others fixed), and the smallest total is
the sum of the pools' smallest counts (exact, one sweep per pool). Pools that share a queue
split its work, so their counts trade off; there the search is greedy: from the fewest that
keep up, add one worker at a time to the pool whose extra worker brings the worst type closest
to its target (a few runs per step, not the product of every pool's range).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sim.analysis.metrics import Summary
from sim.analysis.sweep import Estimate, estimate, replications, sweep_field
from sim.scenario import Scenario

FIGURES = ("sojourn_p95", "wait_p95")  # what a target can be set on


def counts(scenario: Scenario) -> dict[str, int]:
    """Each pool's worker count."""
    return {p.name: p.workers.count for p in scenario.worker_pools}


def serves(scenario: Scenario) -> dict[str, tuple[str, ...]]:
    """Per pool, the task types routed to a queue it consumes."""
    return {
        p.name: tuple(t.name for t in scenario.task_types if t.queue in p.queues)
        for p in scenario.worker_pools
    }


def coupled(scenario: Scenario) -> bool:
    """Whether some queue is consumed by more than one pool, so their counts trade off."""
    consumed = [q for p in scenario.worker_pools for q in p.queues]
    return len(consumed) != len(set(consumed))


@dataclass(frozen=True)
class PoolCurve:
    """A pool's sweep: at each of its worker counts, every figure of ``FIGURES`` for each task
    type it serves, and the pool's utilisation, over replications."""

    pool: str
    counts: tuple[int, ...]
    figures: dict[str, dict[str, tuple[Estimate, ...]]]  # figure → task type → per count
    utilization: tuple[Estimate, ...]


def pool_curve(
    scenario: Scenario,
    pool: str,
    values: tuple[int, ...],
    reps: int = 3,
    processes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PoolCurve:
    """``pool``'s count at each of ``values``, every other field fixed, on common random
    numbers (``sweep_field``; ``progress(done, total)`` counts its runs)."""
    field = scenario.pool_field(pool, "count")
    runs = sweep_field(scenario, field, list(values), reps, processes, progress)
    return curve_of(scenario, pool, values, runs)


def curve_of(
    scenario: Scenario, pool: str, values: Sequence[int], runs: list[list[Summary]]
) -> PoolCurve:
    """``pool``'s curve from a sweep of its count already run: ``sweep_field``'s replications
    at each of ``values``, on local processes or a Celery cluster."""
    types = serves(scenario)[pool]

    def per_count(pick: Callable[[Summary], float]) -> tuple[Estimate, ...]:
        return tuple(estimate([pick(s) for s in summaries], (0.0, math.inf)) for summaries in runs)

    figures = {
        f: {t: per_count(lambda s, t=t, f=f: s.by_task[t][f]) for t in types} for f in FIGURES
    }
    used = tuple(estimate([s.by_pool[pool]["utilization"] for s in r], (0.0, 1.0)) for r in runs)
    return PoolCurve(pool, tuple(values), figures, used)


def meets(p95: Mapping[str, float], targets: Mapping[str, float]) -> bool:
    """Whether every task type with a target has its p95 at or under it."""
    return all(p95[t] <= target for t, target in targets.items() if t in p95)


def smallest_count(curve: PoolCurve, targets: Mapping[str, float], figure: str) -> int | None:
    """The fewest workers of the curve at which every type the pool serves meets its target
    (mean over replications), or None when no count swept does."""
    shown = curve.figures[figure]
    for i, count in enumerate(curve.counts):
        if meets({t: est[i].mean for t, est in shown.items()}, targets):
            return count
    return None


def too_close(
    curves: Mapping[str, PoolCurve],
    counts: Mapping[str, int],
    targets: Mapping[str, float],
    figure: str,
) -> list[tuple[str, str, int, Estimate]]:
    """(pool, task type, count, estimate) where the count found meets the type's target on
    the replications' mean but its 95 % interval holds the target: one more or one fewer
    worker could be the answer, and more replications would tell."""
    close = []
    for pool, count in counts.items():
        curve = curves[pool]
        i = curve.counts.index(count)
        for kind, estimates in curve.figures[figure].items():
            e, target = estimates[i], targets.get(kind)
            if target is not None and e.low is not None and e.low <= target <= e.high:
                close.append((pool, kind, count, e))
    return close


FLAT = 0.05  # a last step of the sweep lowering a p95 by less than this share: no more to gain


def still_falling(means: Sequence[float]) -> bool:
    """Whether a sweep's last count still lowered a p95 (``means``, by count) by more than
    ``FLAT``: more workers may meet a target it misses, where a flat end is the task's own
    time, which no worker shortens."""
    return len(means) > 1 and means[-1] < (1 - FLAT) * means[-2]


@dataclass(frozen=True)
class Unmet:
    """A task type whose target no count of its pool's sweep meets: its least p95 (the
    replications' mean), where, and whether the sweep's last count still lowered it by more
    than ``FLAT`` (more workers may meet it) or not (the type's own time sets the p95)."""

    pool: str
    kind: str
    count: int
    best: float
    falling: bool


def unmet(
    curves: Mapping[str, PoolCurve], targets: Mapping[str, float], figure: str
) -> list[Unmet]:
    """The task types over their target at every count their pool's curve swept: what to say
    when no total is found, in place of the bare fact."""
    found = []
    for pool, curve in curves.items():
        for kind, estimates in curve.figures[figure].items():
            means = [e.mean for e in estimates]
            target = targets.get(kind)
            if target is None or min(means) <= target:
                continue
            i = means.index(min(means))
            found.append(Unmet(pool, kind, curve.counts[i], means[i], still_falling(means)))
    return found


def worst(p95: Mapping[str, float], targets: Mapping[str, float]) -> float:
    """The largest p95 ÷ target over the task types with a target: ≤ 1 when all meet theirs."""
    return max((p95[t] / target for t, target in targets.items() if t in p95), default=0.0)


def greedy(
    evaluate: Callable[[dict[str, int]], dict[str, float]],
    start: dict[str, int],
    top: dict[str, int],
    served: dict[str, tuple[str, ...]],
    targets: Mapping[str, float],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int] | None:
    """From ``start``, one worker at a time to the pool (serving a type over its target, below
    its ``top``) whose extra worker gives the least ``worst`` ratio, until every type meets its
    target; None when the tops are reached first. ``evaluate`` maps counts to each type's p95;
    ``progress(done, most)`` follows each one evaluated, ``most`` the most the search can
    evaluate (the start, then at each worker added one count per pool): it often stops sooner."""
    seen: dict[tuple[int, ...], dict[str, float]] = {}
    most = 1 + len(start) * sum(top[p] - start[p] for p in start)

    def p95(at: dict[str, int]) -> dict[str, float]:
        key = tuple(at[p] for p in start)
        if key not in seen:
            seen[key] = evaluate(at)
            if progress:
                progress(len(seen), most)
        return seen[key]

    now = dict(start)
    while not meets(p95(now), targets):
        missing = {t for t, v in p95(now).items() if t in targets and v > targets[t]}
        grow = [p for p in start if now[p] < top[p] and missing & set(served[p])]
        if not grow:
            return None
        now = min(({**now, p: now[p] + 1} for p in grow), key=lambda at: worst(p95(at), targets))
    return now


def mean_figure(
    scenario: Scenario, at: dict[str, int], figure: str, reps: int = 3
) -> dict[str, float]:
    """Each task type's ``figure`` at the pool counts ``at``, the mean over ``reps`` seeds."""
    changed = scenario.replace(**{scenario.pool_field(p, "count"): c for p, c in at.items()})
    runs = replications(changed, reps, processes=1)
    return {t: sum(s.by_task[t][figure] for s in runs) / reps for t in runs[0].by_task}


@dataclass(frozen=True)
class Sizing:
    """The smallest worker count per pool that meets every target (None: none searched did),
    and how it was searched: ``per pool`` or ``greedy``."""

    counts: dict[str, int] | None
    search: str

    @property
    def total(self) -> int | None:
        return sum(self.counts.values()) if self.counts is not None else None


def size(
    scenario: Scenario,
    curves: dict[str, PoolCurve],
    targets: Mapping[str, float],
    figure: str = "sojourn_p95",
    evaluate: Callable[[dict[str, int]], dict[str, float]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Sizing:
    """The fewest workers per pool meeting ``targets`` (task type → seconds of ``figure``).
    Independent pools: each pool's smallest count on its own curve. Pools sharing a queue:
    ``greedy`` over the curves' ranges, each step ``evaluate``d (default: ``mean_figure``),
    ``progress`` its counts evaluated."""
    if not coupled(scenario):
        found = {p: smallest_count(c, targets, figure) for p, c in curves.items()}
        met = {p: c for p, c in found.items() if c is not None}
        return Sizing(met if len(met) == len(found) else None, "per pool")
    evaluate = evaluate or (lambda at: mean_figure(scenario, at, figure))
    start = {p: c.counts[0] for p, c in curves.items()}
    top = {p: c.counts[-1] for p, c in curves.items()}
    return Sizing(greedy(evaluate, start, top, serves(scenario), targets, progress), "greedy")
