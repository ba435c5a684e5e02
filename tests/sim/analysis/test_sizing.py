"""Sizing pools: which types each pool serves, the per-pool search on independent pools and the
greedy search on pools that share a queue."""

import pytest

from sim import scenario
from sim.analysis import sizing
from sim.analysis.sweep import Estimate, estimate

EXAMPLE = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=1500"])
SHARED = EXAMPLE.replace(**{"pools.slow.queues": ("slow", "fast")})  # slow helps with thumbnails


def test_each_pool_serves_the_types_routed_to_its_queues():
    assert sizing.serves(EXAMPLE) == {"fast": ("thumbnail",), "slow": ("report",)}
    assert sizing.serves(SHARED) == {"fast": ("thumbnail",), "slow": ("thumbnail", "report")}
    assert not sizing.coupled(EXAMPLE) and sizing.coupled(SHARED)
    assert EXAMPLE.pool_field("slow", "count") == "pools.slow.count"
    assert scenario.load("scenarios/mmc.toml").pool_field("workers", "count") == "workers.count"


def curve(p95: list[float]) -> sizing.PoolCurve:
    at = tuple(Estimate(v, None, None) for v in p95)
    return sizing.PoolCurve("fast", (2, 3, 4, 5), {"sojourn_p95": {"thumbnail": at}}, at)


def test_the_smallest_count_is_the_first_that_meets_the_target():
    assert (
        sizing.smallest_count(curve([9.0, 3.0, 1.0, 0.9]), {"thumbnail": 1.0}, "sojourn_p95") == 4
    )
    assert (
        sizing.smallest_count(curve([9.0, 3.0, 2.0, 1.5]), {"thumbnail": 1.0}, "sojourn_p95")
        is None
    )
    assert sizing.smallest_count(curve([9.0, 3.0, 2.0, 1.5]), {}, "sojourn_p95") == 2  # no target


def test_greedy_finds_the_least_total_for_pools_sharing_a_queue():
    """x runs on both pools (its p95 falls with a + b), y only on b (falls with b): the least
    total meeting both targets is 10, with b >= 5."""

    def evaluate(at):
        return {"x": 10 / (at["a"] + at["b"]), "y": 5 / at["b"]}

    served, targets = {"a": ("x",), "b": ("x", "y")}, {"x": 1.0, "y": 1.0}
    found = sizing.greedy(evaluate, {"a": 1, "b": 1}, {"a": 20, "b": 20}, served, targets)
    assert sum(found.values()) == 10 and found["b"] >= 5
    assert sizing.meets(evaluate(found), targets)
    assert sizing.greedy(evaluate, {"a": 1, "b": 1}, {"a": 3, "b": 3}, served, targets) is None


@pytest.mark.parametrize("top", [20, 3])  # met on the way; the tops reached first
def test_greedy_reports_each_count_it_evaluates_against_the_most_it_can(top):
    """A bar of its counts tried where a spinner said nothing: one report per count evaluated
    (a count tried again is not run again), out of the start and one count per pool at each
    worker added."""
    evaluated, reports = [], []

    def evaluate(at):
        evaluated.append(tuple(at.values()))
        return {"x": 10 / (at["a"] + at["b"]), "y": 5 / at["b"]}

    served, targets = {"a": ("x",), "b": ("x", "y")}, {"x": 1.0, "y": 1.0}
    start, tops = {"a": 1, "b": 1}, {"a": top, "b": top}
    sizing.greedy(evaluate, start, tops, served, targets, lambda *r: reports.append(r))
    most = 1 + 2 * (2 * (top - 1))
    assert reports == [(n, most) for n in range(1, len(evaluated) + 1)]
    assert len(evaluated) == len(set(evaluated)) <= most


def test_independent_pools_are_sized_alone_and_their_sum_is_the_least_total():
    """Each pool's count leaves the other's tasks exactly as they were, so the per-pool answer
    meets every target when run together, and one worker fewer in any pool misses one."""
    targets = {"thumbnail": 0.3, "report": 1.0}
    curves = {
        p: sizing.pool_curve(EXAMPLE, p, values, reps=2, processes=1)
        for p, values in (("fast", (3, 4, 5, 6)), ("slow", (3, 4, 5, 6)))
    }
    found = sizing.size(EXAMPLE, curves, targets, "wait_p95")
    assert found.search == "per pool" and found.counts is not None
    assert sizing.meets(sizing.mean_figure(EXAMPLE, found.counts, "wait_p95", reps=2), targets)
    for pool in found.counts:
        fewer = {**found.counts, pool: found.counts[pool] - 1}
        assert not sizing.meets(sizing.mean_figure(EXAMPLE, fewer, "wait_p95", reps=2), targets)
    slow_only = [sizing.mean_figure(EXAMPLE, {"slow": c}, "wait_p95", reps=2) for c in (3, 6)]
    assert slow_only[0]["thumbnail"] == slow_only[1]["thumbnail"]  # untouched by the slow pool


def test_pools_sharing_a_queue_are_sized_greedily_on_simulated_runs():
    targets = {"thumbnail": 0.3, "report": 1.0}
    curves = {
        p: sizing.pool_curve(SHARED, p, (2, 3, 4, 5, 6), reps=1, processes=1)
        for p in ("fast", "slow")
    }
    found = sizing.size(SHARED, curves, targets, "wait_p95")
    assert found.search == "greedy" and found.counts is not None
    assert sizing.meets(sizing.mean_figure(SHARED, found.counts, "wait_p95"), targets)


@pytest.mark.parametrize("figure", sizing.FIGURES)
def test_a_pool_curve_reports_every_served_type_per_count(figure):
    c = sizing.pool_curve(EXAMPLE, "slow", (3, 5), reps=2, processes=1)
    assert list(c.figures[figure]) == ["report"] and len(c.figures[figure]["report"]) == 2
    assert all(0 <= u.low <= u.mean <= u.high <= 1 for u in c.utilization)


def test_a_count_whose_interval_holds_the_target_is_a_close_call():
    """The count found meets the target on the mean; its interval holding the target says the
    seeds drawn decided it."""
    from sim.analysis.sizing import PoolCurve, too_close
    from sim.analysis.sweep import Estimate

    curve = PoolCurve(
        "slow",
        (3, 4),
        {"sojourn_p95": {"report": (Estimate(30.0, 25.0, 35.0), Estimate(14.3, 10.2, 18.3))}},
        (Estimate(0.9, 0.8, 1.0), Estimate(0.7, 0.6, 0.8)),
    )
    (close,) = too_close({"slow": curve}, {"slow": 4}, {"report": 15.0}, "sojourn_p95")
    assert close[:3] == ("slow", "report", 4)
    assert too_close({"slow": curve}, {"slow": 4}, {"report": 20.0}, "sojourn_p95") == []


def test_a_type_over_its_target_at_every_count_is_unmet_falling_or_flat():
    """report: 9, 6, 4 s at 2, 3, 4 workers against 3 s, still falling (a third at the last
    step); email: 1.00, 0.99, 0.98 s against 0.5 s, flat (1 % a step); thumb meets its 2 s."""
    curve = sizing.PoolCurve(
        "p",
        (2, 3, 4),
        {
            "sojourn_p95": {
                "report": tuple(estimate([v, v]) for v in (9.0, 6.0, 4.0)),
                "email": tuple(estimate([v, v]) for v in (1.0, 0.99, 0.98)),
                "thumb": tuple(estimate([v, v]) for v in (3.0, 2.0, 1.0)),
            }
        },
        (),
    )
    targets = {"report": 3.0, "email": 0.5, "thumb": 2.0}
    assert sizing.unmet({"p": curve}, targets, "sojourn_p95") == [
        sizing.Unmet("p", "report", 4, 4.0, True),
        sizing.Unmet("p", "email", 4, 0.98, False),
    ]
