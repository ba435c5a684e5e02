"""The Compare page through AppTest, a simulated run standing in for the live one."""

from streamlit.testing.v1 import AppTest


def compare_page(
    monkeypatch, sc, live_trace, tolerance: float | None = None, host_busy=None, time_scale=0.05
):
    """The Compare page with ``live_trace`` standing in for the latest live run of ``sc`` at
    ``time_scale`` (the page only reads its trace), at ``tolerance`` if given; ``host_busy``:
    how busy the host's CPUs were during it."""
    from ui import live as live_page

    busy = [] if host_busy is None else [host_busy]
    session = live_page.LiveSession((sc,), time_scale, results=[live_trace], host_busy=busy)
    monkeypatch.setattr(live_page, "_LATEST", [session])
    at = AppTest.from_file("../../app.py", default_timeout=120)
    at.run()
    at.sidebar.radio(key="page").set_value("Compare").run()
    if tolerance is not None:
        at.slider(key="compare-tol").set_value(tolerance).run()
    assert not at.exception, at.exception
    return at


def verdicts(at) -> dict[str, str]:
    """Each figure's verdict, a miss's cause read from the numbered list under the table."""
    table = at.dataframe[0].value
    causes = [m.value for m in at.markdown if m.value.startswith("1. ")]
    written = dict(line.split(". ", 1) for line in causes[0].splitlines()) if causes else {}
    return {
        figure: verdict.replace(f"cause {n}", written[n]) if verdict != "ok" else verdict
        for figure, verdict in zip(table["figure"], table["verdict"], strict=True)
        for n in [verdict.rpartition(" ")[2]]
    }


def test_compare_flags_the_figures_outside_the_tolerance_and_only_those(monkeypatch):
    """A run with dispatch and record overheads the simulation does not charge: every wait,
    sojourn and queue figure is missed with its cause, every count and rate is ok; a looser
    tolerance lets all but the furthest miss pass."""
    from sim import scenario
    from sim.analysis.compare import COMPARED
    from sim.engine.model import simulate

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=600"])
    slower = simulate(sc.replace(**{"overhead.dispatch": 0.05, "overhead.record": 0.02}))
    at = compare_page(monkeypatch, sc, slower)
    shown = verdicts(at)
    slowed = {f for f in COMPARED if f.startswith(("wait", "sojourn", "queue_len"))}
    assert {f for f, v in shown.items() if v != "ok"} == slowed
    assert all("overhead.delivery" in shown[f] for f in slowed if f.startswith("wait"))
    assert all("overhead.record" in shown[f] for f in slowed if f.startswith("sojourn"))
    at.slider(key="compare-tol").set_value(0.5).run()
    assert {f for f, v in verdicts(at).items() if v != "ok"} == {"wait_p50"}  # +153 %


def test_compare_says_how_busy_the_host_was_and_names_a_saturated_one(monkeypatch):
    """As ``queuelab compare``: from 75 % busy the host is every timing miss's cause, and the
    caption says the share either way."""
    from sim import scenario
    from sim.engine.model import simulate

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=600"])
    slower = simulate(sc.replace(**{"overhead.dispatch": 0.05}))
    busy = compare_page(monkeypatch, sc, slower, host_busy=0.9)
    assert any("CPUs were 90% busy during it" in c.value for c in busy.caption)
    assert "90% busy during the live run" in verdicts(busy)["wait_mean"]
    # a busy share is the run's own Celery or other work: it blames neither alone
    assert "any other work on the host" in verdicts(busy)["wait_mean"]
    # its remedy names the slider that sets a live run's time scale, not the CLI's flag
    assert "the Live page's 'Time scale' slider" in verdicts(busy)["wait_mean"]
    assert "--" not in verdicts(busy)["wait_mean"]
    quiet = compare_page(monkeypatch, sc, slower, host_busy=0.3)
    assert "overhead.delivery" in verdicts(quiet)["wait_mean"]


def test_compare_judges_each_of_several_pools_and_queues(monkeypatch):
    """Two pools on two queues, the live run paying a record cost the simulation does not: the
    thumbnails' pool is 16 % busier live, which the run's utilisation, the reports' pool
    averaged in, hid (+7 %); its row misses with utilisation's cause, as does the thumbnails'
    queue's mean length."""
    from sim import scenario
    from sim.engine.model import simulate

    sc = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=600"])
    live = simulate(sc.replace(**{"overhead.record": 0.05}))
    shown = verdicts(compare_page(monkeypatch, sc, live, time_scale=1.0))
    assert shown["utilization"] == "ok" and shown["by_pool.slow.utilization"] == "ok"
    assert "outside the task body" in shown["by_pool.fast.utilization"]
    assert "waits longer than modelled" in shown["by_queue.fast.queue_len_mean"]
    assert "by_queue.slow.queue_len_mean" in shown and "report.wait_p95" in shown


def test_compare_says_ok_for_every_figure_of_an_identical_run(monkeypatch):
    from sim import scenario
    from sim.engine.model import simulate

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=600"])
    at = compare_page(monkeypatch, sc, simulate(sc), tolerance=0.05)
    assert set(verdicts(at).values()) == {"ok"}
    assert [s.value for s in at.success] == ["match: every figure within 5% (or 0.05 apart)"]
    assert not any("second live run" in c.value for c in at.caption)  # said only of a miss


def test_compare_says_its_verdict_in_one_line_and_calibrates_at_a_button(monkeypatch):
    """A slower run stands in for the live one (the page only reads its trace): the headline
    says miss and why, the Gantt charts share one x range, and the calibrate button fits the
    overheads and offers the calibrated scenario."""
    from sim import scenario
    from sim.engine.model import simulate

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=600"])
    slower = simulate(sc.replace(**{"overhead.dispatch": 0.2, "overhead.record": 0.1}))
    at = compare_page(monkeypatch, sc, slower)
    assert [w.value for w in at.warning if w.value.startswith("miss: ")]
    assert any("a second live run of the same draws" in c.value for c in at.caption)
    ranges = [
        c.proto.spec for c in at.get("plotly_chart") if "Executions by worker" in c.proto.spec
    ]
    assert len(ranges) == 2 and all('"range":[0,' in r.replace(" ", "") for r in ranges)
    at.button(key="compare-calibrate").click().run()
    assert not at.exception, at.exception
    fitted = [i.value for i in at.info if i.value.startswith("Fitted overhead.delivery")]
    assert fitted and "calibrated simulation" in fitted[0]


def test_a_run_going_on_is_said_to_be_and_compared_once_it_has_ended(monkeypatch):
    import threading

    from sim import scenario
    from sim.engine.model import simulate
    from ui import live as live_page

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=60"])
    release = threading.Event()
    session = live_page.LiveSession((sc,), 0.05)
    session.thread = threading.Thread(target=release.wait, daemon=True)  # a run going on
    session.thread.start()
    monkeypatch.setattr(live_page, "_LATEST", [session])
    at = AppTest.from_file("../../app.py", default_timeout=120)
    at.run()
    at.sidebar.radio(key="page").set_value("Compare").run()
    assert [i.value for i in at.info] == [
        "A live run is going on: it is compared here once it has finished."
    ]
    session.results.append(simulate(sc))
    release.set()
    session.thread.join()
    at.run()
    assert not at.exception, at.exception
    assert len(at.dataframe) == 1 and not at.info


def test_the_figure_column_is_as_wide_as_its_longest_name(monkeypatch):
    """A fixed "small" width (75 px) cut "duplicate_executions" to "duplicate_executio": the
    column is left to fit its contents (the grid measures them), the others keep theirs."""
    import json

    from sim import scenario
    from sim.engine.model import simulate

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=60"])
    at = compare_page(monkeypatch, sc, simulate(sc))
    assert "duplicate_executions" in list(verdicts(at))
    config = json.loads(at.dataframe[0].proto.columns)
    assert "width" not in config.get("figure", {}), config
    assert config["verdict"]["width"] == "medium"  # "miss: cause 1", the cause beneath


def test_the_figures_table_is_as_tall_as_its_rows_and_no_taller(monkeypatch):
    """It was set 36 px a row, where the grid draws 35: under the last of 18 figures a blank
    band of half a row. It is sized to its content, every figure and no scrolling (AppTest keeps
    no element's height, so it is read where the page calls ``st.dataframe``)."""
    import streamlit as st

    from sim import scenario
    from sim.engine.model import simulate

    heights = []
    draw = st.dataframe

    def spy(data=None, *args, **kwargs):
        if isinstance(data, list) and data and "verdict" in data[0]:
            heights.append(kwargs.get("height", "auto"))
        return draw(data, *args, **kwargs)

    monkeypatch.setattr(st, "dataframe", spy)
    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=60"])
    compare_page(monkeypatch, sc, simulate(sc))
    assert heights and set(heights) == {"content"}


def test_a_textbook_run_is_told_the_control_that_compares_like_with_like(monkeypatch):
    """mmc is costless (overhead.model = "none") and a live run chosen to simulate "none: the
    textbook queue" is compared without Celery's costs: the warning told the app's reader to
    "add --set overhead.model=celery", a flag of the command line; it names the Live page's
    choice to measure them."""
    from sim import scenario
    from sim.engine.model import simulate

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=100"])
    at = compare_page(monkeypatch, sc, simulate(sc))
    (said,) = [w.value for w in at.warning if "overhead.model" in w.value]
    assert said.startswith('The scenario sets overhead.model = "none"')
    assert "--set" not in said
    assert said.endswith("measured on this host first.")


def test_a_worst_miss_against_a_simulated_zero_says_both_figures(monkeypatch):
    """A run cut 12 s in, after its last send (its unfinished tasks lost), beside a simulation
    that finishes them all: the worst miss, tasks_lost against 0, has no percent, and the
    headline read "worst tasks_lost -: counts differ"."""
    from tests.ui.helpers import run_so_far

    sc, cut = run_so_far(12.0)
    at = compare_page(monkeypatch, sc, cut)
    (said,) = [w.value for w in at.warning if w.value.startswith("miss: ")]
    lost = int(at.dataframe[0].value.set_index("figure").loc["tasks_lost", "live"])
    assert lost > 0
    assert f"worst tasks_lost (0 simulated, {lost} live): counts differ" in said


def test_a_data_file_edited_after_the_live_run_is_said_beside_the_comparison(monkeypatch, tmp_path):
    """The simulation beside a live run reads the scenario's CSV as it is now; the session
    keeps no numbers of its own. Edited after the run, the two ran on different numbers, which
    the page says, naming the file, where it compared them without a word."""
    from sim import scenario
    from sim.engine.model import simulate

    times = tmp_path / "times.csv"
    times.write_text("seconds\n0.5\n")
    sc = scenario.loads(f'[run]\ntasks = 60\n[service]\ndist = "empirical"\nfile = "{times}"\n')
    live = simulate(sc)

    def edited() -> list[str]:
        at = compare_page(monkeypatch, sc, live)
        return [w.value for w in at.warning if "changed after this live run" in w.value]

    assert edited() == []
    times.write_text("seconds\n1.5\n")
    (said,) = edited()
    assert said.startswith(f"{times} changed after this live run read it")
