import pytest

from sim.analysis.compare import _cause, compare, relative_difference
from sim.engine.model import simulate
from tests.sim.helpers import make


def test_a_run_compared_with_itself_is_ok_and_a_slower_one_misses_with_a_cause():
    base = make(**{"run.tasks": 3000, "workers.count": 4, "arrivals.rate": 3.0})
    slow = base.replace(**{"overhead.dispatch": 0.3})
    a, b = simulate(base), simulate(slow)
    same = compare(base, a, a)
    assert same.ok and same.ks_wait == 0.0
    diff = compare(base, a, b, tolerance=0.15)
    assert not diff.ok
    missed = {f.figure: f for f in diff.figures if not f.ok}
    assert "wait_mean" in missed and "delivery" in missed["wait_mean"].likely_cause
    assert diff.ks_wait > 0.1
    assert diff.flows_sim == diff.flows_live  # same tasks, same paths


def test_relative_difference():
    assert relative_difference(2.0, 3.0) == 0.5
    assert relative_difference(0.0, 0.0) == 0.0
    assert relative_difference(0.0, 1.0) is None


def test_a_lower_live_throughput_is_called_slower_and_the_headline_names_the_worst_miss():
    """Half the throughput live is the live run being slower, not faster; and the headline is
    one line that says match or names the worst miss."""
    from sim.analysis.compare import live_was_slower

    assert live_was_slower("throughput", -0.5) and not live_was_slower("throughput", 0.2)
    assert live_was_slower("wait_p95", 0.3) and not live_was_slower("sojourn_mean", -0.3)
    base = make(**{"run.tasks": 2000, "workers.count": 2, "arrivals.rate": 1.9})
    slow = base.replace(**{"overhead.record": 0.3})  # the pool saturates: throughput drops
    a, b = simulate(base), simulate(slow)
    diff = compare(base, a, b)
    throughput = next(f for f in diff.figures if f.figure == "throughput")
    assert throughput.relative_difference < -0.15 and "faster" not in throughput.likely_cause
    assert diff.headline().startswith("miss: ") and "worst " in diff.headline()
    same = compare(base, a, a)
    assert same.headline() == "match: every figure within 15% (or 0.05 apart)"


def test_a_difference_is_said_to_a_tenth_of_a_percent():
    """+15.1 % (a miss at 15 %) read as +15 % beside an ok +14.8 %; -0 % read as a change."""
    from sim.analysis.compare import percent

    assert [percent(d) for d in (0.151, 0.148, -0.0001, None)] == ["+15.1%", "+14.8%", "0.0%", "-"]


def test_the_simulation_beside_a_live_run_replays_its_send_times():
    """A burst the scenario puts at one instant, sent by a producer that lags: the simulation
    beside that run submits each task when the run sent it, says how far behind that was, and
    keeps every other draw (the same service times, so the same work)."""
    import numpy as np
    import pytest

    from sim.analysis.compare import producer_lag, sent_times, simulated_beside
    from sim.analysis.metrics import execution_spans

    sc = make(
        **{
            "run.tasks": 200,
            "arrivals.process": "burst",
            "arrivals.burst_size": 100,
            "arrivals.rate": 1.0,
            "overhead.model": "none",
        }
    )
    drawn = simulate(sc)
    late = np.sort(sent_times(drawn) + np.linspace(0.0, 9.5, 200))  # a 9.5 s send backlog
    live = simulate(sc, arrivals=late)  # what the live run's producer did
    beside = simulated_beside(sc, live, time_scale=1.0)
    assert sent_times(beside) == pytest.approx(late, abs=1e-9)
    assert producer_lag(sc, beside) == pytest.approx(9.5)
    assert producer_lag(sc, drawn) == 0.0
    spans = [execution_spans(t) for t in (drawn, beside)]
    assert sorted(spans[0]["end"] - spans[0]["start"]) == pytest.approx(
        sorted(spans[1]["end"] - spans[1]["start"])
    )
    with pytest.raises(ValueError, match="199 arrival times for 200 tasks"):
        simulate(sc, arrivals=late[:-1])


def test_a_run_read_back_from_a_file_is_simulated_on_its_own_send_times(tmp_path):
    """A file lists task ids in string order ('0', '1', '10', '100', …): the send times are
    still each task's own, so the simulation beside a run read back is the one beside it."""
    import numpy as np

    from sim.analysis.compare import sent_times, simulated_beside
    from sim.trace import read

    sc = make(**{"run.tasks": 150, "overhead.model": "none"})
    run = simulate(sc, arrivals=np.sort(np.random.default_rng(3).uniform(0.0, 60.0, 150)))
    run.write(tmp_path / "run.csv")
    again = read(tmp_path / "run.csv")
    assert again.task_ids[:3].tolist() == ["0", "1", "10"]
    assert np.array_equal(sent_times(again), sent_times(run))
    beside = [simulated_beside(sc, t, time_scale=1.0) for t in (run, again)]
    assert np.array_equal(beside[0].t, beside[1].t)


def test_a_costless_scenario_is_called_out_with_the_share_of_a_task_its_costs_would_be():
    """mmc sets overhead.model = "none" (the textbook queue); a live run pays Celery's late-ack
    hand-over (0.019 s wall), 95 % of a 1 s task at time scale 0.02, 2 % at 1."""
    from sim import scenario
    from sim.analysis.compare import costless

    mmc = scenario.load("scenarios/mmc.toml")
    assert "95% of a mean task at time scale 0.02" in costless(mmc, 0.02)
    assert "2% of a mean task at time scale 1)" in costless(mmc, 1.0)
    assert costless(mmc.replace(**{"overhead.model": "celery"}), 0.02) is None


def test_a_saturated_host_is_named_as_the_cause_of_a_timing_miss():
    """At 95 % host CPU the live timings are the host's (Celery's own work queued for the
    cores), its remedy as where it is said words it; at 50 % the usual cause stands; counts
    never blame the host."""
    base = make(**{"run.tasks": 1000, "workers.count": 4, "arrivals.rate": 3.0})
    a, b = simulate(base), simulate(base.replace(**{"overhead.dispatch": 0.3}))
    busy = {f.figure: f for f in compare(base, a, b, host_busy=0.95).figures if not f.ok}
    assert "CPUs were 95% busy" in busy["wait_mean"].likely_cause
    assert "run at a larger --time-scale" in busy["wait_mean"].likely_cause  # the CLI's
    paged = compare(base, a, b, host_busy=0.95, slower="slow down")  # as a page words it
    cause = {f.figure: f.likely_cause for f in paged.figures}["wait_mean"]
    assert cause.endswith("does not have; slow down or on a quieter host") and "--" not in cause
    quiet = {f.figure: f for f in compare(base, a, b, host_busy=0.5).figures if not f.ok}
    assert "delivery" in quiet["wait_mean"].likely_cause
    assert compare(base, a, b, host_busy=0.95).to_dict()["host_busy"] == 0.95
    assert _cause("tasks_failed", 1.0, 0.95).startswith("counts differ")


def test_a_miss_a_second_live_run_matches_is_named_run_to_run_variation():
    """Beside a second live run of the same draws (here: runs with other dispatch delays stand
    in), a miss the live run also shows against that second run, at least as far, is the real
    queue's own variation; a wider miss keeps the model's cause; verdicts do not change."""
    from sim.analysis.compare import beside_again

    sc = make(**{"run.tasks": 600, "workers.count": 4, "arrivals.rate": 3.2, "service.mean": 1.0})
    sim, live, second = (simulate(sc.replace(**{"overhead.dispatch": d})) for d in (0, 0.05, 0.3))
    result, again = compare(sc, sim, live, 0.02), compare(sc, second, live, 0.02)
    named = beside_again(result, again)
    assert [f.ok for f in named.figures] == [f.ok for f in result.figures]
    repeat = {f.figure: f for f in again.figures}
    kinds = set()
    for f in named.figures:
        if f.ok:
            continue
        other = repeat[f.figure]
        varies = not other.ok and abs(other.relative_difference) >= abs(f.relative_difference)
        assert f.likely_cause.startswith("run-to-run variation") == varies, f
        kinds.add(varies)
    assert kinds == {True, False}  # both kinds of miss are in this case


def summary(by_pool=None, by_queue=None, by_task=None):
    """A summary built by hand: every overall figure 1, the groups as given (one each if not)."""
    from sim.analysis.compare import COMPARED
    from sim.analysis.metrics import Summary

    one = {"x": {"utilization": 0.5, "queue_len_mean": 1.0}}
    return Summary(
        engine="sim",
        scenario="hand",
        seed=1,
        tasks_submitted=1,
        **dict.fromkeys(COMPARED, 1.0),
        by_task=by_task or one,
        by_queue=by_queue or one,
        by_pool=by_pool or one,
    )


def test_each_of_several_pools_and_queues_is_judged_as_the_overall_figure_is():
    """A pool 16 % busier live than simulated beside one as busy as modelled: the run's
    utilisation, the same in both, hid it; now it is a miss with utilisation's cause (the
    host's, when saturated; "faster" when the live pool was idler), as is a queue's longer mean
    length, while a queue near empty in both passes on the absolute allowance."""
    import pytest

    from sim import scenario
    from sim.analysis.compare import LIKELY_CAUSE, figures

    sc = scenario.load("scenarios/thumbnails_and_reports.toml")
    pools = {"fast": {"slots": 4, "utilization": 0.5}, "slow": {"slots": 6, "utilization": 0.6}}
    queues = {"fast": {"queue_len_mean": 2.0}, "slow": {"queue_len_mean": 0.01}}
    sim = summary(pools, queues)
    busier = summary(
        {**pools, "fast": {"slots": 4, "utilization": 0.58}},
        {"fast": {"queue_len_mean": 2.5}, "slow": {"queue_len_mean": 0.04}},  # +25 %, +300 %
    )
    judged = {f.figure: f for f in figures(sc, sim, busier)}
    assert [name for name in judged if name.startswith("by_")] == [
        "by_pool.fast.utilization",
        "by_pool.slow.utilization",
        "by_queue.fast.queue_len_mean",
        "by_queue.slow.queue_len_mean",
    ]
    missed = {name: f for name, f in judged.items() if not f.ok}
    assert set(missed) == {"by_pool.fast.utilization", "by_queue.fast.queue_len_mean"}
    assert judged["utilization"].ok and judged["by_pool.slow.utilization"].ok
    assert missed["by_pool.fast.utilization"].relative_difference == pytest.approx(0.16)
    assert missed["by_pool.fast.utilization"].likely_cause == LIKELY_CAUSE["utilization"]
    assert missed["by_queue.fast.queue_len_mean"].likely_cause == LIKELY_CAUSE["queue_len"]
    busy = {f.figure: f for f in figures(sc, sim, busier, host_busy=0.9)}
    assert "CPUs were 90% busy" in busy["by_pool.fast.utilization"].likely_cause
    idler = summary({**pools, "fast": {"slots": 4, "utilization": 0.4}}, queues)
    idle = {f.figure: f for f in figures(sc, sim, idler)}
    assert "faster than modelled" in idle["by_pool.fast.utilization"].likely_cause
    gone = {f.figure: f for f in figures(sc, sim, summary(by_queue=queues))}  # no such pools live
    assert gone["by_pool.fast.utilization"].live == 0.0 and not gone["by_pool.fast.utilization"].ok


@pytest.mark.parametrize(
    ("policy", "cost"),
    [
        ({"pools.fast.autoscale_max": 4}, "worker_seconds"),
        ({"pools.fast.node_autoscaler": "queue_length"}, "node_seconds"),
    ],
)
def test_a_pool_whose_capacity_comes_and_goes_names_it_as_a_cause_of_its_utilisation_miss(
    policy, cost
):
    """An --autoscale pool's utilisation is over the processes it had, a node autoscaler's over
    the nodes it had: a rate-limited scraper pool 30 % busier live was shrunk a keepalive tick
    sooner by Celery, not busier with its tasks, and the cause named only the slot's time
    outside the task body."""
    from sim import scenario
    from sim.analysis.compare import HAD, LIKELY_CAUSE, figures

    scaled = scenario.load("scenarios/thumbnails_and_reports.toml").replace(**policy)
    pools = {
        name: {"slots": slots, "utilization": 0.5, "worker_seconds": 100.0, "node_seconds": 50.0}
        for name, slots in (("fast", 4), ("slow", 6))
    }
    queues = {"fast": {"queue_len_mean": 2.0}, "slow": {"queue_len_mean": 0.01}}
    busier = summary({q: p | {"utilization": 0.65} for q, p in pools.items()})
    judged = {f.figure: f for f in figures(scaled, summary(pools, queues), busier)}
    assert judged["by_pool.fast.utilization"].likely_cause == (
        f"{LIKELY_CAUSE['utilization']}, or {HAD[cost]}: {LIKELY_CAUSE[cost]}"
    )
    assert judged["by_pool.slow.utilization"].likely_cause == LIKELY_CAUSE["utilization"]


def test_one_pool_one_queue_and_one_type_add_no_figure_and_several_types_keep_their_names():
    from sim.analysis.compare import COMPARED, PER_GROUP, figures
    from tests.sim.helpers import make

    sc = make()
    assert [f.figure for f in figures(sc, summary(), summary())] == list(COMPARED)
    nodes = make(**{"workers.node_autoscaler": "queue_length", "workers.max_nodes": 8})
    assert [f.figure for f in figures(nodes, summary(), summary())] == [*COMPARED, "node_seconds"]
    types = {t: dict.fromkeys(PER_GROUP["by_task"], 1.0) for t in ("thumbnail", "report")}
    named = [f.figure for f in figures(sc, summary(by_task=types), summary(by_task=types))]
    assert named[len(COMPARED) :] == [
        f"{t}.{name}" for t in ("thumbnail", "report") for name in PER_GROUP["by_task"]
    ]


def test_an_autoscaled_pool_whose_cost_missed_is_named_though_the_run_total_did_not():
    """Beside a fixed pool, an --autoscale pool that ran 30 % more processes live: the run's
    worker-seconds, which add the fixed pool's, read a few percent off and passed; the pool's
    own (``by_pool.fast.worker_seconds``) misses, with the cause of a worker-seconds miss. A
    fixed pool's are not compared (its slots over the makespan, compared already)."""
    import dataclasses

    from sim import scenario
    from sim.analysis.compare import LIKELY_CAUSE

    sc = scenario.load("scenarios/thumbnails_and_reports.toml").replace(
        **{
            "run.tasks": 600,
            "pools.fast.autoscale_max": 3,
            "pools.fast.autoscale_min": 1,
            "pools.slow.count": 12,
        }
    )
    sim = simulate(sc)
    live = dataclasses.replace(  # each up fast node ran one process more
        sim,
        capacity=tuple(
            (t, node, up, processes + int(up and node.startswith("fast")))
            for t, node, up, processes in sim.capacity
        ),
    )
    judged = {f.figure: f for f in compare(sc, sim, live).figures}
    assert judged["worker_seconds"].ok and abs(judged["worker_seconds"].relative_difference) < 0.15
    own = judged["by_pool.fast.worker_seconds"]
    assert not own.ok and own.relative_difference > 0.3
    assert own.likely_cause == LIKELY_CAUSE["worker_seconds"]
    assert "by_pool.slow.worker_seconds" not in judged


def test_a_node_autoscaled_pool_whose_nodes_missed_is_named_though_the_run_total_did_not():
    """Beside a fixed pool of 12 nodes, the reports' pool under a node autoscaler that kept a
    node more up all run live (a min_nodes of 2 where the model has 1): the run's node-seconds,
    which add the fixed pool's, read +7 % and passed; the pool's own
    (``by_pool.slow.node_seconds``), the figure a node autoscaler is sized for, misses by
    +48 % with the cause of a node-seconds miss. Its worker-seconds (node-seconds times
    --concurrency) and the fixed pool's costs are not compared."""
    import dataclasses

    from sim import scenario
    from sim.analysis.compare import LIKELY_CAUSE

    scaled = {
        "node_autoscaler": "queue_length",
        "max_nodes": 8,
        "node_target": 2,
        "node_interval": 5.0,
        "node_cooldown": 10.0,
        "node_start": 1.0,
    }
    sc = scenario.load("scenarios/thumbnails_and_reports.toml").replace(
        **{"run.tasks": 600, "pools.fast.count": 12}
        | {f"pools.slow.{k}": v for k, v in scaled.items()}
    )
    sim = simulate(sc)
    live = dataclasses.replace(
        sim,
        workers=(*sim.workers, "slow-99"),
        capacity=((0.0, "slow-99", True, 2), *sim.capacity),
    )
    judged = {f.figure: f for f in compare(sc, sim, live).figures}
    run = judged["node_seconds"]
    assert run.ok and 0 < run.relative_difference < 0.15
    own = judged["by_pool.slow.node_seconds"]
    assert not own.ok and own.relative_difference > 0.3
    assert own.likely_cause == LIKELY_CAUSE["node_seconds"]
    assert own.live - own.sim == pytest.approx(live.t.max(), rel=1e-9)  # the node held all run
    compared = set(judged)
    assert not compared & {"worker_seconds", "by_pool.slow.worker_seconds"}
    assert not compared & {"by_pool.fast.node_seconds", "by_pool.fast.worker_seconds"}
