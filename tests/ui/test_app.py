"""The app through AppTest: widgets change what is shown; bad input is an error, not a crash."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.helpers import live_page_showing, simulated_run, table
from ui.scenario_input import data_folder


@pytest.fixture
def app():
    at = AppTest.from_file("../../app.py", default_timeout=120)
    at.run()
    assert not at.exception
    return at


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_explore_shows_figures_and_the_worker_count_moves_them(app):
    before = metrics(app)
    assert {"p95 wait", "p95 sojourn", "utilisation"} <= set(before)
    assert len(app.get("plotly_chart")) == 3  # CDF, timeline, trade-off
    app.sidebar.slider(key="explore-mmc-workers").set_value(8).run()
    after = metrics(app)
    assert not app.exception
    assert float(after["p95 wait"].split()[0]) < float(before["p95 wait"].split()[0])
    assert after["utilisation"] != before["utilisation"]
    verdicts = [e.value for e in app.success] + [e.value for e in app.info]
    assert any("worker count" in v for v in verdicts)


def test_every_shipped_scenario_renders_with_its_own_values(app):
    for name in app.sidebar.selectbox(key="explore-name").options:
        app.sidebar.selectbox(key="explore-name").set_value(name).run()
        assert not app.exception, name
        assert metrics(app)["p95 sojourn"]
    from sim import scenario

    last = app.sidebar.selectbox(key="explore-name").options[-1]
    rate = [s for s in app.sidebar.slider if s.label == "Arrival rate (tasks/s)"][0]
    assert rate.value == scenario.load(f"scenarios/{last}.toml").arrivals.rate  # its own value


def test_a_daily_cycle_shows_its_arrival_rate_over_time(app):
    assert not [c for c in app.get("plotly_chart") if "Arrival rate" in c.proto.spec]
    app.sidebar.selectbox(key="explore-name").set_value("daily_cycle").run()
    assert not app.exception
    charts = [c for c in app.get("plotly_chart") if "Arrival rate over time" in c.proto.spec]
    assert len(charts) == 1 and "set rate" in charts[0].proto.spec


def test_invalid_pasted_scenario_shows_a_clear_error(app):
    app.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    app.sidebar.text_area(key="explore-toml").input("[workers]\ncount = 0\n").run()
    assert not app.exception
    assert any("workers.count = 0" in e.value for e in app.error)
    app.sidebar.text_area(key="explore-toml").input("[workers\n").run()
    assert any("malformed TOML" in e.value for e in app.error)
    app.sidebar.text_area(key="explore-toml").input("[workers]\ncount = 3\n").run()
    assert not app.error and not app.exception
    for file, why in (("nonexistent.csv", "does not exist"), (".", "cannot be read")):
        bad = f'[service]\ndist = "empirical"\nfile = "{file}"\n[workers]\ncount = 4\n'
        app.sidebar.text_area(key="explore-toml").input(bad).run()
        assert not app.exception, app.exception
        where = (data_folder().resolve() / file).resolve()  # read in the app's data folder
        assert any(f"service.file: data file '{where}' {why}" in e.value for e in app.error)


def test_a_pasted_lesson_file_runs_as_the_cli_runs_it(app):
    from pathlib import Path

    from sim import scenario
    from ui.scenario_input import widget_prefix

    path = Path("scenarios/lessons/02_multiplier_one.toml")
    app.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    app.sidebar.text_area(key="explore-toml").input(path.read_text()).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    rate = app.sidebar.slider(key=f"{widget_prefix(scenario.load(path), 'explore')}-rate")
    assert rate.value == scenario.load(path).arrivals.rate


def test_a_pasted_task_count_is_kept_not_replaced_by_a_slider_stop(app):
    from sim.scenario import loads
    from ui.scenario_input import widget_prefix

    text = 'name = "p"\n[run]\ntasks = 300\n'
    app.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    app.sidebar.text_area(key="explore-toml").input(text).run()
    assert not app.exception
    key = f"{widget_prefix(loads(text), 'explore')}-tasks"
    assert app.sidebar.select_slider(key=key).value == 300


def sliders(app) -> dict[str, float]:
    return {s.label: s.value for s in app.sidebar.slider}


def test_a_pasted_value_past_a_slider_is_simulated_as_written(app):
    """A slider's usual range widens to the file's value rather than clamping it: Explore shows
    what the CLI gives for the file."""
    from sim.analysis.runs import summarize
    from sim.engine.model import simulate
    from sim.scenario import loads

    text = (
        'name = "wide"\n[run]\ntasks = 1000\n[arrivals]\nrate = 0.05\n'
        "[service]\nmean = 30.0\n[workers]\ncount = 100\n"
    )
    app.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    app.sidebar.text_area(key="explore-toml").input(text).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    shown = sliders(app)
    assert (shown["Arrival rate (tasks/s)"], shown["Service mean (s)"]) == (0.05, 30.0)
    assert shown["Workers"] == 100
    sc = loads(text)
    cli = summarize(simulate(sc), sc)
    shown = metrics(app)
    assert (shown["p95 sojourn"], shown["utilisation"]) == (
        f"{cli.sojourn_p95:.3g} s",
        f"{cli.utilization:.1%}",
    )


def test_each_scenario_has_its_own_target_p95(app):
    """The target starts at four mean tasks of the scenario shown (mmc 4 s, flaky-api 1.2 s),
    not at the first one's, so a scenario's verdict does not hang on what was seen before."""
    assert app.number_input(key="explore-mmc-target").value == 4.0
    app.sidebar.selectbox(key="explore-name").set_value("flaky_api").run()
    assert not app.exception
    assert app.number_input(key="explore-flaky-api-target").value == 1.2
    app.number_input(key="explore-flaky-api-target").set_value(2.0).run()
    app.sidebar.selectbox(key="explore-name").set_value("mmc").run()
    assert app.number_input(key="explore-mmc-target").value == 4.0


def test_an_edited_paste_starts_its_sliders_from_the_new_values(app):
    """Sliders are kept per scenario; a paste edited under the same name (or none) is another
    scenario, so its sliders start from what it now says."""
    app.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    for count in (2, 6):
        text = f'name = "up"\n[arrivals]\nrate = 2\n[workers]\ncount = {count}\n'
        app.sidebar.text_area(key="explore-toml").input(text).run()
        assert not app.exception
        assert sliders(app)["Workers"] == count
    app.sidebar.text_area(key="explore-toml").input("[workers]\ncount = 3\n").run()
    assert sliders(app)["Workers"] == 3


def test_service_sliders_appear_only_where_they_drive_the_scenario(app):
    """The newsletter's service is uniform 0.1–0.4 s: no mean slider (it would show 1.00 and
    change nothing), its real mean said instead; an exponential scenario keeps the slider."""
    assert app.sidebar.slider(key="explore-mmc-mean").value == 1.0
    app.sidebar.selectbox(key="explore-name").set_value("newsletter").run()
    assert not app.exception
    keys = {w.key for w in app.sidebar.slider}
    assert "explore-newsletter-mean" not in keys and "explore-newsletter-cv" not in keys
    assert any("mean 0.25 s" in c.value for c in app.sidebar.caption)


def test_the_default_paste_is_a_stable_queue(app):
    app.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    assert not app.exception
    assert not any("overloaded" in w.value for w in app.warning)


def test_an_overloaded_scenario_says_how_many_workers_keep_up(app):
    app.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    overloaded = 'name = "overloaded"\n[arrivals]\nrate = 3.2\n[workers]\ncount = 2\n'
    app.sidebar.text_area(key="explore-toml").input(overloaded).run()
    assert not app.exception
    assert [w.value for w in app.warning if "overloaded" in w.value] == [
        "ρ = 1.60 ≥ 1 at 2 workers: the queue is overloaded, so wait and sojourn grow with the "
        "number of tasks and are not a steady state; at least 4 workers keep it stable"
    ]


def test_learn_checks_littles_law_on_a_run(app):
    app.sidebar.radio(key="page").set_value("Learn").run()
    assert not app.exception
    shown = metrics(app)
    assert shown["L (time-average in system)"] == shown["λ·W"]
    app.slider(key="learn-workers").set_value(8).run()
    assert metrics(app)["W (mean sojourn)"] != shown["W (mean sojourn)"]
    assert len(app.get("plotly_chart")) == 3  # utilisation, equal capacity, the lesson
    # prefetch: a bigger multiplier holds short tasks behind long ones
    p99 = metrics(app)["p99 wait, multiplier 4"]
    app.select_slider(key="learn-prefetch").set_value(16).run()
    assert float(metrics(app)["p99 wait, multiplier 16"].split()[0]) > float(p99.split()[0])
    # retries: fewer retries, more failures
    failed = int(metrics(app)["tasks ending in FAILURE"])
    app.slider(key="learn-retries").set_value(0).run()
    assert int(metrics(app)["tasks ending in FAILURE"]) > failed


def test_live_page_says_how_to_enable_itself_or_offers_a_run(app):
    from ui.live import unavailable

    app.sidebar.radio(key="page").set_value("Live").run()
    assert not app.exception
    if unavailable():
        assert any("To enable this page" in i.value for i in app.info)
    else:
        assert any(b.label == "Start live run" for b in app.button)


def test_compare_page_asks_for_a_live_run_first(app):
    app.sidebar.radio(key="page").set_value("Compare").run()
    assert not app.exception
    assert any("Live page" in i.value for i in app.info)


def test_compare_page_without_live_runs_says_how_to_enable_them(app, monkeypatch):
    """Installed without the live extra (README's first command), Compare does not send the
    user to a Live page that cannot run: it says what to install."""
    from ui import live as live_page

    monkeypatch.setattr(live_page, "unavailable", lambda: "install the live extra")
    monkeypatch.setattr(live_page, "_LATEST", [])
    app.sidebar.radio(key="page").set_value("Compare").run()
    assert not app.exception
    (said,) = [i.value for i in app.info]
    assert "live runs are off on this machine: to enable the Live page, install the live" in said


@pytest.mark.live
def test_compare_page_lays_a_live_run_beside_the_simulation(app, redis_url, monkeypatch):
    from live.run import run_live
    from sim import scenario
    from sim.analysis.runs import summarize
    from ui import live as live_page

    sc = scenario.load("scenarios/flaky_api.toml", ["run.tasks=60", "workers.count=2"])
    trace = run_live(sc, redis_url, time_scale=0.05)
    monkeypatch.setattr(live_page, "_LATEST", [live_page.LiveSession((sc,), 0.05, results=[trace])])
    live_panels_after_the_run(app, summarize(trace, sc, engine="live"))
    app.sidebar.radio(key="page").set_value("Compare").run()
    assert not app.exception
    assert len(app.dataframe) == 1
    assert len(app.get("plotly_chart")) == 4  # CDFs, Sankey, two Gantt charts
    shown = list(app.dataframe[0].value["verdict"])
    missed = sum(v != "ok" for v in shown)
    said = [e.value for e in [*app.success, *app.warning]]
    (headline,) = [v for v in said if v.startswith(("match: ", "miss: "))]
    expected = f"miss: {missed} of {len(shown)} figures" if missed else "match: every figure"
    assert headline.startswith(expected)  # the one-line verdict counts the table's misses


def live_panels_after_the_run(app, s) -> None:
    """The Live page's monitor of a finished run (flaky_api: retries) agrees with its summary."""
    import json

    app.sidebar.radio(key="page").set_value("Live").run()
    assert not app.exception, app.exception
    workers = table(app, "utilisation")
    assert list(workers["worker"]) == ["w1", "w2"] and set(workers["status"]) == {"stopped"}
    assert workers["succeeded"].sum() == s.tasks_succeeded
    assert workers["processed"].sum() > s.tasks_submitted  # Flower's: every delivery, retries'
    assert workers["retried"].sum() == s.retries > 0
    tasks = table(app, "attempts")
    assert len(tasks) == s.tasks_submitted and tasks["finished"].notna().sum() == s.tasks_succeeded
    app.multiselect(key="live-filter-worker").set_value(["w2"]).run()
    assert set(table(app, "attempts")["worker"]) == {"w2"}
    app.multiselect(key="live-filter-worker").set_value([]).run()
    app.multiselect(key="live-filter-state").set_value(["SUCCESS"]).run()
    tasks = table(app, "attempts")
    assert set(tasks["state"]) == {"SUCCESS"} and len(tasks) == s.tasks_succeeded
    retried = tasks[tasks["attempts"] > 1].iloc[0]
    app.selectbox(key="live-task-pick").set_value(retried["task"]).run()
    history = table(app, "t")
    assert "RETRY" in set(history["state"]) and history["attempt"].max() + 1 == retried["attempts"]
    assert list(history["state"])[-1] == "SUCCESS"
    split = next(
        json.loads(c.proto.spec) for c in app.get("plotly_chart") if "Wait split" in c.proto.spec
    )
    assert len(split["layout"]["shapes"]) == 9  # p50, p95, p99 on each of three histograms
    assert any(e.label.startswith("Stuck tasks") for e in app.expander)
    shown = metrics(app)
    assert shown["L (time-average in system)"] == shown["λ·W"]  # a complete run
    target = next(n.value for n in app.number_input if n.label == "Target p95 sojourn (s)")
    said = [e.value for e in [*app.success, *app.info, *app.warning] if "prediction" in e.value]
    assert len(said) == 1 and ("misses the target" in said[0]) == (s.sojourn_p95 > target)


@pytest.mark.live
def test_live_session_shows_the_run_while_it_goes(no_leftovers):
    import time

    import numpy as np

    from sim import scenario
    from sim.analysis import monitor
    from sim.rules.states import TERMINAL
    from ui.live import LiveSession

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=150", "workers.count=2"])
    session = LiveSession((sc,), 0.05)
    session.start()
    seen_partial = False
    seen_up: set[str] = set()
    sampled: set[str] = set()  # nodes in the capacity rows of a trace watched part-way
    deadline = time.monotonic() + 120
    while session.running and time.monotonic() < deadline:
        seen_up |= {node for node, up in session.nodes_up().items() if up}
        latest = session.latest
        if latest is not None and len(latest) > 0 and session.result is None:
            done = np.isin(latest.state, list(TERMINAL)).sum()
            seen_partial = seen_partial or 0 < done < 150
            sampled |= {node for _, node, _, _ in latest.capacity}
        time.sleep(0.2)
    assert session.error is None and session.result is not None
    assert seen_partial  # the watcher saw the run part-way
    assert sampled == {"w1", "w2"}  # with its capacity so far: the Live chart draws it as it goes
    assert seen_up == {"w1", "w2"} and session.nodes_up() == {}  # online while it ran
    trace = session.result
    columns, matched = monitor.task_table(trace, monitor.task_times(trace))
    assert matched == 150 and set(columns["state"]) == {"SUCCESS"}
    history = monitor.task_trace(trace, columns["task"][0])
    assert history["state"][:3] == ["PENDING", "RECEIVED", "STARTED"]


def test_learn_renders_every_lesson_side_by_side(app):
    app.sidebar.radio(key="page").set_value("Learn").run()
    for name in app.selectbox(key="learn-lesson").options:
        app.selectbox(key="learn-lesson").set_value(name).run()
        assert not app.exception, name
        shown = metrics(app)
        as_deployed = [v for k, v in shown.items() if k.endswith("as deployed")]
        with_fix = [v for k, v in shown.items() if k.endswith("with the fix")]
        assert as_deployed and with_fix and as_deployed != with_fix, name


@pytest.mark.live  # not alone: it counts failures the crash draws fix, not timings
def test_learn_runs_a_lesson_on_real_celery_beside_the_simulation(app, no_leftovers):
    import time

    app.sidebar.radio(key="page").set_value("Learn").run()
    app.selectbox(key="learn-lesson").set_value("04_child_death").run()
    from ui.lessons import _live_runs

    app.button(key="learn-live-04_child_death-start").click().run()
    session = _live_runs()["04_child_death"]
    deadline = time.monotonic() + 120
    while session.running and time.monotonic() < deadline:
        time.sleep(0.5)
    app.run()
    assert not app.exception and session.error is None
    shown = metrics(app)
    # the same crash draws on real Celery: every dead child a FAILURE, none once rejected
    assert int(shown["tasks failed, as deployed (real Celery)"]) > 0
    assert shown["tasks failed, with the fix (real Celery)"] == "0"
    beside = [m.value for m in app.markdown if "Simulated with the same" in m.value]
    assert beside and "**0**" in beside[0]  # the simulation of the same short run, beside it
    # it pays this host's costs, measured first, as the Live page's simulation does
    assert session.probed and ("as measured" in beside[0]) == (session.costs is not None)


def test_the_cores_lesson_sweeps_concurrency_and_throughput_flattens_at_the_cores():
    from ui.lessons import CONCURRENCY, concurrency_chart

    limited, unlimited = (trace.y for trace in concurrency_chart("10_concurrency_vs_cores").data)
    at = dict(zip(CONCURRENCY, limited, strict=True))
    assert at[32] == pytest.approx(at[4], rel=0.05)  # 4 cores: no gain past 4 processes
    assert unlimited[-1] > 6 * at[32]  # a core per slot keeps scaling


@pytest.mark.live  # the Live page offers its buttons only where Celery and redis-server are
def test_the_live_buttons_follow_the_run_and_a_reload_finds_it(monkeypatch):
    """Start is disabled and Stop enabled while a run goes, the other way round after it, and
    a new browser session (a reload) shows the same run, with no duplicate-key error."""
    import threading

    from ui import live as live_page

    release = threading.Event()
    session = simulated_run(thread=threading.Thread(target=release.wait, daemon=True))
    session.results.clear()  # still going
    session.latest = simulated_run().result
    session.thread.start()
    monkeypatch.setattr(live_page, "_LATEST", [session])

    def buttons(at):
        return {b.label: b.disabled for b in at.button}

    for _ in range(2):  # the first page load, then a reload: a fresh session state
        at = AppTest.from_file("../../app.py", default_timeout=120)
        at.run()
        at.sidebar.radio(key="page").set_value("Live").run()
        assert not at.exception, at.exception
        assert buttons(at)["Start live run"] and not buttons(at)["Stop"]
        assert any(c.value.startswith("Running") for c in at.caption)
        bar = at.get("progress")[0].proto
        assert (bar.text, bar.value) == ("Draining: 60 of 60 tasks ended (60 sent)", 100)
    session.results.append(session.latest)
    release.set()
    session.thread.join()
    at.run()
    assert not at.exception, at.exception
    assert not buttons(at)["Start live run"] and buttons(at)["Stop"]
    assert any(c.value.startswith("Finished") for c in at.caption)


@pytest.mark.live
def test_a_stopped_run_says_so_and_stays_out_of_compare_unless_asked(monkeypatch):
    import threading

    stopped = threading.Event()
    stopped.set()
    session = simulated_run(stop=stopped)
    at = live_page_showing(session, monkeypatch)
    assert any(c.value.startswith("Stopped after 60 of 60 tasks") for c in at.caption)
    assert not any("Finished" in c.value for c in at.caption)
    assert not any("Compare page" in e.value for e in at.success)  # the sizing advice may be
    at.sidebar.radio(key="page").set_value("Compare").run()
    assert any(i.value.startswith("The latest live run was stopped") for i in at.info)
    at.sidebar.radio(key="page").set_value("Live").run()
    at.button(key="live-compare-anyway").click().run()
    assert any(w.value.endswith("all the same, as asked.") for w in at.warning)  # it did take
    assert not [b for b in at.button if b.key == "live-compare-anyway"]
    at.sidebar.radio(key="page").set_value("Compare").run()
    assert not at.exception, at.exception
    assert len(at.dataframe) == 1  # compared, as asked
    assert any(w.value.startswith("This live run was cut short") for w in at.warning)


def test_the_page_is_in_the_address_so_a_reload_stays_on_it():
    """The reading half; the browser writes the address (test_browser checks that half)."""
    at = AppTest.from_file("../../app.py", default_timeout=120)
    at.query_params["page"] = "Learn"
    at.run()
    assert not at.exception
    assert at.sidebar.radio(key="page").value == "Learn"
    assert any("Little" in h.value for h in at.subheader)


def test_the_worker_sweep_covers_the_counts_a_scenario_talks_about():
    """The newsletter (one burst, 8 workers) says "try workers.count=16": both are swept, and
    the sweep starts where a steady queue keeps up (mmc: 4 workers for ρ = 0.8 at 4)."""
    from sim import scenario
    from ui.explore import worker_range

    assert {8, 16} <= set(worker_range(scenario.load("scenarios/newsletter.toml")))
    assert worker_range(scenario.load("scenarios/mmc.toml"))[0] == 4


def test_the_trade_off_chart_marks_the_current_count_on_a_whole_number_axis(app):
    import json

    spec = next(
        json.loads(c.proto.spec)
        for c in app.get("plotly_chart")
        if "Worker-count trade-off" in c.proto.spec
    )
    layout = spec["layout"]
    assert layout["xaxis"]["tickvals"] == [4, 5, 6, 7, 8]  # mmc's sweep, whole workers only
    assert layout["yaxis2"]["tickformat"] == ".0%"
    assert any(shape.get("x0") == 4 for shape in layout["shapes"])  # mmc runs 4 workers now
    colours = {t["line"]["color"] for t in spec["data"] if t.get("mode") == "lines+markers"}
    assert len(colours) == len([t for t in spec["data"] if t.get("mode") == "lines+markers"])


def test_a_lesson_whose_figure_is_a_count_shows_that_count(app):
    import json

    from sim.analysis.lessons import LESSONS, load

    app.sidebar.radio(key="page").set_value("Learn").run()
    app.selectbox(key="learn-lesson").set_value("11_killed_node_takes_a_message").run()
    assert not app.exception
    lesson = load(LESSONS / "11_killed_node_takes_a_message.toml")
    default, fixed = lesson.run()
    bars = [
        json.loads(c.proto.spec) for c in app.get("plotly_chart") if "Tasks lost" in c.proto.spec
    ]
    assert len(bars) == 1
    assert bars[0]["data"][0]["y"] == [default["tasks_lost"], fixed["tasks_lost"]]


def test_the_multi_type_tables_have_readable_headers_with_units(app):
    app.sidebar.selectbox(key="explore-name").set_value("thumbnails_and_reports").run()
    assert not app.exception
    types = table(app, "task type")
    assert list(types.columns) == [
        "task type",
        "tasks",
        "p95 wait (s)",
        "p50 sojourn (s)",
        "p95 sojourn (s)",
        "throughput (/s)",
    ]
    pools = table(app, "pool")
    assert list(pools.columns) == ["pool", "slots", "executions", "utilisation", "worker-seconds"]
    assert all(v.endswith("%") for v in pools["utilisation"])
    # each pool's own cost (the summary's by_pool), the two adding up to the run's
    from sim import scenario
    from sim.analysis.runs import summarize
    from sim.engine.model import simulate

    sc = scenario.load("scenarios/thumbnails_and_reports.toml")
    run = summarize(simulate(sc), sc)
    assert list(pools["worker-seconds"]) == [
        round(f["worker_seconds"]) for f in run.by_pool.values()
    ]
    assert sum(f["worker_seconds"] for f in run.by_pool.values()) == pytest.approx(
        run.worker_seconds
    )
    # each pool's textbook mean wait beside its simulated one (a single pool's only had one)
    (said,) = [c.value for c in app.caption if c.value.startswith("The textbook's mean wait per")]
    assert "fast 0.0352 s (simulated: " in said and "; slow 0.712 s (simulated: " in said
