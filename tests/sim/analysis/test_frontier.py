"""The cost/p95 frontier of an autoscaling pool's policies: the Pareto property, on random
points and on a real sweep, and the settings each pool kind is swept over."""

from hypothesis import given
from hypothesis import strategies as st

from sim import scenario
from sim.analysis import frontier

finite = st.floats(0.0, 1e6, allow_nan=False)


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[0] and a[1] <= b[1] and a != b


def check_frontier(points: list[tuple[float, float]], efficient: list[bool]) -> None:
    """No point on the frontier is dominated by any point; every point off it is."""
    for p, on in zip(points, efficient, strict=True):
        beaten = any(dominates(q, p) for q in points)
        assert beaten != on, (p, on)


@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=30))
def test_the_frontier_keeps_exactly_the_undominated_points(points):
    efficient = frontier.pareto([c for c, _ in points], [p for _, p in points])
    check_frontier(points, efficient)
    assert any(efficient)  # the cheapest of the fastest is always on it


def test_a_tie_keeps_both_points_and_a_strictly_worse_one_is_dropped():
    assert frontier.pareto([1.0, 1.0, 2.0, 3.0], [5.0, 5.0, 1.0, 1.0]) == [
        True,
        True,
        True,
        False,
    ]


def test_a_celery_autoscale_sweep_of_autoscale_burst_has_the_frontier_property():
    """autoscale_burst (--autoscale 8,1, 600 tasks, seed 3): 4 static sizes and 3 MIN × 3
    keepalives. The shortest keepalive at MIN 0 is on the frontier: measured 1,372
    worker-seconds for a p95 within 0.1 s of --concurrency 8's 3,610."""
    sc = scenario.load("scenarios/autoscale_burst.toml")
    points = frontier.frontier(sc, processes=1)
    assert [p.policy for p in points] == ["static"] * 4 + ["autoscale"] * 9
    check_frontier([(p.cost, p.p95) for p in points], [p.efficient for p in points])
    by = {p.label: p for p in points}
    fast = by["--autoscale 8,0, keepalive 10 s"]
    assert fast.efficient and fast.cost < 0.5 * by["--concurrency 8"].cost
    assert not by["--autoscale 8,0, keepalive 120 s"].efficient  # keeps all 8 for the run


def test_a_node_autoscaler_is_swept_over_target_and_cooldown_beside_static_node_counts():
    sc = scenario.load("scenarios/node_autoscale_cycle.toml")
    pool = frontier.varying_pool(sc)
    assert frontier.cost_unit(pool) == "node_seconds"
    plans = frontier.plans(sc, pool)
    assert list(plans["static"]) == [
        "static 1 node",  # "static 1 nodes" was the cheapest setting named on Explore
        "static 5 nodes",
        "static 8 nodes",
        "static 12 nodes",
    ]
    assert plans["static"]["static 5 nodes"] == {
        "workers.node_autoscaler": "none",
        "workers.count": 5,
    }
    assert plans["autoscale"]["target 20, cooldown 60 s"] == {
        "workers.node_target": 20,
        "workers.node_cooldown": 60.0,
    }
    assert len(plans["autoscale"]) == 6


def test_a_pool_in_pools_is_swept_by_its_own_fields_and_a_static_scenario_has_no_frontier():
    sc = scenario.load("scenarios/autoscale_burst.toml").replace(
        pools=[
            {"name": "fast", "queues": ["celery"], "count": 1, "autoscale_max": 4},
            {"name": "fixed", "queues": ["celery"], "count": 1},
        ]
    )
    pool = frontier.varying_pool(sc)
    assert pool.name == "fast" and frontier.cost_unit(pool) == "worker_seconds"
    changes = frontier.plans(sc, pool)["autoscale"]["--autoscale 4,2, keepalive 30 s"]
    assert changes == {"pools.fast.autoscale_min": 2, "pools.fast.autoscale_keepalive": 30.0}
    assert frontier.frontier(scenario.load("scenarios/mmc.toml")) == []


# quick 0.5 s tasks on an autoscaling pool beside slow 20 s reports on an overloaded fixed one
BESIDE_A_BACKLOG = """
seed = 7
[run]
tasks = 1500
[arrivals]
rate = 4.0
[[tasks]]
name = "thumb"
share = 0.8
queue = "media"
[tasks.service]
mean = 0.5
[[tasks]]
name = "report"
queue = "reports"
[tasks.service]
mean = 20.0
[[pools]]
name = "media"
queues = ["media"]
count = 1
autoscale_max = 4
autoscale_min = 1
[[pools]]
name = "reporters"
queues = ["reports"]
count = 1
concurrency = 4
"""


def test_beside_other_pools_the_frontier_sets_cost_against_the_pool_own_tasks_p95():
    """The reports' backlog (ρ = 4 on their fixed pool) makes the run's p95 hundreds of
    seconds whatever the media pool does; each point's p95 is its thumbnails' instead, short
    wherever the pool can reach 4 processes (the static --concurrency 1 cannot keep up)."""
    from sim.analysis.runs import simulated

    sc = scenario.loads(BESIDE_A_BACKLOG)
    points = frontier.frontier(sc, processes=1)
    run = simulated(sc)
    assert max(p.p95 for p in points if p.policy == "autoscale") < 0.1 * run.sojourn_p95
    (own,) = [p for p in points if p.label == "--autoscale 4,1, keepalive 30 s"]
    assert own.p95 == run.by_task["thumb"]["sojourn_p95"]


def test_beside_other_pools_the_frontier_sets_the_pool_own_cost():
    """What the media pool's policy pays, as the Explore table beside the frontier says
    (the summary's ``by_pool``), not the run's worker-seconds: those were mostly the reporters'
    fixed 4 processes over the backlog's makespan, which moves with the draws, not the policy."""
    from sim.analysis.runs import simulated

    sc = scenario.loads(BESIDE_A_BACKLOG)
    points = {p.label: p for p in frontier.frontier(sc, processes=1)}
    for label, changes in frontier.plans(sc, sc.worker_pools[0])["autoscale"].items():
        run = simulated(sc.replace(**changes))
        assert points[label].cost == run.by_pool["media"]["worker_seconds"] < run.worker_seconds


def test_an_autoscaling_pool_no_task_is_routed_to_is_not_the_one_swept():
    """Its p95 is that of no task (NaN at every point): the pool swept is the next that
    follows its load and serves some task type, or none."""
    idle = '[[pools]]\nname = "idle"\nqueues = ["nobody"]\ncount = 1\nautoscale_max = 4\n'
    sc = scenario.loads(BESIDE_A_BACKLOG.replace("[[pools]]", idle + "[[pools]]", 1))
    assert frontier.varying_pool(sc).name == "media"
    alone = sc.replace(**{"pools.media.autoscale_max": 0, "pools.media.autoscale_min": 0})
    assert frontier.varying_pool(alone) is None and frontier.frontier(alone) == []
