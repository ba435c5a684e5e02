"""The Explore page's sweep plan (what a worker-slider move reuses and what it reruns), and a
scenario of several pools: a slider per pool, a trade-off per pool, the smallest total."""

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from sim import scenario
from sim.words import seconds
from tests.ui.helpers import APP, table
from ui.explore import SWEEP_TASKS, sweep_plan, worker_range
from ui.scenario_input import DATA_ENV

MMC = scenario.load("scenarios/mmc.toml")  # 4 workers: the sweep spans 4..8
POOLS = scenario.load("scenarios/thumbnails_and_reports.toml")
POOLS_TEXT = Path("scenarios/thumbnails_and_reports.toml").read_text()


def test_a_worker_slider_move_within_the_range_reuses_the_sweep():
    plans = {
        scenario.dumps(swept) + repr(counts)
        for count in worker_range(MMC)
        for swept, counts in [sweep_plan(MMC.replace(**{"workers.count": count}), MMC)]
    }
    assert len(plans) == 1  # one cache key for every count the sweep already covers


def test_a_count_beyond_the_range_or_another_rate_sweeps_again():
    _, counts = sweep_plan(MMC, MMC)
    _, beyond = sweep_plan(MMC.replace(**{"workers.count": counts[-1] + 5}), MMC)
    assert counts[-1] + 5 in beyond and beyond != counts
    busier = MMC.replace(**{"arrivals.rate": 2 * MMC.arrivals.rate})
    assert scenario.dumps(sweep_plan(busier, MMC)[0]) != scenario.dumps(sweep_plan(MMC, MMC)[0])


def test_the_swept_counts_stay_within_the_field_at_its_largest():
    """A scenario at the most workers a field allows sweeps up to it, not past it (an error)."""
    most = MMC.replace(**{"workers.count": 10000})
    counts = worker_range(most)
    assert max(counts) == 10000 and len(counts) > 1
    assert all(MMC.replace(**{"workers.count": c}) for c in counts)


def test_the_sweep_runs_a_bounded_number_of_tasks():
    big = MMC.replace(**{"run.tasks": 10 * SWEEP_TASKS})
    assert sweep_plan(big, big)[0].run.tasks == SWEEP_TASKS


@pytest.fixture(scope="module")
def pools_app():
    """Explore on the shipped scenario of two task types on two pools."""
    at = AppTest.from_file("../../app.py", default_timeout=300)
    at.run()
    at.sidebar.selectbox(key="explore-name").set_value(POOLS.name).run()
    assert not at.exception and not at.error
    return at


def test_a_scenario_with_pools_has_one_worker_slider_per_pool_and_no_idle_knob(pools_app):
    """[workers], [service], [failures] and [retry] were completed into the pools and task
    types when the file was read: their sliders would move nothing, so the sidebar says where
    the scenario sets them instead."""
    keys = {w.key for w in pools_app.sidebar.slider}
    prefix = f"explore-{POOLS.name}"
    assert {f"{prefix}-workers-fast", f"{prefix}-workers-slow", f"{prefix}-rate"} <= keys
    for idle in ("workers", "conc", "prefetch", "cores", "mean", "cv", "fail", "retries"):
        assert f"{prefix}-{idle}" not in keys
    said = " ".join(c.value for c in pools_app.sidebar.caption)
    assert "thumbnail 0.3 s, report 5 s" in said and "[[pools]]" in said
    assert len(pools_app.get("plotly_chart")) == 4  # CDF per type, queue per queue, two pools


def test_a_pool_slider_moves_only_the_types_that_pool_serves(pools_app):
    before = {r["task type"]: r for r in table(pools_app, "task type").to_dict("records")}
    pools_app.sidebar.slider(key=f"explore-{POOLS.name}-workers-slow").set_value(6).run()
    assert not pools_app.exception
    after = {r["task type"]: r for r in table(pools_app, "task type").to_dict("records")}
    assert after["thumbnail"]["p95 wait (s)"] == before["thumbnail"]["p95 wait (s)"]
    assert after["report"]["p95 wait (s)"] < before["report"]["p95 wait (s)"]
    pools_app.sidebar.slider(key=f"explore-{POOLS.name}-workers-slow").set_value(3).run()


def test_the_sizing_answer_follows_each_task_types_target(pools_app):
    def answer() -> str:
        return " ".join(e.value for e in pools_app.success)

    assert "Smallest total worker count meeting every task type's p95 sojourn" in answer()
    assert "slow **3** (now 3)" in answer()  # ρ = 1 at 2: 3 is the fewest that keep up
    assert any("share no queue" in c.value for c in pools_app.caption)
    pools_app.radio(key="explore-figure").set_value("wait_p95").run()
    wait = "explore-thumbnails_and_reports-target-wait_p95-report"
    assert pools_app.number_input(key=wait).value == 5.0  # a wait target's own default
    pools_app.number_input(key=wait).set_value(1.0).run()
    assert not pools_app.exception
    # the reports' p95 wait, mean of 3 seeds × 5000 tasks: 4.3 s at 3 workers, 0.40 s at 4
    assert "slow **4** (now 3)" in answer()


def plan(swept_and_counts) -> str:
    swept, counts = swept_and_counts
    return scenario.dumps(swept) + repr(counts)


def test_a_pool_slider_move_reruns_another_pools_sweep_only_where_they_share_a_queue():
    moved = POOLS.replace(**{"pools.slow.count": 5})
    for pool in ("fast", "slow"):  # no shared queue: the fast pool's tasks do not see slow's
        assert plan(sweep_plan(moved, POOLS, pool)) == plan(sweep_plan(POOLS, POOLS, pool))
    shared = POOLS.replace(**{"pools.slow.queues": ("slow", "fast")})
    moved = shared.replace(**{"pools.slow.count": 5})
    assert plan(sweep_plan(moved, shared, "fast")) != plan(sweep_plan(shared, shared, "fast"))
    assert plan(sweep_plan(moved, shared, "slow")) == plan(sweep_plan(shared, shared, "slow"))


def test_a_worker_slider_move_within_the_sweep_shows_a_run_made_before_equal_to_a_direct_one(
    monkeypatch,
):
    """The page makes its run at every swept count once it is drawn, so a move within the
    range simulates nothing; what it shows at 6 workers is ``simulate`` at 6 workers."""
    import json

    import plotly.io as pio

    from sim.analysis.runs import summarize
    from sim.engine.model import simulate
    from ui import explore

    at = AppTest.from_file("../../app.py", default_timeout=300)
    at.run()
    calls = []
    monkeypatch.setattr(explore, "simulate", lambda *a, **k: calls.append(a) or simulate(*a, **k))
    at.sidebar.slider(key="explore-mmc-workers").set_value(6).run()
    assert not at.exception and calls == []
    six = MMC.replace(**{"workers.count": 6})
    trace = simulate(six)
    direct = summarize(trace, six)
    assert explore.view(scenario.dumps(six)).summary == direct
    shown = {m.label: m.value for m in at.metric}
    assert shown["p95 wait"] == seconds(direct.wait_p95)
    assert shown["utilisation"] == f"{direct.utilization:.1%}"
    drawn = [json.loads(c.proto.spec)["data"] for c in at.get("plotly_chart")[:2]]
    assert drawn == [json.loads(pio.to_json(fig))["data"] for fig in explore.figures(trace)]


@pytest.fixture(scope="module")
def hundred_app():
    """Explore on a pasted scenario of 100 workers, at 7 % utilisation."""
    at = AppTest.from_file("../../app.py", default_timeout=300)
    at.run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input("[workers]\ncount = 100\n").run()
    assert not at.exception and not at.error
    return at


def test_an_analytic_wait_far_under_a_millisecond_is_said_as_one(hundred_app):
    """Erlang C puts the mean wait at 5e-78 s there: said as under a millisecond, not in
    exponent notation."""
    (said,) = [c.value for c in hundred_app.caption if c.value.startswith("Erlang C")]
    assert "puts the mean wait at < 0.001 s (simulated: 0.0" in said, said
    assert "e-" not in said


def test_the_own_count_takes_the_place_of_a_swept_count_too_near_it_to_read_apart(hundred_app):
    """100 workers sweep 8 to 200 in steps of 24: 104 would print over 100 on the trade-off's
    axis, so 100 stands in its place; every tick is at least half a step from the next."""
    import json

    from ui.explore import worker_range

    counts = worker_range(scenario.load(None).replace(**{"workers.count": 100}))
    assert counts == (8, 32, 56, 80, 100, 128, 152, 176, 200)
    (chart,) = [
        c for c in hundred_app.get("plotly_chart") if "Worker-count trade-off" in c.proto.spec
    ]
    ticks = json.loads(chart.proto.spec)["layout"]["xaxis"]["tickvals"]
    assert ticks == list(counts)
    assert min(np.diff(ticks)) >= (200 - 8) / 16


def test_the_sweeps_answer_beside_a_live_run_is_the_simulations_and_names_a_live_miss():
    from ui.explore import workers_verdict

    explore = workers_verdict(4, 4.0, 8, 4)
    assert explore.startswith("Smallest worker count whose simulated p95 sojourn is ≤ 4 s: **4**")
    missed = workers_verdict(4, 4.0, 8, 4, live_p95=4.16)
    assert missed == (
        "Simulation's prediction: **4** workers are the fewest whose p95 sojourn is ≤ 4 s "
        "(this run had 4). This live run's own p95 sojourn, 4.16 s, misses the target."
    )
    met = workers_verdict(5, 4.0, 8, 4, live_p95=3.9)  # the run met what the model says 5 meet
    assert met.endswith(
        "(this run had 4). This live run's own p95 sojourn, 3.9 s, meets the target."
    )
    none = workers_verdict(None, 4.0, 8, 4, live_p95=9.0)
    assert none.startswith("Simulation's prediction: no worker count up to 8 meets 4 s.")


def test_where_erlang_c_puts_the_fewest_workers_elsewhere_than_the_sweep_it_is_said():
    from ui.explore import steady_state_said

    assert steady_state_said(None, 5, 4.0, 5000) == ""  # no M/M/c queue: no formula
    assert steady_state_said({4: 4.7, 5: 3.3}, 5, 4.0, 5000) == ""  # they agree
    apart = steady_state_said({61: 4.59, 69: 3.02}, 61, 4.0, 5000)
    assert apart.startswith(
        " Erlang C, this M/M/c queue's steady state, puts the fewest at **69**: each swept run "
        "of 5,000 tasks starts with an empty queue"
    )
    assert "at none of these counts" in steady_state_said({4: 4.7}, 4, 4.0, 5000)


def test_the_sweeps_answer_near_saturation_is_set_beside_erlang_cs():
    """mmc at 60 tasks a second: 61 workers are at ρ 0.98, where the queue settles at a p95
    sojourn of 4.6 s, but a swept run of 5,000 tasks (83 s) ends before it has; the page said
    61 meet 4 s beside an Erlang C line over the target there, without a word."""
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.sidebar.slider(key="explore-mmc-rate").set_value(60.0).run()
    assert not at.exception
    (said,) = [s.value for s in at.success]
    assert said.startswith("Smallest worker count whose simulated p95 sojourn is ≤ 4 s: **61**")
    assert "Erlang C, this M/M/c queue's steady state, puts the fewest at **69**" in said


def test_near_saturation_without_an_erlang_line_the_sweeps_empty_start_is_said():
    """mmc at 60/s with 4 % of attempts failing (retried: no Erlang line): the sweep said 63
    workers meet 6 s, at ρ 0.99 counting the retries, without a word; at 63 its 5,000-task
    runs read a p95 of 4.9 s, runs of 100,000 tasks 7.4 s (3 seeds each)."""
    from ui.explore import steady_state_said

    assert steady_state_said(None, 5, 4.0, 5000, 0.89) == ""  # below ρ 0.9: no word
    assert steady_state_said(None, None, 4.0, 5000, 0.95) == ""  # no count chosen
    near = steady_state_said(None, 5, 4.0, 5000, 0.93)
    assert near.startswith(
        " At 5 workers ρ is 0.93: each swept run of 5,000 tasks starts with an empty queue"
    )
    assert "`queuelab sweep` with more tasks" in near and "`run.warmup`" in near
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.sidebar.slider(key="explore-mmc-rate").set_value(60.0).run()
    at.sidebar.slider(key="explore-mmc-fail").set_value(0.04).run()
    at.number_input(key="explore-mmc-target").set_value(6.0).run()
    assert not at.exception
    (said,) = [s.value for s in at.success]
    assert said.startswith("Smallest worker count whose simulated p95 sojourn is ≤ 6 s: **63**")
    assert "At 63 workers ρ is 0.99: each swept run of 5,000 tasks starts" in said


def test_a_target_no_swept_count_meets_says_what_to_do():
    """mmc's p95 sojourn flattens near 3 s (exponential 1 s tasks) as workers are added: a 1 s
    target was answered "No worker count up to 8 meets a p95 sojourn of 1 s." and no more; it
    says the task's own time sets it. A p95 still falling at the sweep's end says to sweep
    further instead."""
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.number_input(key="explore-mmc-target").set_value(1.0).run()
    assert not at.exception
    (said,) = [i.value for i in at.info if i.value.startswith("No worker count up to 8")]
    assert "More workers no longer lower it (at best " in said
    assert said.endswith("sets it; set a target above it.")

    from sim.analysis.sweep import Estimate, SweepPoint
    from ui.explore import none_meets

    def point(workers: int, p95: float) -> SweepPoint:
        e = Estimate(p95, None, None)
        return SweepPoint(workers, 1, e, e, e, e)

    falling = none_meets([point(4, 30.0), point(6, 12.0), point(8, 9.0)])
    assert falling.startswith("Its p95 sojourn was still falling at 8 workers (9 s)")
    assert "`queuelab sweep SCENARIO --workers …`" in falling
    on_explore = none_meets([point(4, 30.0), point(6, 12.0), point(8, 9.0)], slider=True)
    assert on_explore.endswith(
        "move the Workers slider past 8: the sweep then reaches twice its count."
    )
    flat = none_meets([point(1, 2.1), point(2, 2.2), point(3, 2.2)])
    assert flat.startswith("More workers no longer lower it (at best 2.1 s, at 1 worker):")


def test_the_formula_beside_the_simulation_is_erlang_c_where_it_is_exact():
    """Poisson arrivals and exponential service: Erlang C, exact (Allen–Cunneen's factor is
    1, and "rough at low load" was wrong); other shapes: Allen–Cunneen, approximate. Either
    says what it leaves out, Celery's costs where the scenario pays them."""
    from sim import scenario
    from ui.explore import formula_wait

    mmc = scenario.load("scenarios/mmc.toml")
    said = formula_wait(mmc, 1.0, 0.75)
    assert said.startswith("Erlang C (exact for this M/M/c queue) puts the mean wait at 0.746 s")
    assert "Celery's per-task costs" not in said  # mmc is the textbook queue
    paid = formula_wait(mmc.replace(**{"overhead.model": "celery"}), 1.0, 0.9)
    assert "crashes, Celery's per-task costs." in paid
    rough = formula_wait(mmc.replace(**{"service.dist": "constant"}), 1.0, 0.4)
    assert rough.startswith("Allen–Cunneen's G/G/c approximation puts the mean wait at 0.373 s")
    shared = mmc.replace(**{"workers.concurrency": 4, "workers.cores": 2})
    assert "crashes, processes sharing fewer CPU cores (workers.cores)." in formula_wait(
        shared, 1.0, 0.2
    )
    assert "cores" not in formula_wait(mmc.replace(**{"workers.cores": 1}), 1.0, 0.75)


def test_erlang_c_is_called_exact_only_for_exponential_shapes_not_for_any_cv_of_one():
    """flaky_api's lognormal service of cv 1 under Poisson arrivals was said to be "this M/M/c
    queue", Erlang C exact: a cv of 1 is no exponential. An Erlang of one phase is one."""
    from ui.explore import formula_wait

    mmc = scenario.load("scenarios/mmc.toml")
    flaky = scenario.load("scenarios/flaky_api.toml")
    assert formula_wait(flaky, 1.0, 0.04).startswith("Allen–Cunneen's G/G/c approximation")
    lognormal = mmc.replace(**{"service.dist": "lognormal", "service.cv": 1.0})
    assert formula_wait(lognormal, 1.0, 0.75).startswith("Allen–Cunneen's G/G/c approximation")
    gaps = mmc.replace(
        **{"arrivals.process": "renewal", "arrivals.dist": "lognormal", "arrivals.cv": 1.0}
    )
    assert formula_wait(gaps, 1.0, 0.75).startswith("Allen–Cunneen's G/G/c approximation")
    one_phase = mmc.replace(**{"service.dist": "erlang", "service.cv": 1.0})
    assert formula_wait(one_phase, 1.0, 0.75).startswith("Erlang C (exact for this M/M/c queue)")
    # --autoscale 4,1: the pool shrinks to a process a worker when idle, so it is no M/M/16
    growing = mmc.replace(**{"workers.autoscale_max": 4, "workers.autoscale_min": 1})
    said = formula_wait(growing, 1.0, 0.75)
    assert said.startswith("Allen–Cunneen's G/G/c approximation")
    assert "a pool that grows and shrinks (--autoscale), " in said
    fixed = mmc.replace(**{"workers.autoscale_max": 4, "workers.autoscale_min": 4})
    assert formula_wait(fixed, 1.0, 0.75).startswith("Erlang C (exact for this M/M/c queue)")


def test_the_pool_targets_come_back_from_the_address_after_a_reload():
    """The figure and each type's target are bound to the address, as the single pool's
    target is: a shared link gave the sizing of the defaults."""
    at = AppTest.from_file("../../app.py", default_timeout=300)
    at.query_params["explore-name"] = "thumbnails_and_reports"
    at.query_params["explore-figure"] = "p95 wait"  # a radio is bound by its label
    at.query_params["explore-thumbnails_and_reports-target-wait_p95-report"] = "1.5"
    at.run()
    assert not at.exception
    assert at.radio(key="explore-figure").value == "wait_p95"
    assert at.number_input(key="explore-thumbnails_and_reports-target-wait_p95-report").value == 1.5


def test_a_sizing_that_the_seeds_decide_is_said_to_be_a_close_call(pools_app):
    """Reports of 5 s against a 15 s p95 sojourn: slow 4 meets it on the mean of 3 seeds, its
    interval holding 15 s; the page says one worker more or fewer could be the answer."""
    prefix = "explore-thumbnails_and_reports-target-sojourn_p95"
    pools_app.radio(key="explore-figure").set_value("sojourn_p95").run()
    pools_app.number_input(key=f"{prefix}-report").set_value(15.0).run()
    assert not pools_app.exception
    said = [w.value for w in pools_app.warning if w.value.startswith("Close call")]
    assert len(said) == 1 and "report's p95 sojourn at slow" in said[0], said
    pools_app.number_input(key=f"{prefix}-report").set_value(40.0).run()
    assert not [w for w in pools_app.warning if w.value.startswith("Close call: report")]


ROUTE_LONG = Path("scenarios/lessons/12_route_long_tasks.toml")  # task types, no [[pools]]


def runs_as_named(warning: str, capsys) -> None:
    """The ``queuelab simulate`` command ``warning`` names runs on ROUTE_LONG (at 9 workers
    where it leaves the count to the reader; one seed, in this process: a pool's workers would
    re-run AppTest's script as their ``__main__``)."""
    import re

    from queuelab.cli import main

    assert "--pool" not in warning
    (command,) = re.findall(r"`queuelab (simulate [^`]*)`", warning)
    args = command.replace("SCENARIO", str(ROUTE_LONG)).replace("…", "9").split()
    args[args.index("--reps") + 1] = "1"
    assert main(args) == 0, capsys.readouterr().err


def test_an_unmet_target_of_task_types_without_pools_names_the_slider_or_a_command_that_runs(
    capsys,
):
    """Lesson 12 as deployed has task types and no [[pools]], its p95 still falling at the
    sweep's last count. Explore told the reader to run `queuelab simulate SCENARIO --set
    workers.count=… --reps 5`, where its own Workers slider sweeps further: it names the
    slider. Where no slider does (the Live page), the command it names runs: it was `queuelab
    sweep SCENARIO --pool workers --workers …`, which the CLI refuses (no [[pools]])."""
    from sim import scenario
    from sim.analysis import sizing
    from ui.explore import unmet_said

    at = AppTest.from_file(APP, default_timeout=300).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input(ROUTE_LONG.read_text()).run()
    assert not at.exception
    (warning,) = [w.value for w in at.warning if w.value.startswith("No worker counts up to")]
    assert "up to workers" not in warning  # its pool's name, "workers", said as a count's
    assert "at best (8 workers)" in warning  # was "(workers 8)", the same
    assert "move the Workers slider past " in warning and "--" not in warning, warning
    unmet = sizing.Unmet("workers", "short", 6, 5.0, falling=True)
    sc = scenario.load(ROUTE_LONG)
    runs_as_named(unmet_said(sc, unmet, {"short": 4.0}, "p95 sojourn"), capsys)
    report = sizing.Unmet("slow", "report", 8, 30.0, falling=True)  # a [[pools]] pool's slider
    on_explore = unmet_said(POOLS, report, {"report": 15.0}, "p95 sojourn", 8)
    assert on_explore.endswith(
        "move the Workers in pool slow slider past 8: the sweep then reaches twice its count."
    )


def _close_call_without_pools() -> None:
    from sim import scenario
    from sim.analysis.sweep import Estimate
    from ui.explore import close_calls

    sc = scenario.load("scenarios/lessons/12_route_long_tasks.toml")
    close = [("workers", "short", 6, Estimate(3.9, 3.0, 4.8))]
    close_calls(sc, close, {"short": 4.0}, "sojourn_p95")


def _close_calls_on_two_pools() -> None:
    from sim import scenario
    from sim.analysis.sweep import Estimate
    from ui.explore import close_calls

    sc = scenario.load("scenarios/thumbnails_and_reports.toml")
    close = [
        ("fast", "thumbnail", 2, Estimate(0.9, 0.7, 1.1)),
        ("slow", "report", 3, Estimate(14.3, 10.2, 18.3)),
    ]
    close_calls(sc, close, {"thumbnail": 1.0, "report": 15.0}, "sojourn_p95")


def test_close_calls_on_two_pools_name_each_pool_s_sweep():
    """Close calls at fast and slow named only `--pool fast`: the slow one's seeds untold."""
    at = AppTest.from_function(_close_calls_on_two_pools, default_timeout=60).run()
    (warning,) = [w.value for w in at.warning]
    assert "`queuelab sweep SCENARIO --pool fast --reps 10`" in warning
    assert "`queuelab sweep SCENARIO --pool slow --reps 10`" in warning


def test_the_command_a_close_call_of_task_types_without_pools_names_runs(capsys):
    """As the unmet target: `queuelab sweep SCENARIO --pool workers --reps 10` was refused."""
    at = AppTest.from_function(_close_call_without_pools, default_timeout=60).run()
    (warning,) = [w.value for w in at.warning]
    assert "`queuelab simulate SCENARIO --set workers.count=6 --reps 10`" in warning
    runs_as_named(warning, capsys)


def test_a_pool_target_is_kept_while_the_other_figure_is_shown(pools_app):
    """Streamlit forgets a widget a run does not draw: a report target of 15 s came back as
    its default (20 s) after a look at the p95 wait."""
    key = "explore-thumbnails_and_reports-target-sojourn_p95-report"
    pools_app.radio(key="explore-figure").set_value("sojourn_p95").run()
    pools_app.number_input(key=key).set_value(15.0).run()
    pools_app.radio(key="explore-figure").set_value("wait_p95").run()
    assert key not in [w.key for w in pools_app.number_input]  # not drawn
    pools_app.radio(key="explore-figure").set_value("sojourn_p95").run()
    assert not pools_app.exception
    assert pools_app.number_input(key=key).value == 15.0


def _live_against_targets():
    from sim import scenario
    from sim.analysis.runs import simulated
    from ui.explore import live_against

    sc = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=2000"])
    live = simulated(sc)  # stands in for a live run: the page reads only its summary
    live_against(live, {"thumbnail": 100.0, "report": 0.5}, "sojourn_p95")


def test_a_live_run_of_pools_is_held_to_each_types_target():
    """The single pool's verdict says whether the live p95 met the target; a run of pools
    now says it per task type, warning where one missed."""
    at = AppTest.from_function(_live_against_targets, default_timeout=60).run()
    (said,) = [w.value for w in at.warning]
    assert said.startswith("This live run's own p95 sojourn: thumbnail ")
    assert "meets 100 s" in said and "misses 0.5 s" in said


def test_a_run_that_submits_no_task_says_so_and_sizes_nothing():
    """run.duration before the first arrival: all-zero figures read as a perfect queue and the
    sweep sized it at 2 workers; the page says what happened, as the CLI does."""
    at = AppTest.from_file("../../app.py", default_timeout=120).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    text = "[run]\nduration = 1e-6\n[arrivals]\nrate = 1.0\n"
    at.sidebar.text_area(key="explore-toml").input(text).run()
    assert not at.exception
    assert any(w.value.startswith("The run submits no task") for w in at.warning)
    assert not at.metric and "How many workers?" not in [h.value for h in at.subheader]


def test_a_sizing_answer_between_coarse_steps_says_a_count_between_may_meet_it(hundred_app):
    """100 workers sweep 8 to 200 in steps of 24: the answer is the first swept count that
    meets the target, and a count between the last miss and it may meet it too."""
    (said,) = [s.value for s in hundred_app.success if s.value.startswith("Smallest")]
    assert said.endswith("The sweep steps from 8 to 32: a count between may meet it."), said


def test_an_own_count_too_few_to_keep_up_is_not_swept():
    """mmc at 100 tasks a second needs 101 workers: its own 4 was swept beside 101 to 105
    (five tick labels printed over each other, a lone p95 of thousands of seconds flattening
    the rest); the counts now run from the fewest that keep up to twice that."""
    busy = MMC.replace(**{"arrivals.rate": 100.0})
    counts = worker_range(busy)
    assert counts == (101, 114, 126, 139, 152, 164, 177, 189, 202)
    assert worker_range(MMC.replace(**{"workers.count": 1})) == (4, 5, 6, 7, 8)


def test_no_count_between_is_offered_where_every_count_between_is_overloaded():
    """mmc's Workers slider at 1 (3.2 tasks a second of 1 s tasks): 2 and 3 are overloaded,
    and the answer, 4, the fewest that keep up, said "the sweep steps from 1 to 4: a count
    between may meet it"."""
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.sidebar.slider(key="explore-mmc-workers").set_value(1).run()
    at.number_input(key="explore-mmc-target").set_value(100.0).run()
    (said,) = [s.value for s in at.success]
    assert said == (
        "Smallest worker count whose simulated p95 sojourn is ≤ 100 s: **4** (this scenario has 1)."
    )


def test_a_pool_no_task_is_routed_to_is_left_out_of_the_sizing():
    """Its chart was empty and its count was in the smallest total."""
    text = Path("scenarios/thumbnails_and_reports.toml").read_text()
    text += '\n[[pools]]\nname = "idle"\nqueues = ["nobody"]\ncount = 2\n'
    at = AppTest.from_file("../../app.py", default_timeout=300).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input(text).run()
    assert not at.exception
    assert any("routed to pool idle" in c.value for c in at.caption)
    (said,) = [s.value for s in at.success if s.value.startswith("Smallest total")]
    assert "idle" not in said.split(";")[0]


def test_a_pool_under_a_node_autoscaler_is_left_out_of_the_sizing_of_several():
    """Its count only starts the run: swept past max_nodes it stopped every pool's sizing with
    'The sweep of pool slow stopped: pools.slow.count = 4 must lie within ...'."""
    text = POOLS_TEXT.replace(
        'name = "slow"\n', 'name = "slow"\nnode_autoscaler = "queue_length"\nmax_nodes = 3\n', 1
    )
    at = AppTest.from_file("../../app.py", default_timeout=300).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input(text).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("nodes of pool slow" in c.value for c in at.caption)
    (said,) = [s.value for s in at.success if s.value.startswith("Smallest total")]
    assert "slow" not in said and said.endswith("this scenario has 4).")  # fast's 4 alone


def test_a_warmup_past_the_capped_sweep_s_arrivals_is_cut_with_it():
    """The sweep runs at most SWEEP_TASKS tasks: a warm-up of 550 s kept whole before 6,000
    tasks at 10 a second was past its 500 s of arrivals, and the page raised ScenarioError."""
    text = "[run]\ntasks = 6000\nwarmup = 550.0\n[arrivals]\nrate = 10.0\n[workers]\ncount = 4\n"
    at = AppTest.from_file("../../app.py", default_timeout=300).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input(text + "[service]\nmean = 0.3\n").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value.startswith("Smallest") for s in at.success)


def test_a_run_that_holds_much_memory_says_so_before_it_runs(monkeypatch):
    """A pasted run of 1e8 tasks held 20 GB without a word, where the CLI says what it will
    hold; here the threshold is lowered so that the first scenario's run crosses it."""
    from sim.engine import budget

    monkeypatch.setattr(budget, "WARN_BYTES", 1)
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    (said,) = [w.value for w in at.warning if "in memory" in w.value]
    assert said.startswith("This run will hold about ") and " GiB in memory (" in said
    monkeypatch.setattr(budget, "WARN_BYTES", 1 << 30)
    assert not [w for w in at.run().warning if "in memory" in w.value]


def test_a_target_no_count_meets_is_named_with_its_best_p95_and_what_to_do():
    """Thumbnails of 0.3 s (exponential) cannot have a p95 sojourn of 0.05 s at any count: the
    answer names them, their best p95 and that more workers no longer lower it, where it said
    only that no count meets every target."""
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.sidebar.selectbox(key="explore-name").set_value(POOLS.name).run()
    at.number_input(key=f"explore-{POOLS.name}-target-sojourn_p95-thumbnail").set_value(0.05).run()
    assert not at.exception
    (said,) = [w.value for w in at.warning if w.value.startswith("No worker counts")]
    assert "thumbnail's p95 sojourn is" in said and "over its 0.05 s target" in said
    assert "more workers no longer lower it" in said and "report" not in said.split(".", 1)[1]


def test_a_node_autoscaler_starting_short_of_the_load_shows_no_textbook_wait():
    """5 starting nodes at ρ 1.44 under a ceiling of 100 keep up at the ceiling, so no overload
    is said; Erlang C at the starting count raised UnstableError on the page. Its count only
    starts the run, so the fixed pool's formula is not shown at all."""
    text = (
        '[workers]\ncount = 5\nnode_autoscaler = "queue_length"\nmin_nodes = 5\n'
        "max_nodes = 100\n[run]\ntasks = 1000\n"
    )
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.metric and not [c for c in at.caption if "mean wait at" in c.value]


def test_a_run_that_holds_much_memory_prepares_no_other_worker_counts(monkeypatch):
    """Each neighbour of a pasted 1e8 tasks is another such run (over ten minutes and 20 GB):
    four of them kept the page running long after it was drawn. Here the threshold is lowered
    so that mmc's run crosses it: the page simulates its own count alone."""
    from sim.engine import budget
    from ui import explore

    made = []
    view = explore.view
    monkeypatch.setattr(explore, "view", lambda text, *a: made.append(text) or view(text, *a))
    AppTest.from_file(APP, default_timeout=120).run()
    assert len(made) == 1 + explore.NEIGHBOURS  # the page's run and its neighbours
    made.clear()
    monkeypatch.setattr(budget, "WARN_BYTES", 1)
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    assert len(made) == 1 and at.metric


def test_a_data_file_edited_while_the_app_runs_is_read_again_at_the_next_run(tmp_path, monkeypatch):
    """Explore's run was cached by the scenario's text, which names a CSV by its path: after
    an edit the page kept showing the old numbers until Streamlit was restarted. It now shows
    the run of the file as it is, the run ``simulate`` makes of a scenario loaded then."""
    from sim.analysis.runs import summarize
    from sim.engine.model import simulate

    times = tmp_path / "times.csv"
    text = (
        f"[run]\ntasks = 40\n[arrivals]\nrate = 1.0\n[workers]\ncount = 2\n"
        f'[service]\ndist = "empirical"\nfile = "{times}"\n'
    )

    def p95_sojourn() -> tuple[str, str]:
        """The page's p95 sojourn, and the one a scenario loaded now has."""
        at.run()
        assert not at.exception, at.exception
        sc = scenario.loads(text)
        expected = summarize(simulate(sc), sc).sojourn_p95
        return {m.label: m.value for m in at.metric}["p95 sojourn"], seconds(expected)

    times.write_text("seconds\n0.5\n")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))  # the app reads a given scenario's files there
    at = AppTest.from_file("../../app.py", default_timeout=120).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input(text)
    shown, expected = p95_sojourn()
    assert shown == expected
    times.write_text("seconds\n2\n3\n")
    edited, expected = p95_sojourn()
    assert edited == expected != shown


@pytest.fixture
def bars(monkeypatch) -> list[tuple[str, int, int]]:
    """Every report of Explore's progress bars, as (label, done, total), the bars still drawn."""
    import contextlib

    from ui import explore

    reports = []
    bar = explore.progress_bar

    @contextlib.contextmanager
    def recorded(label):
        with bar(label) as report:
            yield lambda done, total: (reports.append((label, done, total)), report(done, total))

    monkeypatch.setattr(explore, "progress_bar", recorded)
    return reports


def pasted(text: str) -> AppTest:
    """Explore on pasted ``text``, drawn without an error."""
    at = AppTest.from_file("../../app.py", default_timeout=300).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input(text).run()
    assert not at.exception and not at.error
    return at


def test_a_pool_sweep_shows_its_runs_done_of_all(bars):
    """It showed only a spinner for the dozens of runs of each pool's sweep: a bar counts
    them to the last, labelled by pool (a seed no other test sweeps, so no cache hit)."""
    from ui import explore

    text = POOLS_TEXT.replace("\nseed = 1\n", "\nseed = 7\n", 1)
    pasted(text)
    sc = scenario.loads(text)
    for pool in sc.pools:
        runs = len(sweep_plan(sc, sc, pool.name)[1]) * explore.SWEEP_REPS
        label = f"Sweeping pool {pool.name}'s worker count: runs done"
        done = [(d, total) for said, d, total in bars if said == label]
        assert done[0] == (1, runs) and done[-1] == (runs, runs), done


def test_the_greedy_search_of_pools_sharing_a_queue_shows_its_counts_tried(bars):
    """Pools sharing a queue are sized by a greedy search, a count at a time, each of several
    runs: it showed only a spinner. A bar counts the counts tried, of the most it can try (a
    seed no other test searches, so no cache hit)."""
    from ui import explore

    shared = POOLS_TEXT.replace('queues = ["slow"]', 'queues = ["slow", "fast"]')
    at = pasted(shared.replace("\nseed = 1\n", "\nseed = 8\n", 1))
    assert any("a greedy search adds one worker at a time" in c.value for c in at.caption)
    done = [(d, total) for said, d, total in bars if said == explore.GREEDY]
    most = done[0][1]
    assert done == [(n, most) for n in range(1, len(done) + 1)] and len(done) <= most, done


def test_a_pool_consuming_a_queue_nothing_is_sent_to_is_warned_of_as_the_cli_does():
    at = AppTest.from_file("../../app.py", default_timeout=120).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    text = (
        '[run]\ntasks = 200\n[arrivals]\nrate = 1.0\n[[pools]]\nname = "main"\n'
        '[[pools]]\nname = "spare"\nqueues = ["slwo"]\n'
    )
    at.sidebar.text_area(key="explore-toml").input(text).run()
    assert not at.exception
    assert [w.value for w in at.warning if "slwo" in w.value] == [
        "Pool spare consumes queue 'slwo', to which no task type is sent: its workers idle "
        "for the whole run (task types are sent to 'celery')."
    ]


def test_a_scenario_no_task_of_which_ends_runs_only_when_asked_and_sizes_nothing(monkeypatch):
    """max_retries = inf beside failures 1: each task runs 1,001 times, so mmc's 10,000 took
    three minutes, and the page then swept nine counts and made four more of such runs, most
    of an hour, sizing a pool by sojourns no task had. It says so and runs nothing; asked, it
    runs the page's run alone."""
    from ui import explore

    made = []
    view = explore.view
    monkeypatch.setattr(explore, "view", lambda text, *a: made.append(text) or view(text, *a))
    text = "[run]\ntasks = 20\n[failures]\nprobability = 1.0\n[retry]\nmax_retries = inf\n"
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    made.clear()
    at.sidebar.text_area(key="explore-toml").input(text).run()
    assert not at.exception, at.exception
    (said,) = [w.value for w in at.warning if "no task ever succeeds" in w.value]
    assert said.startswith("This scenario has max_retries = inf and failure probability 1: ")
    assert "(about 1,001 executions a task, 20,020 a run)" in said  # the CLI's text
    assert "the page sizes none" in said
    assert not made and not at.metric
    (asked,) = [c for c in at.checkbox if c.key.endswith("-endless")]
    assert asked.label == "Simulate it anyway"
    asked.check().run()
    assert not at.exception, at.exception
    assert len(made) == 1 and at.metric  # no neighbours
    assert [i.value for i in at.info] == [explore.NO_COUNT_ENDS]  # and no sweep
    (told,) = [w.value for w in at.warning if "never ended" in w.value]  # as the CLI says it
    assert told.startswith("20 of 20 tasks never ended (retried for ever, failing every attempt")
    assert told.endswith("are those of the 0 that ended, and read 0 as none did.")


def test_an_outage_for_the_whole_run_retried_for_ever_is_said_as_failing_every_attempt():
    """It showed sojourn 0 and throughput 0 without a word, a perfect queue: the page now asks
    before its run, as for failure probability 1 (``runs.endless``)."""
    text = (
        "[run]\ntasks = 20\n[retry]\nmax_retries = inf\ncountdown = 1.0\n"
        "[[failures.outage]]\nstart = 0.0\nend = 100000.0\nprobability = 1.0\n"
    )
    at = pasted(text)
    (said,) = [w.value for w in at.warning if "max_retries = inf" in w.value]
    assert said.startswith(
        "This scenario has max_retries = inf and failures.outage of probability 1 from 0 to "
        "100000 s"
    )
    assert not at.metric


def test_the_live_page_sizes_no_count_for_a_run_of_which_no_task_ends():
    """A live run of such a scenario was followed by a sweep of 27 simulated runs, each task
    run 1,001 times, sizing by sojourns no task had (here the Live page's call alone)."""
    from ui import explore

    text = "[run]\\ntasks = 20\\n[failures]\\nprobability = 1.0\\n[retry]\\nmax_retries = inf\\n"
    at = AppTest.from_string(
        "from sim import scenario\n"
        "from ui.explore import how_many_workers\n"
        f"sc = scenario.loads('{text}')\n"
        "how_many_workers(sc, sc, page='live')\n",
        default_timeout=120,
    ).run()
    assert not at.exception, at.exception
    assert [i.value for i in at.info] == [explore.NO_COUNT_ENDS]
    assert not at.get("plotly_chart") and not at.number_input  # no trade-off, no target
