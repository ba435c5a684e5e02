"""The Live page's monitor through AppTest, on a run whose trace the test shapes."""

import pytest

from tests.ui.helpers import going, live_page_showing, run_so_far, simulated_run, table


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_a_task_that_never_ends_is_flagged_stuck(monkeypatch):
    from sim.rules.states import PENDING
    from sim.trace import Trace

    session = simulated_run()
    t = session.result
    keep = (t.task != 0) | (t.state == PENDING)  # task 0 is sent and never heard of again
    cut = Trace(t.task[keep], t.attempt[keep], t.state[keep], t.t[keep], t.worker[keep], t.workers)
    session.results[:] = [cut]
    at = live_page_showing(session, monkeypatch)
    assert any(e.label.startswith("Stuck tasks (") for e in at.expander)
    at.number_input(key="live-stuck-factor").set_value(1.0).run()
    assert [w.value for w in at.warning if "stuck" in w.value][0].startswith("1 task stuck")
    assert list(table(at, "last state")["last state"]) == ["PENDING"]
    assert any(e.label == "Stuck tasks (1)" for e in at.expander)


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_a_task_is_stuck_by_the_sojourns_of_its_own_type(monkeypatch):
    """thumbnails_and_reports, 80 tasks: the first thumbnail never ends. Open ~16 s where
    thumbnails take at most ~1.4 s, it is stuck, though every type's p99 (the reports', ~9 s)
    × 3 is longer than the run."""
    import dataclasses

    from sim import scenario
    from sim.engine.model import simulate
    from sim.rules.states import PENDING
    from ui import live as live_page

    sc = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=80"])
    t = simulate(sc)
    assert t.task_types()[0] == 0  # a thumbnail
    keep = (t.task != 0) | (t.state == PENDING)
    columns = ("task", "attempt", "state", "t", "worker")
    cut = dataclasses.replace(t, **{c: getattr(t, c)[keep] for c in columns})
    session = live_page.LiveSession((sc,), 0.05, results=[cut])
    at = live_page_showing(session, monkeypatch)
    (said,) = [w.value for w in at.warning if "stuck" in w.value]
    assert said.startswith("1 task stuck") and "for a thumbnail" in said
    stuck = table(at, "last state")
    assert list(stuck["type"]) == ["thumbnail"] and list(stuck["last state"]) == ["PENDING"]


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_a_type_is_not_judged_stuck_on_its_first_few_finished_tasks(monkeypatch):
    """thumbnails_and_reports 7 s in: one report has finished, the shortest. 3 × its sojourn
    (4.2 s) flagged three reports running an ordinary 5 s; a type is judged once
    ``STUCK_FINISHED`` of its tasks have finished."""

    from sim.analysis.stuck import STUCK_FINISHED
    from ui import live as live_page

    sc, cut = run_so_far(7.0)
    session = live_page.LiveSession((sc,), 0.05, results=[cut])
    at = live_page_showing(session, monkeypatch)
    assert not [w.value for w in at.warning if "stuck" in w.value]
    assert any(e.label == "Stuck tasks (0)" for e in at.expander)
    said = [c.value for c in at.caption if c.value.startswith("Not judged until")]
    assert said == [
        f"Not judged until {STUCK_FINISHED} of its type have finished: report. "
        "The first tasks to finish are the shortest, and so is their p99."
    ]


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_a_live_run_whose_tasks_ran_long_is_said_to_be_another_queue(monkeypatch):
    from sim.engine.model import simulate

    session = simulated_run()
    at = live_page_showing(session, monkeypatch)
    assert not [w.value for w in at.warning if w.value.startswith("Each task held its slot")]
    sc = session.scenario
    session.results[:] = [simulate(sc.replace(**{"service.mean": 1.5 * sc.service.mean}))]
    at = live_page_showing(session, monkeypatch)
    said = [w.value for w in at.warning if w.value.startswith("Each task held its slot")]
    assert len(said) == 1
    stretch = float(said[0].removeprefix("Each task held its slot ").split("×")[0])
    assert 1.3 < stretch < 1.7  # 1.5 by mean runtime; by the slot-time of a backlog, near it


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_a_run_of_an_edited_data_file_is_set_beside_a_simulation_of_that_file(
    monkeypatch, tmp_path
):
    """The page's simulation beside a finished run was cached by the scenario's text, which
    names a CSV by its path: after an edit of the CSV, a run of the new numbers was set beside
    the old ones' simulation and said to hold its slots three times as long. Compare's is keyed
    as the page's is (``compared_run``'s key differs once the CSV has changed). A CSV edited
    after the run is said: the simulation beside it reads the file as it is now."""
    from sim import scenario
    from sim.engine.model import simulate
    from ui import live as live_page

    times = tmp_path / "times.csv"
    text = (
        f"[run]\ntasks = 60\n[arrivals]\nrate = 1.0\n[workers]\ncount = 2\n"
        f'[service]\ndist = "empirical"\nfile = "{times}"\n'
    )

    def stretch_said(service: str) -> tuple[list[str], str]:
        """The slot-stretch warnings of a run of ``text`` with ``service`` in the CSV, and the
        key of Compare's simulation of it."""
        times.write_text(f"seconds\n{service}\n")
        sc = scenario.loads(text)
        session = live_page.LiveSession((sc,), 0.05, results=[simulate(sc)])
        at = live_page_showing(session, monkeypatch)
        said = [w.value for w in at.warning if w.value.startswith("Each task held its slot")]
        return said, live_page.compared_run()[0]

    said, first = stretch_said("0.5")
    assert said == []
    said, edited = stretch_said("1.5")
    assert said == []
    assert edited != first and scenario.loads(edited) == scenario.loads(first)
    times.write_text("seconds\n3\n")  # after the run: said, as the simulation reads it now
    at = live_page_showing(live_page.latest(), monkeypatch)
    assert any(w.value.startswith(f"{times} changed after this live run") for w in at.warning)


def test_a_live_run_outlives_the_reimport_of_the_app_modules_after_a_source_change():
    """Streamlit re-imports every app module when a source file changes; the run going on is
    kept in its resource cache, so the Live page still finds it and can stop it."""
    import importlib
    import sys

    import ui
    from ui import live as before

    before._LATEST[:] = [simulated_run()]
    try:
        del sys.modules["ui.live"]
        after = importlib.import_module("ui.live")
        assert after is not before and after.latest() is before.latest()
    finally:  # the other tests' modules hold the first import
        sys.modules["ui.live"] = ui.live = before
        before._LATEST.clear()


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_the_live_page_draws_pool_processes_and_nodes_from_the_capacity_rows(monkeypatch):
    """mmc's 4 nodes of 1 process (60 tasks, simulated), w1 down from 2 s to 5 s: processes
    and nodes step 4 → 3 → 4 against the queue, on whole-number ticks."""
    import dataclasses
    import json

    from tests.ui.test_autoscale import values

    session = simulated_run()
    t = session.result
    rows = (*t.capacity, (2.0, "w1", False, 1), (5.0, "w1", True, 1))
    session.results[:] = [dataclasses.replace(t, capacity=rows)]
    at = live_page_showing(session, monkeypatch)
    (chart,) = [c for c in at.get("plotly_chart") if "and queue length" in c.proto.spec]
    spec = json.loads(chart.proto.spec)
    lines = {d["name"]: values(d["y"]) for d in spec["data"] if d.get("yaxis") == "y2"}
    assert lines == {"pool processes": [4, 3, 4, 4], "nodes": [4, 3, 4, 4]}
    assert spec["layout"]["yaxis2"]["title"]["text"] == "pool processes · nodes"
    assert spec["layout"]["yaxis2"]["dtick"] == 1
    # Flower's succeeded and failed per second, beside what was sent
    (flow,) = [c for c in at.get("plotly_chart") if "sent and ended per second" in c.proto.spec]
    lines = {d["name"]: d["line"]["color"] for d in json.loads(flow.proto.spec)["data"]}
    assert lines == {"sent": "#7f7f7f", "succeeded": "#2ca02c", "failed": "#d62728"}


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_the_workers_table_counts_processed_as_flower_does_and_succeeded_apart(monkeypatch):
    """flaky_api, 60 tasks (simulated), retries: Flower's Processed counts every delivery to
    the worker (task-received), its Succeeded the successes; this column read "processed"
    and counted only the successes."""
    from sim import scenario
    from sim.engine.model import simulate
    from sim.rules.states import RECEIVED, SUCCESS
    from ui import live as live_page

    sc = scenario.load("scenarios/flaky_api.toml", ["run.tasks=60", "workers.count=2"])
    trace = simulate(sc)
    session = live_page.LiveSession((sc,), 0.05, results=[trace])
    at = live_page_showing(session, monkeypatch)
    workers = table(at, "utilisation").set_index("worker")
    for w, name in enumerate(trace.workers):
        mine = trace.worker == w
        assert workers.loc[name, "processed"] == int((mine & (trace.state == RECEIVED)).sum())
        assert workers.loc[name, "succeeded"] == int((mine & (trace.state == SUCCESS)).sum())
    assert workers["processed"].sum() > workers["succeeded"].sum() + workers["failed"].sum()
    assert "queues" not in workers.columns  # one pool: every node consumes the one queue
    caption = next(c.value for c in at.caption if c.value.startswith("*Processed*"))
    assert "so far" not in caption  # the run has ended: its counts are the whole run's


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_a_node_that_joined_the_run_is_listed_busy_over_its_own_capacity(monkeypatch):
    """A run of mmc's two nodes joined by a third (`queuelab worker`: here a simulated run's
    w3, renamed, with its capacity rows, as the run now has a joined node's): the Workers
    table lists it, busy over the slot-seconds its rows say it had (mmc at ρ 0.8: as busy as
    the others). The table raised a KeyError, the node being none of the scenario's."""
    from sim import scenario
    from sim.engine.model import simulate
    from tests.sim.helpers import joined_as
    from ui import live as live_page

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=200", "workers.count=3"])
    joined = joined_as(simulate(sc), "w3", "vm-w1")
    own = sc.replace(**{"workers.count": 2})
    session = live_page.LiveSession((own,), 0.05, results=[joined])
    at = live_page_showing(session, monkeypatch)
    workers = table(at, "utilisation").set_index("worker")
    assert list(workers.index) == ["w1", "w2", "vm-w1"]
    shares = {w: int(workers.loc[w, "utilisation"].rstrip("%")) for w in workers.index}
    assert 50 <= shares["vm-w1"] <= 100 and abs(shares["vm-w1"] - shares["w1"]) < 20, shares


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_the_workers_of_several_pools_say_the_queues_they_consume(monkeypatch):
    from sim import scenario
    from sim.engine.model import simulate
    from ui import live as live_page

    sc = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=40"])
    session = live_page.LiveSession((sc,), 0.05, results=[simulate(sc)])
    at = live_page_showing(session, monkeypatch)
    workers = table(at, "busy now")  # the pools' own table, under the headline, has utilisation
    assert list(workers["queues"]) == ["fast"] * 4 + ["slow"] * 3
    assert list(workers["worker"]) == [f"fast-{i}" for i in range(1, 5)] + [
        "slow-1",
        "slow-2",
        "slow-3",
    ]


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_the_task_list_of_several_types_names_each_and_filters_by_type(monkeypatch):
    from sim import scenario
    from sim.engine.model import simulate
    from ui import live as live_page

    sc = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=80"])
    trace = simulate(sc)
    session = live_page.LiveSession((sc,), 0.05, results=[trace])
    at = live_page_showing(session, monkeypatch)
    shown = table(at, "attempts")
    assert set(shown["type"]) == {"thumbnail", "report"} and len(shown) == 80
    at.multiselect(key="live-filter-type").set_value(["report"]).run()
    reports = int((trace.task_types() == 1).sum())
    assert set(table(at, "attempts")["type"]) == {"report"}
    assert len(table(at, "attempts")) == reports > 0
    picked = table(at, "attempts")["task"].iloc[0]
    at.selectbox(key="live-task-pick").set_value(picked).run()
    assert f"Task {picked}: report, routed to queue slow." in [c.value for c in at.caption]


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_a_finished_run_of_several_types_gives_each_types_and_pools_figures(monkeypatch):
    """The headline's p95 sojourn mixes 0.3 s thumbnails with 5 s reports: under it each type's
    p95 and each pool's utilisation, the summary's own figures."""
    from sim import scenario
    from sim.analysis.runs import summarize
    from sim.engine.model import simulate
    from ui import live as live_page

    sc = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=80"])
    trace = simulate(sc)
    s = summarize(trace, sc, engine="live")
    session = live_page.LiveSession((sc,), 0.05, results=[trace])
    at = live_page_showing(session, monkeypatch)
    types = table(at, "task type").set_index("task type")
    assert list(types.index) == ["thumbnail", "report"]
    for name, figures in s.by_task.items():
        assert types.loc[name, "p95 sojourn (s)"] == round(figures["sojourn_p95"], 3)
    pools = table(at, "executions").set_index("pool")
    assert list(pools.index) == ["fast", "slow"]
    for name, figures in s.by_pool.items():
        assert pools.loc[name, "utilisation"] == f"{figures['utilization']:.1%}"


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_the_capacity_chart_of_several_pools_draws_each_pools_processes(monkeypatch):
    """thumbnails_and_reports: 4 one-process nodes on fast, 3 two-process nodes on slow;
    slow-2 down from 2 s to 5 s shows on slow's line and the nodes, not on fast's. Each pool
    is drawn against its own queue, in its colour: against the whole queue, the reports'
    backlog stood over the thumbnails' pool."""
    import dataclasses
    import json

    from sim import scenario
    from sim.analysis.mix import queued_on
    from sim.engine.model import simulate
    from tests.ui.test_autoscale import values
    from ui import live as live_page

    sc = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=80"])
    t = simulate(sc)
    rows = (*t.capacity, (2.0, "slow-2", False, 2), (5.0, "slow-2", True, 2))
    session = live_page.LiveSession((sc,), 0.05, results=[dataclasses.replace(t, capacity=rows)])
    at = live_page_showing(session, monkeypatch)
    (chart,) = [c for c in at.get("plotly_chart") if "and queue length" in c.proto.spec]
    spec = json.loads(chart.proto.spec)
    lines = {d["name"]: values(d["y"]) for d in spec["data"] if d.get("yaxis") == "y2"}
    assert lines == {
        "pool processes (fast)": [4, 4],
        "pool processes (slow)": [6, 4, 6, 6],
        "nodes": [7, 6, 7, 7],
    }
    queued = {d["name"]: d for d in spec["data"] if d.get("yaxis") != "y2"}
    # named by the queue and its pool: "queued (scrapers)" was the scrape queue's line
    assert list(queued) == ["queued on fast (pool fast)", "queued on slow (pool slow)"]
    for pool in ("fast", "slow"):
        own = queued_on(t, [pool])[1].tolist()
        assert values(queued[f"queued on {pool} (pool {pool})"]["y"])[: len(own)] == own
        colour = queued[f"queued on {pool} (pool {pool})"]["line"]["color"]
        processes = next(d for d in spec["data"] if d["name"] == f"pool processes ({pool})")
        assert processes["line"]["color"] == colour
    assert any(c.value.startswith("Each pool's processes (dashed)") for c in at.caption)


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_the_queue_and_capacity_charts_reach_the_runs_last_event(monkeypatch):
    """thumbnails_and_reports: the last report ends seconds after the last task started. The
    queue lines and the pools' processes go on until then, as the busy-slot chart does: they
    stopped at the last start, hiding the slow pool still paying for its processes."""
    import json

    from sim import scenario
    from sim.engine.model import simulate
    from tests.ui.test_autoscale import values
    from ui import live as live_page

    sc = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=80"])
    trace = simulate(sc)
    end = float(trace.t.max())
    session = live_page.LiveSession((sc,), 0.05, results=[trace])
    at = live_page_showing(session, monkeypatch)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    charts = {spec["layout"]["title"]["text"]: spec["data"] for spec in specs}
    for title in ("Queue length", "Pool processes · nodes and queue length"):
        lines = charts[title]
        assert len(lines) >= 2
        for line in lines:
            assert values(line["x"])[-1] == pytest.approx(end), (title, line["name"])


@pytest.mark.live
def test_a_probed_run_shows_the_probe_then_its_costs_and_compare_simulates_with_them(
    monkeypatch,
):
    """While the probe measures, the progress bar says so; once the run has ended, the page
    states the costs it measured and the run Compare simulates pays them."""
    import threading

    from live.probe import HostCosts
    from sim.analysis.calibrate import Fit
    from ui import live as live_page

    release = threading.Event()
    session = simulated_run(probe=True, thread=threading.Thread(target=release.wait, daemon=True))
    session.results.clear()  # the probe still going: no trace yet
    session.thread.start()
    at = live_page_showing(session, monkeypatch)
    bar = at.get("progress")[0].proto
    assert bar.text.startswith("Measuring Celery's costs on this host"), bar.text
    release.set()
    session.thread.join()
    fit = Fit(0.0021, 0.0004, 0.0011, 50, 24, 0.0017, "handover_late", 72)
    session.costs, session.probed = HostCosts(fit), True
    session.results.append(simulated_run().result)
    at = live_page_showing(session, monkeypatch)
    shown = [c.value for c in at.caption if c.value.startswith("Celery's costs on this host")]
    assert shown and "hand-over 1.7 ms" in shown[0], [c.value for c in at.caption]
    text, *_ = live_page.compared_run()
    assert 'model = "celery"' in text and "handover_late = 0.0017" in text, text


@pytest.mark.live
def test_a_run_stopped_during_the_probe_says_no_task_was_sent(monkeypatch):
    import threading

    stopped = threading.Event()
    stopped.set()
    session = simulated_run(probe=True, stop=stopped)
    session.results.clear()  # the probe was stopped: the run never began
    at = live_page_showing(session, monkeypatch)
    assert any(i.value.startswith("Stopped before the run began") for i in at.info)
    assert not next(b for b in at.button if b.label == "Start live run").disabled


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_the_latest_run_names_its_scenario_and_a_simulated_only_one_cannot_start(monkeypatch):
    """The latest run is the machine's, shown under any chosen scenario: it says which it ran,
    and when another is chosen, that Start runs that one. A scenario only the simulator models
    says why before Start, which is disabled, rather than failing after the click."""
    at = live_page_showing(simulated_run(), monkeypatch)
    assert any(c.value.startswith("Finished. mmc: 60 tasks") for c in at.caption)
    # a fresh tab's sidebar (300 tasks) stood above the 60-task run without a word
    (scale,) = [s.value for s in at.select_slider if s.key == "live-scale"]
    said = [i.value for i in at.info if "latest live run" in i.value]
    assert said == [
        "Below is this machine's latest live run, 60 tasks at time scale 0.05; Start runs "
        f"300 tasks at time scale {scale:g}."
    ]
    at.number_input(key="live-mmc-tasks").set_value(60).run()
    at.select_slider(key="live-scale").set_value(0.05).run()
    assert not any("latest live run" in i.value for i in at.info)
    at.number_input(key="live-mmc-workers").set_value(3).run()
    assert any(i.value.endswith("Start runs the settings in the sidebar.") for i in at.info)
    at.number_input(key="live-mmc-workers").set_value(4).run()
    at.sidebar.selectbox(key="live-name").set_value("node_autoscale_cycle").run()
    assert not at.exception
    said = [i.value for i in at.info]
    assert any("latest live run, of mmc; Start runs node_autoscale_cycle" in v for v in said)
    assert not any("cannot run live" in v for v in said)  # its node autoscaler runs live
    assert not at.button(key="live-start").disabled
    at.sidebar.radio(key="live-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="live-toml").set_value("[workers]\ncount = 2\ncores = 1\n").run()
    assert any("cannot run live: workers.cores = 1" in i.value for i in at.info)
    assert at.button(key="live-start").disabled


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_the_sizing_is_said_as_the_simulations_and_a_live_p95_over_the_target_beside_it(
    monkeypatch,
):
    """After a run, the fewest workers meeting the target is the simulation's prediction; a
    live p95 over the target is said in the same box, which warns, and not when it meets it."""
    from sim.analysis.runs import summarize

    session = simulated_run()
    p95 = summarize(session.result, session.scenario, engine="live").sojourn_p95
    at = live_page_showing(session, monkeypatch)
    target = next(n for n in at.number_input if n.label == "Target p95 sojourn (s)")
    target.set_value(round(p95 * 0.9, 2)).run()
    (said,) = [w.value for w in at.warning if w.value.startswith("Simulation's prediction")]
    assert f"This live run's own p95 sojourn, {p95:.3g} s, misses the target." in said, said
    assert not [s.value for s in at.success if "prediction" in s.value]
    target.set_value(round(p95 * 1.1, 2)).run()
    (said,) = [s.value for s in at.success if s.value.startswith("Simulation's prediction")]
    assert "misses" not in said and "(this run had 4)" in said
    short = [c.value for c in at.caption if c.value.startswith("The sweep sizes this run")]
    assert short and f"{session.scenario.run.tasks} tasks" in short[0]  # rough: said so
    assert f"This live run's own p95 sojourn, {p95:.3g} s, meets the target." in said, said


@pytest.mark.live  # the Live page offers its buttons only where Celery and redis-server are
def test_a_start_from_a_stale_tab_starts_no_second_run(monkeypatch):
    """A tab drawn before another tab's run began still offers Start: clicked, it started a
    second run beside the first, which the page then lost. Now it starts nothing and says
    why; the run going on stays the page's."""
    import threading

    from ui import live as live_page

    at = live_page_showing(simulated_run(), monkeypatch)  # finished: Start is offered
    assert not at.button(key="live-start").disabled
    stop = threading.Event()
    going = simulated_run()
    going.thread = threading.Thread(target=stop.wait, daemon=True)
    going.thread.start()  # another tab's run, begun after this page was drawn
    live_page._LATEST[:] = [going]
    try:
        at.button(key="live-start").click().run()
        assert live_page.latest() is going and len(live_page._LATEST) == 1
        assert any("already going on this machine" in w.value for w in at.warning)
    finally:
        stop.set()


@pytest.mark.live  # the Live page offers its buttons only where Celery and redis-server are
def test_stop_pressed_as_the_run_ends_leaves_it_finished(monkeypatch):
    """The page offers Stop until it next redraws, up to a second after the run's end: a Stop
    pressed then stopped a finished run, which the page then said was cut short and Compare
    refused."""
    import threading

    release = threading.Event()
    session = simulated_run(thread=threading.Thread(target=release.wait, daemon=True))
    finished = session.results.pop()
    session.thread.start()
    at = live_page_showing(session, monkeypatch)
    assert not at.button(key="live-stop").disabled
    session.results.append(finished)  # the run ends before the page redraws
    release.set()
    session.thread.join()
    at.button(key="live-stop").click().run()
    assert not at.exception, at.exception
    assert not session.stop.is_set()
    assert any(c.value.startswith("Finished") for c in at.caption)


@pytest.mark.live
def test_a_run_that_loses_its_redis_shows_what_was_collected(monkeypatch, no_leftovers):
    """Redis killed mid-run (a real run): the error says the trace and summary hold what was
    collected, and the page shows them, as a stopped run's, out of Compare unless asked. The
    session dropped the collected trace and the page showed the error alone."""
    import os
    import signal
    import time

    from sim import scenario
    from tests.conftest import command_line, descendants
    from ui import live as live_page

    def servers() -> set[int]:
        return {p for p in descendants(os.getpid()) if "redis-server" in command_line(p)}

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=300"])
    others = servers()  # the test session's own, when another test started it
    session = live_page.LiveSession((sc,), 0.05)
    session.start()
    deadline = time.monotonic() + 120
    while (session.latest is None or len(session.latest) < 100) and time.monotonic() < deadline:
        time.sleep(0.1)
    (server,) = servers() - others  # the run's private redis-server
    os.kill(server, signal.SIGKILL)
    session.thread.join(timeout=120)
    assert session.error.startswith("Redis went away mid-run (") and session.lost
    assert "RedisLost" not in session.error  # a message, not a Python class
    assert session.result is not None and len(session.result) >= 100
    at = live_page_showing(session, monkeypatch)
    assert any(e.value.startswith("Redis went away mid-run") for e in at.error)
    assert any(c.value.startswith("Cut short when Redis went away after") for c in at.caption)
    assert live_page.compared_run() is None  # its tail is missing
    assert "was cut short when its Redis went away" in live_page.not_compared()


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_a_run_stopped_before_its_last_send_is_not_offered_to_compare(monkeypatch):
    """Stopped after 20 of 200 tasks were sent: the simulation beside a live run replays every
    task's send time, so Compare cannot lay it beside one. 'Compare this stopped run anyway'
    was offered, and Compare then raised '20 arrival times for 200 tasks'."""
    import threading

    from live.clock import Clock
    from live.collector import to_trace
    from sim import scenario
    from sim.engine.draws import Draws
    from sim.rules.states import RECEIVED, STARTED, SUCCESS
    from ui import live as live_page

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=200"])
    rows = [
        (i, 0, state, 100.0 + 0.2 * i + 0.01 * step, "w1")
        for i in range(20)
        for step, state in enumerate((RECEIVED, STARTED, SUCCESS), start=1)
    ]
    sent = [(i, 100.0 + 0.2 * i) for i in range(20)]
    trace = to_trace(sent, rows, ["w1", "w2", "w3", "w4"], Clock(100.0, 0.05), Draws(sc))
    stopped = threading.Event()
    stopped.set()
    at = live_page_showing(
        live_page.LiveSession((sc,), 0.05, stop=stopped, results=[trace]), monkeypatch
    )
    assert not [b for b in at.button if b.key == "live-compare-anyway"]
    assert any("180 of its tasks were never sent" in c.value for c in at.caption)
    # its open executions count as cut short, and the Workers table's caption says by what
    assert any("running when the run was cut short" in c.value for c in at.caption)
    at.sidebar.radio(key="page").set_value("Compare").run()
    assert not at.exception, at.exception
    assert any("180 of its tasks were never sent" in i.value for i in at.info)


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_where_the_time_went_shows_each_task_types_own_waits(monkeypatch):
    """thumbnails_and_reports, 80 tasks: a row of histograms per type, each of its own tasks,
    its quantiles in its subtitles; mixed, the reports' waits read as a thumbnail tail. One
    type (mmc): one row, as before."""
    import json

    from sim import scenario
    from sim.analysis.wait_split import quantiles, wait_split_by_type
    from sim.engine.model import simulate
    from sim.words import seconds
    from tests.ui.test_autoscale import values
    from ui import live as live_page

    sc = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=80"])
    trace = simulate(sc)
    session = live_page.LiveSession((sc,), 0.05, results=[trace])
    at = live_page_showing(session, monkeypatch)
    (chart,) = [c for c in at.get("plotly_chart") if '"Wait split"' in c.proto.spec]
    spec = json.loads(chart.proto.spec)
    split = wait_split_by_type(trace)
    drawn = [sorted(values(d["x"])) for d in spec["data"]]
    assert drawn == [sorted(v.tolist()) for kind in split.values() for v in kind.values()]
    titles = [a["text"] for a in spec["layout"]["annotations"][:6]]
    assert titles[3].startswith("report · broker wait<br>")
    p95 = quantiles(split["report"]["broker wait"])["p95"]
    assert f"p95 {seconds(p95)}" in titles[3]
    at = live_page_showing(simulated_run(), monkeypatch)
    (chart,) = [c for c in at.get("plotly_chart") if '"Wait split"' in c.proto.spec]
    spec = json.loads(chart.proto.spec)
    assert len(spec["data"]) == 3 and spec["layout"]["annotations"][0]["text"].startswith(
        "broker wait<br>"
    )


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_empty_cells_of_the_live_pages_tables_are_a_dash(monkeypatch):
    """thumbnails_and_reports 7 s in: tasks queued have no worker and no start, tasks running
    no end. Streamlit writes a null cell "None"; every table here writes ``EMPTY``, and a task
    without a worker is such a cell too (it was a blank beside the times' "None")."""

    from ui import live as live_page
    from ui.widgets import EMPTY

    sc, cut = run_so_far(7.0)
    session = live_page.LiveSession((sc,), 0.05, results=[cut])
    at = live_page_showing(session, monkeypatch)
    tasks = table(at, "attempts")
    assert tasks["finished"].isna().any() and tasks["worker"].isna().any()
    assert not (tasks["worker"] == "").any()
    assert len(at.dataframe) >= 4  # the type and pool figures, workers, tasks
    assert [d.proto.placeholder for d in at.dataframe] == [EMPTY] * len(at.dataframe)


def test_the_kept_run_is_the_sidebars_after_the_scenario_classes_are_imported_again():
    """Streamlit re-imports ``sim`` after a source change; the kept run's scenario is then of
    the old classes and never equal to the sidebar's, which the page said differed ("Start
    runs the settings in the sidebar") over the very same settings."""
    import importlib
    import sys

    from sim import scenario
    from ui import live as live_page

    sc = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=80"])
    before = {n: m for n, m in sys.modules.items() if n == "sim" or n.startswith("sim.")}
    try:
        for name in before:
            del sys.modules[name]
        again = importlib.import_module("sim.scenario")
        same = again.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=80"])
    finally:  # the other tests' modules hold the first import
        for name in [n for n in sys.modules if n == "sim" or n.startswith("sim.")]:
            del sys.modules[name]
        sys.modules.update(before)
    assert type(same) is not type(sc) and same != sc
    session = live_page.LiveSession((sc,), 0.05)
    assert live_page.other_than_set(session, same, 0.05) is None
    other = same.replace(**{"pools.slow.count": 4})
    assert live_page.other_than_set(session, other, 0.05) == (
        "Below is this machine's latest live run; Start runs the settings in the sidebar."
    )


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_while_a_run_goes_each_queue_says_what_waits_on_it_and_who_consumes_it(monkeypatch):
    """thumbnails_and_reports 7 s in, going on: Flower's Broker page, a row per queue with its
    tasks waiting, reserved and running and the nodes up that consume it; none once it ended."""
    from sim.analysis import monitor
    from sim.analysis.queues import queue_stats
    from sim.analysis.scheduled import scheduled
    from sim.engine.model import simulate

    class Nodes:  # the run's WorkerPool: slow-3 is down
        def up(self) -> dict[str, bool]:
            return {name: name != "slow-3" for name, _ in sc.nodes}

    sc, cut = run_so_far(7.0)
    with going(sc, cut) as session:
        session.pool = Nodes()
        at = live_page_showing(session, monkeypatch)
        shown = table(at, "consumers online").set_index("queue")
        assert list(shown.index) == ["fast", "slow"]
        assert list(shown["consumers online"]) == ["4 of 4", "2 of 3"]
        for q in queue_stats(cut, monitor.task_times(cut), scheduled(cut, sc)):
            assert shown.loc[q.name, "waiting"] == q.waiting
            assert shown.loc[q.name, "running"] == q.running
        assert shown["running"].sum() > 0
        caption = next(c.value for c in at.caption if c.value.startswith("*Processed*"))
        assert "ended so far" in caption  # the Workers table's counts, as the run goes
    session.results.append(simulate(sc))  # the whole run: it ended
    at = live_page_showing(session, monkeypatch)
    assert not any(h.value == "Queues" for h in at.subheader)


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_while_a_run_goes_retries_held_for_their_countdown_are_scheduled_not_reserved(monkeypatch):
    """flaky_api 20 s in, going on: the retries the workers hold until their countdown is over
    are the Queues and Workers tables' "scheduled", apart from the messages prefetched
    ("reserved"), as Flower lists them."""
    from sim.analysis import monitor
    from sim.analysis.queues import queue_stats
    from sim.analysis.scheduled import scheduled

    sc, cut = run_so_far(20.0, "scenarios/flaky_api.toml", tasks=300)
    held = scheduled(cut, sc)
    (stats,) = queue_stats(cut, monitor.task_times(cut), held)
    assert stats.scheduled > 0 and stats.scheduled == held.sum()
    with going(sc, cut) as session:
        at = live_page_showing(session, monkeypatch)
    queues = table(at, "consumers online")
    assert list(queues["scheduled"]) == [stats.scheduled]
    assert list(queues["reserved"]) == [stats.reserved]
    workers = table(at, "busy now")
    assert workers["scheduled"].sum() == stats.scheduled
    assert workers["reserved"].sum() == stats.reserved
    said = next(c.value for c in at.caption if "*scheduled*" in c.value)
    assert "until its countdown is over" in said and "Flower's Reserved" in said


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_an_autoscaling_node_is_busy_of_the_processes_it_has_not_its_unread_concurrency(
    monkeypatch,
):
    """autoscale_burst 8 s into its burst, going on: --autoscale 8,1 runs 8 tasks; its
    concurrency (1, not read) made the Workers table say "busy now 8 of 1" and 700 %."""
    sc, cut = run_so_far(8.0, "scenarios/autoscale_burst.toml", tasks=60)
    with going(sc, cut) as session:
        at = live_page_showing(session, monkeypatch)
    workers = table(at, "busy now")
    assert list(workers["busy now"]) == ["8 of 8"]
    (share,) = workers["utilisation"]
    assert 50 < int(share.rstrip("%")) <= 100


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_tasks_ended_per_second_are_drawn_per_worker_or_per_task_type(monkeypatch):
    """thumbnails_and_reports, 80 tasks (simulated): Flower's monitor graphs, a line of
    successes per worker; by task type, a line per type, together every success of the run."""
    import json

    from sim import scenario
    from sim.engine.model import simulate
    from sim.rules.states import SUCCESS
    from tests.ui.test_autoscale import values
    from ui import live as live_page

    sc = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=80"])
    trace = simulate(sc)
    session = live_page.LiveSession((sc,), 0.05, results=[trace])
    at = live_page_showing(session, monkeypatch)

    def drawn():
        (chart,) = [c for c in at.get("plotly_chart") if "ended per second by" in c.proto.spec]
        spec = json.loads(chart.proto.spec)
        return spec["layout"]["title"]["text"], {d["name"]: values(d["y"]) for d in spec["data"]}

    title, lines = drawn()
    assert title == "Tasks ended per second by worker"
    assert list(lines) == [f"{w} succeeded" for w in trace.workers]
    at.radio(key="live-ended-by").set_value("task type").run()
    title, lines = drawn()
    assert title == "Tasks ended per second by task type"
    assert list(lines) == ["thumbnail succeeded", "report succeeded"]
    middle, _ = live_page.throughput.ended_by(trace, "type")
    span = middle[1] - middle[0]
    ended = sum(sum(y) for y in lines.values()) * span
    assert round(ended) == int((trace.state == SUCCESS).sum())


def _little_while_the_run_goes() -> None:
    """The Live page's Little's law on thumbnails_and_reports 7 s in (``run_so_far``)."""
    from sim.analysis import monitor
    from tests.ui.helpers import run_so_far
    from ui import live as live_page

    sc, trace = run_so_far()
    session = live_page.LiveSession((sc,), 0.05, latest=trace)
    live_page.sizing(session, trace, monitor.task_times(trace), None)


def test_littles_law_while_a_run_goes_names_its_lambda_the_rate_sent():
    """λ there is the tasks sent per second so far, which Little's law takes; it was labelled
    the measured throughput, the rate of tasks ended, which runs behind it while tasks are
    open (Learn's complete run has both the same)."""
    from streamlit.testing.v1 import AppTest

    from sim.analysis.littles_law import little
    from sim.analysis.monitor import task_times

    at = AppTest.from_function(_little_while_the_run_goes, default_timeout=60).run()
    assert not at.exception
    (rate,) = [m for m in at.metric if m.label.startswith("λ (")]
    assert rate.label == "λ (tasks sent per s, the run so far)"
    _, trace = run_so_far()
    assert rate.value == f"{little(trace, task_times(trace)).arrival_rate:.3g}/s"
