"""Cost against p95 over a sweep of an autoscaling pool's policy settings, and the points on its
Pareto frontier: the cheapest policy that meets a p95 is on it, and nothing off it is worth
running (another point is as cheap and as fast, and better at one).

A Celery ``--autoscale`` pool is swept over keepalive × MIN, a node-autoscaled one over
node_target × node_cooldown, each beside the same pool static at a few sizes. Every point runs
the same arrivals (the scenario's seed, common random numbers), so points differ by the policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from sim.analysis.metrics import Summary
from sim.analysis.runs import capacity_varies, simulated
from sim.analysis.sweep import sweep_changes
from sim.scenario import Scenario
from sim.sections import Pool
from sim.words import counted

KEEPALIVES = (10.0, 30.0, 120.0)  # s: reacting fast, Celery's default, holding on
COOLDOWNS = (60.0, 300.0)  # s: a short stabilization window, KEDA's default
TARGET_SCALES = (0.5, 1.0, 2.0)  # × the scenario's node_target
STATIC_SIZES = 4  # static pool sizes beside the policies


@dataclass(frozen=True)
class FrontierPoint:
    """One policy's run: what it paid (``cost``, in ``unit``) and its p95 sojourn."""

    label: str
    policy: str  # "static" or "autoscale"
    cost: float
    p95: float
    efficient: bool  # on the Pareto frontier


def varying_pool(sc: Scenario) -> Pool | None:
    """The first pool whose capacity follows its load (``--autoscale`` or a node autoscaler)
    and that serves a queue some task type is routed to: an idle one has no p95 to set its
    cost against (``own_p95``)."""
    routed = {t.queue for t in sc.task_types}
    return next((p for p in sc.worker_pools if capacity_varies(p) and routed & set(p.queues)), None)


def own_p95(summary: Summary, sc: Scenario, pool: Pool, kind: str = "sojourn") -> float:
    """The p95 ``kind`` (sojourn or wait) of the tasks ``pool`` serves: the worst of its
    queues'. With several pools the run's own p95 is mostly the other pools' tasks (a pool of
    slow reports hides what its policy does to a pool of emails); with one, it is the run's."""
    if len(sc.worker_pools) == 1:
        return getattr(summary, f"{kind}_p95")
    served = [summary.by_queue[q][f"{kind}_p95"] for q in pool.queues if q in summary.by_queue]
    return max(served, default=float("nan"))


def cost_unit(pool: Pool) -> str:
    """What a pool's policy pays for: nodes under a node autoscaler, else pool processes."""
    return "node_seconds" if pool.workers.node_autoscaled else "worker_seconds"


def priced(sc: Scenario, changes: dict[str, Any], rep: int) -> tuple[Summary, float]:
    """One replication of ``changes`` (``sweep.run_point``'s) and what ``sc``'s autoscaling
    pool paid in it (``cost_unit``): its own nodes' cost (the summary's ``by_pool``), not the
    run's, in which the other pools' fixed nodes pay for the makespan, which the draws move
    more than the policy does."""
    pool = varying_pool(sc)
    figures = simulated(sc.replace(**changes), sc.seed + rep)
    return figures, figures.by_pool[pool.name][cost_unit(pool)]


def plans(sc: Scenario, pool: Pool) -> dict[str, dict[str, dict[str, Any]]]:
    """The sweep's points, ``{"static": …, "autoscale": …}``, each a label and the dotted
    fields it sets on ``pool``."""
    key = partial(sc.pool_field, pool.name)
    w = pool.workers
    if w.node_autoscaled:
        counts = np.linspace(w.min_nodes, w.max_nodes, STATIC_SIZES).round().astype(int)
        static = {
            f"static {counted(n, 'node')}": {key("node_autoscaler"): "none", key("count"): int(n)}
            for n in sorted(set(counts.tolist()))
        }
        targets = sorted({max(1, round(w.node_target * s)) for s in TARGET_SCALES})
        scaled = {
            f"target {t}, cooldown {c:g} s": {key("node_target"): t, key("node_cooldown"): c}
            for t in targets
            for c in sorted({*COOLDOWNS, w.node_cooldown})
        }
        return {"static": static, "autoscale": scaled}
    top = w.autoscale_max
    sizes = np.linspace(top / STATIC_SIZES, top, STATIC_SIZES).round().astype(int)
    off = {key("autoscale_max"): 0, key("autoscale_min"): 0}
    static = {
        f"--concurrency {n}": {**off, key("concurrency"): int(n)}
        for n in sorted(set(sizes.clip(1).tolist()))
    }
    scaled = {
        f"--autoscale {top},{low}, keepalive {k:g} s": {
            key("autoscale_min"): low,
            key("autoscale_keepalive"): k,
        }
        for low in sorted({0, 1, top // 2, w.autoscale_min} & set(range(top + 1)))
        for k in sorted({*KEEPALIVES, w.autoscale_keepalive})
    }
    return {"static": static, "autoscale": scaled}


def pareto(costs: list[float], p95s: list[float]) -> list[bool]:
    """Per point, whether no other point is at least as cheap and as fast and better at one."""
    points = list(zip(costs, p95s, strict=True))
    return [
        not any(
            oc <= c and op <= p and (oc < c or op < p)
            for j, (oc, op) in enumerate(points)
            if j != i
        )
        for i, (c, p) in enumerate(points)
    ]


def frontier(
    sc: Scenario,
    reps: int = 1,
    processes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[FrontierPoint]:
    """Every ``plans`` point of ``sc``'s autoscaling pool run (``reps`` seeds each, means), its
    own cost (``priced``) and the p95 sojourn of the tasks it serves (``own_p95``), and whether
    it is on the frontier; [] where no pool autoscales."""
    pool = varying_pool(sc)
    if pool is None:
        return []
    chosen = [
        (kind, label, changes)
        for kind, each in plans(sc, pool).items()
        for label, changes in each.items()
    ]
    changed = [changes for *_, changes in chosen]
    runs = sweep_changes(sc, changed, reps, processes, progress, point=priced)
    costs = [float(np.mean([cost for _, cost in r])) for r in runs]
    p95s = [float(np.mean([own_p95(s, sc, pool) for s, _ in r])) for r in runs]
    return [
        FrontierPoint(label, kind, c, p, e)
        for (kind, label, _), c, p, e in zip(chosen, costs, p95s, pareto(costs, p95s), strict=True)
    ]
