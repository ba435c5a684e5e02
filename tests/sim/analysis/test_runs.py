import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import scenario
from sim.analysis import groups, metrics, runs
from sim.analysis.cost import capacity_cost
from sim.engine.model import simulate
from sim.rules.states import NAMES
from sim.scenario import ScenarioError
from sim.strategies import scenarios
from tests.sim.helpers import joined_as, make


def test_a_summary_takes_slots_name_and_seed_from_the_scenario():
    sc = make(**{"run.tasks": 300, "workers.count": 3, "workers.concurrency": 2, "seed": 7})
    trace = simulate(sc)
    s = runs.summarize(trace, sc, engine="live")
    plain = metrics.summarize(trace, 6, engine="live", scenario=sc.name, seed=7)
    by_group = groups.by_group(metrics.tally(trace), {"workers": ([0, 1, 2], 6)})
    assert s == dataclasses.replace(plain, **by_group)
    assert runs.summarize(trace, sc, seed=9).seed == 9


def test_pools_group_the_workers_the_scenario_names_for_them():
    sc = make(**{"run.tasks": 300}).replace(
        pools=[
            {"name": "a", "queues": ["celery"], "count": 2},
            {"name": "b", "queues": ["celery"], "count": 1, "concurrency": 3},
        ]
    )
    trace = simulate(sc)
    assert trace.workers == ("a-1", "a-2", "b-1")
    assert runs.pools(trace, sc) == {"a": ([0, 1], 2), "b": ([2], 3)}
    by_pool = runs.summarize(trace, sc).by_pool
    assert by_pool["a"]["executions"] + by_pool["b"]["executions"] == 300


def test_a_node_that_joined_a_live_run_counts_in_the_first_pool_by_its_capacity_rows():
    """A node the scenario does not name joined a live run (`queuelab worker`) and serves the
    first pool: here pool a's third node of a simulated run, renamed, with its capacity rows.
    Its executions, worker-seconds and slot-seconds count in that pool and the run, whose
    figures are then those of the run that named it; with its busy time over the named nodes'
    slots alone the run's utilisation read 4/3 of its own, pool a's executions missed its."""
    pools = [
        {"name": "a", "queues": ["celery"], "count": 3},
        {"name": "b", "queues": ["celery"], "count": 1, "concurrency": 2},
    ]
    sc = make(**{"run.tasks": 600, "arrivals.rate": 4.0}).replace(pools=pools)
    trace = simulate(sc)
    joined = joined_as(trace, "a-3", "vm-w1")
    own = sc.replace(**{"pools.a.count": 2})
    assert runs.joined_nodes(joined, own) == ["vm-w1"]
    assert runs.pools(joined, own) == {"a": ([0, 1, 2], 2), "b": ([3], 2)}
    whole, read = runs.summarize(trace, sc), runs.summarize(joined, own)
    assert read.utilization == pytest.approx(whole.utilization) and read.utilization <= 1
    assert read.worker_seconds == whole.worker_seconds
    for figure in ("executions", "utilization", "worker_seconds", "node_seconds"):
        assert read.by_pool["a"][figure] == pytest.approx(whole.by_pool["a"][figure])
    assert sum(p["worker_seconds"] for p in read.by_pool.values()) == read.worker_seconds


def test_tasks_in_system_are_the_waiting_ones_and_the_busy_slots():
    sc = make(**{"run.tasks": 2000, "workers.count": 4, "arrivals.rate": 3.0})
    s = runs.summarize(simulate(sc), sc)
    assert runs.in_system_mean(s, sc) == s.queue_len_mean + 4 * s.utilization
    # Little's law: L = λW
    assert runs.in_system_mean(s, sc) == pytest.approx(s.throughput * s.sojourn_mean, rel=0.05)


def test_a_warmup_leaves_the_early_tasks_and_time_out_of_the_figures_but_not_the_counts():
    """Checked against the trace row by row: latencies of the tasks submitted after the
    warm-up, busy slot-seconds and endings after it over the time after it."""
    sc = make(**{"run.tasks": 3000, "workers.count": 4, "arrivals.rate": 3.4, "run.warmup": 200.0})
    trace = simulate(sc)
    s, whole = runs.summarize(trace, sc), runs.summarize(trace, sc.replace(**{"run.warmup": 0.0}))
    rows = list(zip(trace.task.tolist(), trace.state.tolist(), trace.t.tolist(), strict=True))
    first: dict[tuple[int, str], float] = {}
    for task, state, t in rows:
        first.setdefault((task, NAMES[state]), t)
    after = [task for (task, state), t in first.items() if state == "PENDING" and t >= 200.0]
    waits = [first[task, "STARTED"] - first[task, "PENDING"] for task in after]
    assert s.wait_mean == pytest.approx(sum(waits) / len(waits), rel=1e-12)
    assert s.wait_mean != pytest.approx(whole.wait_mean, rel=1e-3)  # the start is different
    ends = [t for (task, state), t in first.items() if state == "SUCCESS" and t >= 200.0]
    span = s.makespan - 200.0
    assert s.throughput == pytest.approx(len(ends) / span, rel=1e-12)
    busy, started = 0.0, {}
    for task, state, t in rows:
        if NAMES[state] == "STARTED":
            started[task] = t
        elif NAMES[state] == "SUCCESS":
            busy += max(t, 200.0) - max(started.pop(task), 200.0)
    assert s.utilization == pytest.approx(busy / 4 / span, rel=1e-9)
    assert s.by_pool["workers"]["utilization"] == pytest.approx(s.utilization, rel=1e-9)
    assert s.by_task["task"]["wait_mean"] == pytest.approx(s.wait_mean, rel=1e-12)
    assert (s.tasks_submitted, s.tasks_succeeded) == (whole.tasks_submitted, 3000)


def test_a_warmup_longer_than_the_arrivals_is_refused_naming_the_field():
    with pytest.raises(ScenarioError, match=r"run.warmup = 900 must be < 882\.353 s"):
        make(**{"run.tasks": 3000, "arrivals.rate": 3.4, "run.warmup": 900.0})


def busy_seconds(trace, since: float = 0.0) -> float:
    start, end = metrics.executions(trace)
    return float((metrics.after(end, since) - metrics.after(start, since)).sum())


def draining_seconds(trace, since: float = 0.0) -> float:
    """Seconds executions ran after ``since`` on nodes not up, interval by interval."""
    down: dict[str, list[tuple[float, float]]] = {}
    rows = {}
    for t, node, up, _ in [*trace.capacity, *((trace.t.max(), n, True, 0) for n in trace.workers)]:
        if node in rows and not rows[node][1]:
            down.setdefault(node, []).append((rows[node][0], t))
        rows[node] = (t, up)
    start, end = metrics.executions(trace)
    worker = metrics.execution_spans(trace)["worker"]
    return sum(
        max(0.0, min(e, b) - max(s, a, since))
        for s, e, w in zip(start, end, worker, strict=True)
        for a, b in down.get(trace.workers[w], [])
    )


def test_a_node_autoscaled_pool_is_busy_over_the_worker_seconds_it_had_not_its_first_nodes():
    """node_autoscale_cycle shortened to 40 minutes: 2 starting nodes, up to 12. Over the 2
    starting slots its busy time gave 1.98; over the worker-seconds alive, and the seconds a
    removed node's warm shutdown ran its last tasks, it is below 1."""
    sc = make(
        **{
            "run.duration": 2400.0,
            "arrivals.process": "cycle",
            "arrivals.rate": 2.0,
            "arrivals.amplitude": 0.8,
            "arrivals.period": 2400.0,
            "service.mean": 2.0,
            "workers.count": 2,
            "workers.node_autoscaler": "queue_length",
            "workers.max_nodes": 12,
        }
    )
    trace = simulate(sc)
    s = runs.summarize(trace, sc)
    drained = draining_seconds(trace)
    assert drained > 0  # removed nodes drained
    had = s.worker_seconds + drained
    assert s.utilization == pytest.approx(busy_seconds(trace) / had, rel=1e-12)
    assert 0.3 < s.utilization < 1.0 < busy_seconds(trace) / (2 * s.makespan)
    assert s.by_pool["workers"]["utilization"] == pytest.approx(s.utilization, rel=1e-12)
    assert s.by_pool["workers"]["slots"] == 2  # the starting nodes, as before
    warm = sc.replace(**{"run.warmup": 600.0})
    w = runs.summarize(trace, warm)
    alive = capacity_cost(trace.capacity, w.makespan, start=600.0)[0]
    alive += draining_seconds(trace, 600.0)
    assert w.utilization == pytest.approx(busy_seconds(trace, 600.0) / alive, rel=1e-12)
    assert runs.in_system_mean(s, sc) == pytest.approx(s.throughput * s.sojourn_mean, rel=0.05)


def test_an_autoscale_pool_is_busy_over_its_processes_and_a_static_one_beside_it_over_slots():
    sc = make(
        **{
            "run.tasks": 600,
            "arrivals.process": "burst",
            "arrivals.burst_size": 200,
            "arrivals.rate": 1.0,
            "service.mean": 2.0,
        }
    ).replace(
        pools=[
            {
                "name": "scaled",
                "queues": ["celery"],
                "count": 1,
                "autoscale_max": 8,
                "autoscale_min": 1,
            },
            {"name": "fixed", "queues": ["celery"], "count": 2, "concurrency": 2},
        ]
    )
    trace = simulate(sc)
    s = runs.summarize(trace, sc)
    members = runs.pools(trace, sc)
    scaled = capacity_cost(trace.capacity, s.makespan, nodes={"scaled-1"})[0]
    assert scaled < 8 * s.makespan  # the pool shrank between bursts
    busy = {
        name: float(
            sum(
                e - b
                for b, e, w in zip(
                    *metrics.executions(trace),
                    metrics.execution_spans(trace)["worker"],
                    strict=True,
                )
                if w in workers
            )
        )
        for name, (workers, _) in members.items()
    }
    assert s.by_pool["scaled"]["utilization"] == pytest.approx(busy["scaled"] / scaled, rel=1e-9)
    assert s.by_pool["fixed"]["utilization"] == pytest.approx(
        busy["fixed"] / 4 / s.makespan, rel=1e-9
    )
    whole = scaled + 4 * s.makespan
    assert s.utilization == pytest.approx(busy_seconds(trace) / whole, rel=1e-9)


def test_each_pool_pays_its_own_nodes_and_the_pools_add_up_to_the_run():
    """thumbnails_and_reports with the thumbnails' pool under --autoscale 3,1 and the reports'
    under a node autoscaler: each pool's worker- and node-seconds are its own nodes', so a
    pool's cost miss is not hidden in the run's total, and the pools' sum to the run's, in the
    summary of the trace and in the summary-only run alike."""
    sc = two_scaled_pools()
    trace = simulate(sc)
    s = runs.summarize(trace, sc)
    fast, slow = s.by_pool["fast"], s.by_pool["slow"]
    assert (fast["worker_seconds"], fast["node_seconds"]) == capacity_cost(
        trace.capacity, s.makespan, nodes={"fast-1", "fast-2", "fast-3", "fast-4"}
    )
    assert fast["worker_seconds"] < 3 * fast["node_seconds"]  # it shrank below --autoscale's MAX
    assert slow["worker_seconds"] == 2 * slow["node_seconds"]  # --concurrency 2 on each node
    assert fast["node_seconds"] + slow["node_seconds"] == pytest.approx(s.node_seconds, rel=1e-12)
    total = fast["worker_seconds"] + slow["worker_seconds"]
    assert total == pytest.approx(s.worker_seconds, rel=1e-12)
    assert slow["node_seconds"] != pytest.approx(3 * s.makespan)  # its nodes came and went
    assert runs.simulated(sc) == s


def two_scaled_pools(node_start: float = 1.0):
    """thumbnails_and_reports, 800 tasks, the thumbnails' pool under --autoscale 3,1 and the
    reports' under a node autoscaler whose nodes consume ``node_start`` seconds after it adds
    them."""
    from sim import scenario

    slow = {**NODE_AUTOSCALER, "workers.node_start": node_start}
    return scenario.load("scenarios/thumbnails_and_reports.toml").replace(
        **{
            "run.tasks": 800,
            "pools.fast.autoscale_max": 3,
            "pools.fast.autoscale_min": 1,
            **{k.replace("workers.", "pools.slow."): v for k, v in slow.items()},
        }
    )


def test_a_trace_read_back_pays_each_pool_for_its_nodes_that_ran_no_task(tmp_path):
    """A node the reports' autoscaler added that came up 20 s later, once the backlog it was
    added for had drained, ran no task: no row of the trace names it, only its capacity rows.
    Read back from its file, the trace knows it all the same, so each pool's worker- and
    node-seconds are those of the run in memory and the pools add up to the run's (without it,
    lesson 18's pool read back paid for 30 % of the run's node-seconds)."""
    from sim.trace import read

    sc = two_scaled_pools(node_start=20.0)
    trace = simulate(sc)
    ran = {trace.workers[i] for i in set(trace.worker.tolist()) - {-1}}
    idle = [n for n in trace.workers if n not in ran]
    idle_cost = capacity_cost(trace.capacity, float(trace.t.max()), nodes=idle)
    assert idle_cost[1] > 0  # up, paid for, and ran nothing
    trace.write(tmp_path / "run.csv")
    back = read(tmp_path / "run.csv")
    memory, read_back = runs.summarize(trace, sc), runs.summarize(back, sc)
    for cost in ("worker_seconds", "node_seconds"):
        pools = [read_back.by_pool[p][cost] for p in ("fast", "slow")]
        assert sum(pools) == pytest.approx(getattr(read_back, cost), rel=1e-12)
        assert pools == pytest.approx([memory.by_pool[p][cost] for p in ("fast", "slow")])
    assert read_back.by_pool["slow"]["utilization"] == pytest.approx(
        memory.by_pool["slow"]["utilization"], rel=1e-9
    )
    assert set(back.workers) == set(trace.workers)


NODE_AUTOSCALER = {
    "workers.node_autoscaler": "queue_length",
    "workers.max_nodes": 8,
    "workers.node_target": 2,
    "workers.node_interval": 5.0,
    "workers.node_cooldown": 10.0,
    "workers.node_start": 1.0,
}


@given(scenarios(max_tasks=150, autoscale=True), st.sampled_from([2.0, 5.0, 20.0]), st.booleans())
def test_utilisation_is_at_most_one_under_autoscale_deploys_and_a_node_autoscaler(sc, every, nodes):
    """Busy slot-seconds over those the pool had: a draining node's running tasks count in both
    (they counted only in the busy time: below, a pool read 1.11)."""
    sc = sc.replace(**{"workers.deploy_every": every}, **(NODE_AUTOSCALER if nodes else {}))
    s = runs.simulated(sc)
    assert 0 <= s.utilization <= 1 + 1e-12
    assert s.by_pool["workers"]["utilization"] == pytest.approx(s.utilization, rel=1e-12)


def test_a_pool_under_autoscale_with_rolling_deploys_is_busy_over_what_its_drains_ran_too():
    """mmc's queue on one node of --autoscale 4,1 redeployed every 5 s."""
    sc = make(
        **{
            "run.tasks": 400,
            "arrivals.rate": 3.2,
            "ack.late": True,
            "workers.prefetch_multiplier": 1,
            "overhead.model": "none",
            "workers.count": 1,
            "workers.autoscale_max": 4,
            "workers.autoscale_min": 1,
            "workers.deploy_every": 5.0,
            "service.mean": 1.0,
        }
    )
    trace = simulate(sc)
    s = runs.summarize(trace, sc)
    drained = draining_seconds(trace)
    assert busy_seconds(trace) / s.worker_seconds > 1.05  # what it read
    assert s.utilization == pytest.approx(busy_seconds(trace) / (s.worker_seconds + drained))
    assert s.utilization <= 1


def test_a_trace_files_warmup_is_judged_by_its_own_arrivals(tmp_path):
    """A recording's file of 100 arrivals over 99 s (1 a second): the span was taken as
    run.tasks / arrivals.rate, the rate's unused default 7.2, 13.9 s, and a warm-up of 20 s
    was refused. A warm-up past its last arrival is still refused, naming it."""
    (tmp_path / "arrivals.csv").write_text("t\n" + "".join(f"{t}\n" for t in range(100)))
    text = '[run]\ntasks = 100\n[arrivals]\nprocess = "trace"\nfile = "arrivals.csv"\n'
    (tmp_path / "rec.toml").write_text(text)
    sc = scenario.load(tmp_path / "rec.toml", ["run.warmup=20"])
    whole = runs.simulated(sc.replace(**{"run.warmup": 0.0}), 1)
    s = runs.simulated(sc, 1)
    assert s.tasks_submitted == whole.tasks_submitted == 100  # the counts cover the whole run
    assert s.makespan == whole.makespan and s.throughput != whole.throughput  # from t = 20
    late = scenario.load(tmp_path / "rec.toml", ["run.warmup=120"])
    with pytest.raises(ScenarioError, match=r"run\.warmup = 120 must be <= 99 s, the last arrival"):
        runs.simulated(late, 1)


def test_a_scenario_of_which_no_task_ends_says_the_executions_it_costs():
    """The CLI's warning said only that a task is followed through 1,000 retries; Explore's
    box counted the run's executions apart. One text now gives both, a task's and a run's: a
    type of half the tasks failing every attempt of inf retries, the other never failing."""
    sc = scenario.loads(
        "[run]\ntasks = 100\n"
        '[[tasks]]\nname = "doomed"\nshare = 0.5\n'
        "[tasks.failures]\nprobability = 1.0\n[tasks.retry]\nmax_retries = inf\n"
        '[[tasks]]\nname = "fine"\n'
    )
    said = runs.endless(sc)
    assert said.startswith("max_retries = inf and failure probability 1 (task types doomed): ")
    assert "through 1000 retries (about 501 executions a task, 50,100 a run)" in said
    assert runs.endless(make(**{"run.tasks": 20})) == ""


OUTAGE_FOR_EVER = """
[run]
tasks = 20
[retry]
max_retries = inf
countdown = 1.0
[[failures.outage]]
start = 0.0
end = 100000.0
probability = 1.0
"""


def test_an_outage_past_every_retry_is_endless_and_its_run_says_its_tasks_never_ended():
    """An outage of probability 1 from 0 past the run's arrivals and its 1,000 retries'
    countdowns (20 tasks at 7.2/s and 1 s each: about 1,003 s) fails every attempt the
    simulator follows, as failure probability 1 does: it gave no warning (``never_ends`` read
    failures.probability alone), and the run's sojourn 0 and throughput 0 read as a perfect
    queue. The run says how many never ended, the same from a trace or a summary-only run."""
    sc = scenario.loads(OUTAGE_FOR_EVER)
    said = runs.endless(sc)
    assert said.startswith(
        "max_retries = inf and failures.outage of probability 1 from 0 to 100000 s, past the "
        "run's arrivals and the least its 1000 retries wait (about 1,003 s): "
    )
    assert "(about 1,001 executions a task, 20,020 a run)" in said
    summary_only = runs.simulated(sc)
    traced = runs.summarize(simulate(sc), sc)
    assert summary_only.tasks_lost == traced.tasks_lost == 20
    assert summary_only.sojourn_p95 == summary_only.throughput == 0
    told = runs.unfinished(summary_only, sc)
    assert told == runs.unfinished(traced, sc)
    assert told.startswith("20 of 20 tasks never ended (retried for ever, failing every attempt")
    assert told.endswith("are those of the 0 that ended, and read 0 as none did")


def test_an_outage_that_ends_before_the_retries_do_is_not_endless_and_its_tasks_end():
    """Over by 500 s, before the 1,000 retries' countdowns of 1 s are over: every task ends,
    and nothing is said before or after the run."""
    sc = scenario.loads(OUTAGE_FOR_EVER.replace("100000.0", "500.0"))
    assert runs.endless(sc) == ""
    s = runs.simulated(sc)
    assert s.tasks_succeeded == 20 and runs.unfinished(s, sc) == ""


def test_a_run_that_lost_tasks_says_how_many_of_its_figures_they_are_not_in():
    """Tasks lost otherwise (here a node killed under early ack) are counted too, without a
    cause the scenario cannot tell; the trace and the summary-only run agree."""
    sc = make(**{"run.tasks": 300, "failures.crash_probability": 0.05})
    summary_only, traced = runs.simulated(sc), runs.summarize(simulate(sc), sc)
    lost = summary_only.tasks_lost
    assert lost == traced.tasks_lost > 0
    ended = summary_only.tasks_succeeded + summary_only.tasks_failed
    expected = (
        f"{lost} of 300 tasks never ended, counted in tasks_lost: a task's sojourn runs to its "
        f"SUCCESS or FAILURE, so the sojourn figures and the throughput are those of the "
        f"{ended} that ended"
    )
    assert runs.unfinished(summary_only, sc) == runs.unfinished(traced, sc) == expected
