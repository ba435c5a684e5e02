import math

import numpy as np
import pytest

from sim import scenario
from sim.analysis import analytic
from tests.sim.helpers import make


@pytest.mark.parametrize(("lam", "c", "wq"), [(3.2, 4, 0.7455), (2.8, 4, 0.3572), (7.2, 8, 0.8769)])
def test_erlang_c_reference_values(lam, c, wq):
    assert analytic.mmc_wait(lam, 1.0, c) == pytest.approx(wq, abs=5e-5)


def test_mm1_has_closed_forms():
    lam, s = 0.5, 1.0
    assert analytic.erlang_c(lam, s, 1) == pytest.approx(0.5)  # P(wait) = ρ
    assert analytic.mmc_wait(lam, s, 1) == pytest.approx(1.0)  # ρ/(μ − λ)


def test_erlang_b_is_stable_for_large_pools():
    assert 0 < analytic.erlang_c(900, 1.0, 1000) < 1


def test_little_and_the_tail():
    r = analytic.analyze(3.2, 1.0, 4)
    assert r.queue_len_mean == pytest.approx(3.2 * r.wait_mean)
    assert r.in_system_mean == pytest.approx(3.2 * (r.wait_mean + 1.0))
    assert analytic.mmc_wait_exceeds(r.wait_p95, 3.2, 1.0, 4) == pytest.approx(0.05)


def test_allen_cunneen_reduces_to_erlang_c_for_exponential():
    assert analytic.allen_cunneen(3.2, 1.0, 4, 1.0, 1.0) == analytic.mmc_wait(3.2, 1.0, 4)
    assert analytic.allen_cunneen(3.2, 1.0, 4, 1.0, 0.0) == pytest.approx(0.5 * 0.7455, abs=1e-4)


def test_kingman_is_mm1_for_exponential():
    assert analytic.kingman(0.8, 1.0, 1.0, 1.0) == pytest.approx(analytic.mmc_wait(0.8, 1.0, 1))


def test_unstable_load_is_refused_with_a_remedy():
    with pytest.raises(analytic.UnstableError, match="at least 5 workers"):
        analytic.erlang_c(4.5, 1.0, 4)
    assert math.isclose(analytic.utilization(3.2, 1.0, 4), 0.8)


def test_sojourn_tail_reduces_to_mm1():
    # M/M/1: the sojourn is exponential with rate μ − λ
    assert analytic.mmc_sojourn_exceeds(2.0, 0.5, 1.0, 1) == pytest.approx(math.exp(-0.5 * 2.0))
    assert analytic.mmc_sojourn_quantile(0.95, 0.5, 1.0, 1) == pytest.approx(math.log(20) / 0.5)


def test_sojourn_quantile_matches_the_simulator():
    from sim.analysis.metrics import sojourns
    from sim.engine.model import simulate
    from tests.sim.helpers import make

    sc = make(
        **{
            "workers.count": 4,
            "arrivals.rate": 3.2,
            "workers.prefetch_multiplier": 1,
            "ack.late": True,
            "run.tasks": 200_000,
            "overhead.model": "none",
        }
    )
    p95 = float(np.percentile(sojourns(simulate(sc)), 95))
    assert p95 == pytest.approx(analytic.mmc_sojourn_quantile(0.95, 3.2, 1.0, 4), rel=0.04)


@pytest.mark.parametrize(
    ("fields", "rho", "needed"),
    [
        ({"arrivals.rate": 3.2, "workers.count": 4}, 0.8, 4),
        ({"arrivals.rate": 5.0, "workers.count": 4}, 1.25, 6),  # as `queuelab analytic` says
        ({"arrivals.rate": 4.0, "workers.count": 4}, 1.0, 5),  # ρ = 1 exactly never drains
        ({"arrivals.process": "constant", "arrivals.rate": 5.0, "workers.count": 4}, 1.25, 6),
        # uniform service: mean (0.5 + 3.5) / 2 = 2
        (
            {
                "arrivals.rate": 3.0,
                "service.dist": "uniform",
                "service.low": 0.5,
                "service.high": 3.5,
                "workers.count": 4,
            },
            1.5,
            7,
        ),
        # 4 slots per worker on 2 cores: only 2 per worker compute at full speed
        (
            {
                "arrivals.rate": 9.0,
                "workers.count": 4,
                "workers.concurrency": 4,
                "workers.cores": 2,
            },
            1.125,
            5,
        ),
        # repeated bursts have their long-run rate
        (
            {
                "arrivals.process": "burst",
                "arrivals.rate": 5.0,
                "arrivals.burst_size": 100,
                "run.tasks": 1000,
                "workers.count": 4,
            },
            1.25,
            6,
        ),
        # a rate that varies over time: its mean, arrivals.rate (the peaks pass it)
        (
            {"arrivals.process": "cycle", "arrivals.amplitude": 0.8, "arrivals.rate": 3.2},
            0.4,
            4,
        ),
        (
            {"arrivals.process": "piecewise", "arrivals.rates": [1.0, 9.0], "workers.count": 4},
            1.25,
            6,
        ),
    ],
)
def test_traffic_intensity_of_a_scenario(fields, rho, needed):
    sc = make(**fields)
    assert analytic.traffic_intensity(sc) == pytest.approx(rho)
    assert analytic.workers_to_keep_up(sc) == needed
    assert analytic.traffic_intensity(sc.replace(**{"workers.count": needed})) < 1
    warning = analytic.overload_warning(sc)
    if rho < 1:
        assert warning is None
    else:
        assert f"ρ = {rho:.2f} ≥ 1 at 4 workers" in warning
        assert "not a steady state" in warning and f"at least {needed} workers" in warning


def test_retries_of_failed_attempts_are_work_the_pool_must_keep_up_with():
    """flaky_api with nine attempts in ten failing and 10 retries: 6.9 executions a task, ρ
    2.6 on its 8 slots, where λs/c is 0.375; the page showed its 1,975 s p95 sojourn and
    Erlang C's mean wait beside it with no word that the queue never drains."""
    flaky = scenario.load("scenarios/flaky_api.toml")
    # 20 % failing, 5 retries: 1 + 0.2 + … + 0.2^5 = 1.25 executions a task (45 % simulated)
    assert analytic.traffic_intensity(flaky) == pytest.approx(0.375 * (1 - 0.2**6) / 0.8)
    assert analytic.overload_warning(flaky) is None
    failing = flaky.replace(**{"failures.probability": 0.9, "retry.max_retries": 10})
    executions = (1 - 0.9**11) / 0.1
    assert analytic.traffic_intensity(failing) == pytest.approx(0.375 * executions)
    warning = analytic.overload_warning(failing)
    assert warning.startswith("ρ = 2.57 ≥ 1 at 4 workers, counting failed attempts' retries:")
    assert analytic.workers_to_keep_up(failing) == 11  # 10 × 0.3 × 6.86 = 20.6 slot-s/s, 2 a node
    # retried for ever: the simulator follows a task through 1,000 retries
    forever = flaky.replace(**{"failures.probability": 0.5, "retry.max_retries": math.inf})
    assert analytic.traffic_intensity(forever) == pytest.approx(0.375 * (2 - 0.5**1000))
    # ... and one that always fails never ends, which a warning of its own says
    endless = forever.replace(**{"failures.probability": 1.0})
    assert analytic.traffic_intensity(endless) == pytest.approx(0.375)
    assert analytic.overload_warning(endless) is None


def test_a_single_burst_has_no_rate_to_be_overloaded_by():
    # 5000 tasks at once at "rate" 100: the waits grow with the burst, not with the run
    sc = make(
        **{
            "arrivals.process": "burst",
            "arrivals.rate": 100.0,
            "arrivals.burst_size": 5000,
            "run.tasks": 5000,
            "workers.count": 1,
        }
    )
    assert analytic.traffic_intensity(sc) is None and analytic.overload_warning(sc) is None
    assert analytic.workers_to_keep_up(sc) is None


def test_a_traces_rate_comes_from_the_arrivals_it_replays(tmp_path):
    arrivals = tmp_path / "arrivals.txt"
    arrivals.write_text("\n".join(str(t) for t in [5, 6, 7, 8, 9, 10, 1000]))  # 1 per second
    sc = make(
        **{
            "arrivals.process": "trace",
            "arrivals.file": str(arrivals),
            "run.tasks": 6,
            "service.mean": 2.0,
            "workers.count": 1,
        }
    )
    assert analytic.arrival_rate(sc) == pytest.approx(1.0)  # arrivals.rate (7.2) is not used
    assert analytic.traffic_intensity(sc) == pytest.approx(2.0)
    assert analytic.overload_warning(sc).startswith("ρ = 2.00 ≥ 1 at 1 worker:")
    at_once = tmp_path / "at_once.txt"
    at_once.write_text("3\n3\n3\n")
    assert analytic.arrival_rate(sc.replace(**{"arrivals.file": str(at_once)})) is None


def test_erlang_c_applies_only_to_one_shared_work_conserving_queue():
    from sim import scenario

    mmc = scenario.load("scenarios/mmc.toml")
    assert analytic.mmc_applies(mmc)
    for change in (
        {"workers.prefetch_multiplier": 4},  # a busy worker reserves what an idle one could run
        {"ack.late": False},  # early ack: multiplier 1 still reserves one (lesson 02)
        {"service.dist": "constant"},
        {"failures.probability": 0.1},
        {"overhead.dispatch": 0.01},
        {"overhead.model": "celery"},
        # a pool that grows and shrinks has no fixed c
        {"workers.autoscale_max": 4, "workers.autoscale_min": 1},
        {"workers.node_autoscaler": "queue_length"},
    ):
        assert not analytic.mmc_applies(mmc.replace(**change)), change
    # --autoscale 4,4 is a fixed pool of 4 processes a worker: on mmc's 4 workers at 12/s, the
    # M/M/16 queue; it was weighed as 4 slots of its unread concurrency, and drew no Erlang line
    fixed = mmc.replace(
        **{"workers.autoscale_max": 4, "workers.autoscale_min": 4, "arrivals.rate": 12.0}
    )
    assert analytic.mmc_applies(fixed)
    assert analytic.mmc_sojourn_quantiles(fixed, (4,)) == {
        4: analytic.mmc_sojourn_quantile(0.95, 12.0, 1.0, 16)
    }
    assert analytic.mmc_applies(mmc.replace(**{"workers.concurrency": 2}))  # c = all slots


def test_erlang_c_quantiles_only_where_the_scenario_is_mmc_and_stable():
    from sim import scenario

    mmc = scenario.load("scenarios/mmc.toml")  # λ 3.2, service 1 s
    quantiles = analytic.mmc_sojourn_quantiles(mmc, (3, 4, 8))
    assert list(quantiles) == [4, 8]  # 3 workers cannot keep up
    assert quantiles[4] == analytic.mmc_sojourn_quantile(0.95, 3.2, 1.0, 4)
    two = analytic.mmc_sojourn_quantiles(mmc.replace(**{"workers.concurrency": 2}), (2,))
    assert two == {2: analytic.mmc_sojourn_quantile(0.95, 3.2, 1.0, 4)}  # c = all slots
    assert analytic.mmc_sojourn_quantiles(mmc.replace(**{"ack.late": False}), (4,)) is None


def test_the_mean_sojourn_is_the_wait_then_the_service():
    assert analytic.mmc_sojourn_mean(3.2, 1.0, 4) == analytic.analyze(3.2, 1.0, 4).sojourn_mean
    assert analytic.mmc_sojourn_mean(0.5, 1.0, 1) == pytest.approx(1 / (1 - 0.5))  # M/M/1


def test_cobham_with_one_class_is_erlang_c():
    assert analytic.cobham_waits([3.2], 1.0, 4)[0] == pytest.approx(analytic.mmc_wait(3.2, 1.0, 4))


def test_each_pool_carries_the_work_routed_to_its_queues():
    sc = scenario.loads(
        """
        [arrivals]
        rate = 10.0
        [[tasks]]
        name = "quick"
        share = 0.8
        queue = "fast"
        [tasks.service]
        mean = 0.25
        [[tasks]]
        name = "long"
        queue = "slow"
        [tasks.service]
        mean = 2.0
        [[pools]]
        name = "fast"
        queues = ["fast"]
        count = 4
        [[pools]]
        name = "slow"
        queues = ["slow"]
        count = 3
        """
    )
    # fast: 8/s × 0.25 s on 4 slots = 0.5; slow: 2/s × 2 s on 3 slots = 1.33
    assert analytic.pool_intensities(sc) == pytest.approx({"fast": 0.5, "slow": 4 / 3})
    assert analytic.traffic_intensity(sc) == pytest.approx(4 / 3)
    assert analytic.workers_to_keep_up(sc, "slow") == 5
    assert analytic.overload_warning(sc).startswith("pool slow: ρ = 1.33 ≥ 1 at 3 workers:")
    assert not analytic.mmc_applies(sc)


TWO_POOLS = """
[arrivals]
rate = 6.0
[[tasks]]
name = "quick"
share = 0.5
queue = "fast"
[tasks.service]
mean = 0.25
[[tasks]]
name = "long"
queue = "slow"
[tasks.service]
mean = 1.0
[[tasks]]
name = "export"
queue = "slow"
[tasks.service]
dist = "constant"
mean = 0.5
[[pools]]
name = "fast"
queues = ["fast"]
count = 1
[[pools]]
name = "slow"
queues = ["slow"]
count = 3
"""


def test_each_pool_alone_on_its_queues_has_the_textbook_wait_of_the_mix_it_runs():
    """fast: M/M/1 at 3/s × 0.25 s. slow: 1.5/s of each of an exponential 1 s and a constant
    0.5 s, a mix of mean 0.75 s and second moment (2 + 0.25) / 2 = 1.125 s², so cs² = 1.125 /
    0.5625 − 1 = 1: Allen–Cunneen's factor (1 + 1) / 2 is 1, Erlang C's wait at 3/s, 0.75 s, 3."""
    waits = analytic.pool_waits(scenario.loads(TWO_POOLS))
    assert waits == pytest.approx(
        {"fast": analytic.mmc_wait(3.0, 0.25, 1), "slow": analytic.mmc_wait(3.0, 0.75, 3)}
    )
    # a pool sharing its queue with another, or fed by other than Poisson arrivals: no figure
    shared = scenario.loads(TWO_POOLS.replace('queues = ["slow"]', 'queues = ["slow", "fast"]'))
    assert analytic.pool_waits(shared) == {}
    constant = scenario.loads(TWO_POOLS.replace("rate = 6.0", 'rate = 6.0\nprocess = "constant"'))
    assert analytic.pool_waits(constant) == {}
    # at 9/s: fast at ρ 1.125 has none; slow on 5 slots, ρ 0.675, has its own
    busier = TWO_POOLS.replace("rate = 6.0", "rate = 9.0").replace("count = 3", "count = 5")
    assert set(analytic.pool_waits(scenario.loads(busier))) == {"slow"}


def test_a_pool_with_a_server_the_formula_has_not_has_no_textbook_wait():
    """A rate-limited type's tokens (one per node, 1 / rate apart) gate its tasks, and its
    messages call no --autoscale maybe_scale: a scraper pool of --autoscale 4,1 at 0.45/s of
    1 s tasks under "2/s" waited 0.7 s simulated (1.8 s in a 200-task live run) where the
    formula on 4 slots said under 1 ms. A node autoscaler's count is only where it starts."""
    limited = TWO_POOLS.replace('name = "long"', 'name = "long"\nrate_limit = "2/s"')
    assert set(analytic.pool_waits(scenario.loads(limited))) == {"fast"}
    scaled = TWO_POOLS.replace("count = 1", 'count = 1\nnode_autoscaler = "queue_length"')
    assert set(analytic.pool_waits(scenario.loads(scaled))) == {"slow"}


def test_a_pool_s_textbook_wait_is_what_the_simulator_gives_each_pool():
    """thumbnails_and_reports without Celery's costs: two M/M/c pools, each alone on its queue
    (late ack, multiplier 1: work-conserving). 1M tasks, seed 1: each pool's simulated mean wait
    within 3 % (fast, 900k tasks) and 15 % (slow, 100k tasks of 5 s, whose mean wait ranged
    −6 % to +7 % over seeds 1-6) of Erlang C's."""
    from sim.analysis.runs import summarize
    from sim.engine.model import simulate

    sc = scenario.load(
        "scenarios/thumbnails_and_reports.toml", ["overhead.model=none", "run.tasks=1000000"]
    )
    s, formula = summarize(simulate(sc), sc), analytic.pool_waits(sc)
    assert s.by_queue["fast"]["wait_mean"] == pytest.approx(formula["fast"], rel=0.03)
    assert s.by_queue["slow"]["wait_mean"] == pytest.approx(formula["slow"], rel=0.15)


TIME_LIMITED = """
[run]
tasks = 100000
[arrivals]
rate = 0.5
[overhead]
model = "none"
[ack]
late = true
[workers]
count = 4
concurrency = 3
prefetch_multiplier = 1
[[tasks]]
name = "report"
time_limit = 60.0
[tasks.service]
dist = "lognormal"
mean = 20.0
cv = 1.0
"""


def test_a_hard_time_limit_cuts_the_service_the_textbook_wait_takes():
    """20 s lognormal reports (cv 1) killed at 60 s on 12 slots at 0.5/s: the service a slot
    gives is min(X, 60 s) (mean 18.8 s, cv 0.78) plus a replacement child's 0.2 s after each
    kill (4 %). The simulated mean wait over seeds 1-3, 2.12 s (2.03-2.27), is Allen–Cunneen's
    1.96 s of that service within 10 %; of the service as set it was 4.49 s."""
    from sim.analysis.runs import simulated

    sc = scenario.loads(TIME_LIMITED)
    simulated_wait = np.mean([simulated(sc, seed=seed).wait_mean for seed in (1, 2, 3)])
    assert analytic.pool_waits(sc)["workers"] == pytest.approx(simulated_wait, rel=0.1)
    soft = sc.replace(**{"tasks.report.soft_time_limit": 50.0})
    assert analytic.pool_waits(soft) == {}  # a soft limit's retries are new work: no figure


def test_a_pool_whose_hard_time_limit_cuts_its_work_below_its_slots_is_not_called_overloaded():
    """1 s exponential tasks killed at 1 s, 2.5/s on 2 slots: as set ρ = 1.25, but a slot gives
    min(X, 1 s) (mean 1 − 1/e) plus a replacement child's 0.2 s after each kill (1/e of them):
    ρ = 0.88. The simulated wait holds (1.75 s at 10k tasks, 1.68 s at 40k), as a stable
    queue's does."""
    from sim.analysis.runs import simulated

    sc = scenario.loads(TIME_LIMITED).replace(
        **{"arrivals.rate": 2.5, "workers.count": 2, "workers.concurrency": 1}
        | {"tasks.report.service.dist": "exponential", "tasks.report.service.mean": 1.0}
        | {"tasks.report.time_limit": 1.0, "run.tasks": 10000}
    )
    assert analytic.pool_intensities(sc)["workers"] == pytest.approx(
        (1 - math.exp(-1) + math.exp(-1) * 0.2) * 2.5 / 2
    )
    assert analytic.overload_warning(sc) is None
    longer = sc.replace(**{"run.tasks": 40000})
    assert simulated(longer).wait_mean < 1.1 * simulated(sc).wait_mean


@pytest.mark.parametrize(
    ("fields", "cv"),
    [
        ({"arrivals.process": "poisson"}, 1.0),
        ({"arrivals.process": "constant"}, 0.0),
        ({"arrivals.process": "burst"}, None),
        ({"arrivals.process": "renewal", "arrivals.dist": "erlang", "arrivals.cv": 0.33}, 1 / 3),
        ({"arrivals.process": "renewal", "arrivals.dist": "weibull", "arrivals.cv": 2.0}, 2.0),
    ],
)
def test_arrival_cv_is_that_of_the_gaps(fields, cv):
    assert analytic.arrival_cv(make(**fields)) == pytest.approx(cv)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dist", "cv", "tolerance"),
    [
        ("erlang", 0.5, 0.06),
        ("weibull", 0.5, 0.06),
        ("pareto", 0.3, 0.06),
        ("hyperexponential", 1.5, 0.10),  # a heavy third moment: the mean wait settles slowly
    ],
)
def test_the_new_service_distributions_give_pollaczek_khinchine_s_wait(dist, cv, tolerance):
    """M/G/1, where Allen–Cunneen is exact (Pollaczek–Khinchine): the simulated mean wait over
    5 seeds of 40,000 tasks at ρ = 0.7 (measured within 2.4, 3.6, 3.1 and 6.2 %; about 2 to 3.5 %
    is one standard error)."""
    from sim.analysis.metrics import summarize
    from sim.engine.distributions import service_cv
    from sim.engine.model import simulate

    fields = {
        "run.tasks": 40_000,
        "arrivals.rate": 0.7,
        "workers.count": 1,
        "workers.prefetch_multiplier": 1,
        "ack.late": True,
        "service.dist": dist,
        "service.cv": cv,
        "overhead.model": "none",  # the textbook M/G/1
    }
    waits = [summarize(simulate(make(**fields, seed=s)), 1).wait_mean for s in range(1, 6)]
    sc = make(**fields)
    expected = analytic.allen_cunneen(0.7, 1.0, 1, analytic.arrival_cv(sc), service_cv(sc.service))
    assert expected == pytest.approx(0.7 / 0.3 * (1 + cv**2) / 2)
    assert np.mean(waits) == pytest.approx(expected, rel=tolerance)


def test_a_varying_rate_warns_on_its_peak_against_the_most_nodes_the_pool_reaches():
    """daily_cycle: mean ρ 0.6 on 4 workers, 1.08 at the peak; node_autoscale_cycle: 2 nodes
    (mean ρ 2.0 there), up to 12: peak ρ 0.6 there, so no warning until max_nodes is lowered."""
    from sim import scenario

    daily = scenario.load("scenarios/daily_cycle.toml")
    assert analytic.overload_warning(daily).startswith(
        "peak ρ = 1.08 ≥ 1 (at the arrivals' peak rate, on the most the pool reaches: "
        "4 workers, workers.count)"
    )
    assert "at least 5 workers keep up with the peak" in analytic.overload_warning(daily)
    assert analytic.overload_warning(daily.replace(**{"workers.count": 5})) is None
    nodes = scenario.load("scenarios/node_autoscale_cycle.toml")
    assert analytic.traffic_intensity(nodes) == pytest.approx(2.0)  # at the 2 it starts with
    assert analytic.overload_warning(nodes) is None
    assert analytic.overload_warning(nodes.replace(**{"workers.max_nodes": 6})).startswith(
        "peak ρ = 1.20 ≥ 1 (at the arrivals' peak rate, on the most the pool reaches: "
        "6 workers, workers.max_nodes)"
    )
    assert analytic.overload_warning(nodes.replace(**{"workers.max_nodes": 3})).startswith(
        "ρ = 1.33 ≥ 1 at 3 workers (workers.max_nodes): the queue is overloaded"
    )
    steps = make(**{"arrivals.process": "piecewise", "arrivals.rates": [1.0, 7.0]})
    assert analytic.arrival_rate(steps, peak=True) == 7.0


def test_a_varying_arrivals_no_type_reads_does_not_make_the_load_vary():
    """Every type of its own Poisson arrivals reads nothing of [arrivals], so its cycle is no
    load (``varies`` read [arrivals] whatever the types read); a type that takes a share of
    it varies with it."""
    from sim import scenario

    text = """
[arrivals]
process = "cycle"
rate = 1.0
amplitude = 0.8
period = 100.0

[[tasks]]
name = "a"
"""
    shared = scenario.loads(text)
    assert analytic.varies(shared)
    own = shared.replace(**{"tasks.a.arrivals.process": "poisson"})
    assert own.task_types[0].arrivals.process == "poisson"
    assert not analytic.varies(own)
