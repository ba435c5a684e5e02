"""The Learn page through AppTest: it speaks as a reader does."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.helpers import APP


def test_learn_speaks_plainly_a_lesson_figure_one_worker_and_a_command_that_fits():
    import json

    app = AppTest.from_file(APP, default_timeout=120).run()
    app.sidebar.radio(key="page").set_value("Learn").run()
    app.selectbox(key="learn-lesson").set_value("01_prefetch").run()
    assert not app.exception
    labels = [m.label for m in app.metric]
    assert "wait p99, as deployed" in labels and not any("_" in label for label in labels)
    assert any("scenarios/lessons/01_prefetch.toml" in c.value for c in app.code)
    rho = next(
        json.loads(c.proto.spec) for c in app.get("plotly_chart") if "utilisation" in c.proto.spec
    )
    assert "1 worker" in [t["name"] for t in rho["data"]]
    assert rho["layout"]["yaxis"]["minor"]["ticks"] == "outside"  # 2…9 between the decades
    decades = rho["layout"]["yaxis"]  # their longer ticks set the labels clear of the 2…9
    assert decades["ticks"] == "outside" and decades["ticklen"] > decades["minor"]["ticklen"]
    assert any("one seed's run" in c.value for c in app.caption)  # the dots scatter, said so
    app.slider(key="learn-split").set_value(1).run()
    split = next(
        json.loads(c.proto.spec) for c in app.get("plotly_chart") if "Same capacity" in c.proto.spec
    )
    assert [t["name"] for t in split["data"]] == ["1 worker, service 1 s"]  # no empty "1 workers"


def test_the_learn_pages_runs_are_the_queue_erlang_c_describes():
    """No Celery per-task costs in §1 and §2: they teach the textbook M/M/c (with the costs,
    the dots sat 29 % and 20 % above Erlang C at ρ 0.5 and 0.7). One run of 20,000 tasks a
    point, fixed seed: within 15 % of Erlang C's mean wait at each load, 2 % of its sojourn."""
    from sim.analysis import analytic
    from ui.learn import mmc_scenario, mmc_summary, wait_against_utilisation

    assert mmc_scenario(3.2, 1.0, 4, 100).overhead.model == "none"
    s, _, _ = mmc_summary(3.2, 1.0, 4, 20000)
    assert abs(s.sojourn_mean / (1 + analytic.mmc_wait(3.2, 1.0, 4)) - 1) < 0.02
    _, _, dots = wait_against_utilisation()
    for rho, wait in dots.items():
        assert abs(wait / analytic.mmc_wait(rho * 4, 1.0, 4) - 1) < 0.15, (rho, wait)


def test_the_wait_chart_s_axis_holds_every_curve_and_dot():
    """A fixed range of 10⁻³ to 31.6 hid 16 workers below ρ 0.5 (4e-6 at ρ 0.3) and cut
    1 worker off above ρ 0.968 (32.3 at ρ 0.97)."""
    import math

    from ui.learn import wait_against_utilisation, wait_chart

    fig = wait_chart(*wait_against_utilisation())
    low, high = fig.layout.yaxis.range
    drawn = [y for trace in fig.data for y in trace.y]
    assert low < math.log10(min(drawn)) and math.log10(max(drawn)) < high
    assert math.log10(max(drawn)) > 1.5 and math.log10(min(drawn)) < -3  # both were cut


def test_littles_law_says_its_lambda_is_the_run_s_throughput_and_its_gap_has_no_arrow():
    """λ under a slider set to 3.2 shows 3.17: the run's measured rate, said so."""
    app = AppTest.from_file(APP, default_timeout=120).run()
    app.sidebar.radio(key="page").set_value("Learn").run()
    (rate,) = [m for m in app.metric if m.label.startswith("λ (")]
    assert rate.label == "λ (measured throughput, tasks per s)"
    (product,) = [m for m in app.metric if m.label == "λ·W"]
    assert product.proto.delta.startswith("gap ") and product.proto.direction == 2  # NONE


@pytest.fixture
def waiting_runs(monkeypatch):
    """Live runs that go on until released or stopped, with no Celery: yields the list of
    those started (by either page); releases them after."""
    import threading

    from live import session as live_session
    from ui import live as live_page
    from ui.lessons import _live_runs

    release = threading.Event()
    started = []

    class Waiting(live_session.LiveSession):
        def _run(self) -> None:
            started.append(self)
            while not release.wait(0.02) and not self.stop.is_set():
                pass

    monkeypatch.setattr(live_session, "LiveSession", Waiting)
    monkeypatch.setattr(live_page, "LiveSession", Waiting)
    monkeypatch.setattr(live_page, "_LATEST", [])
    _live_runs().clear()
    try:
        yield started
    finally:
        release.set()
        for run in started:
            run.thread.join()
        _live_runs().clear()


@pytest.mark.live  # the lesson's live button is offered only where Celery and redis-server are
def test_a_reload_finds_a_lessons_live_run_going_on_and_starts_no_second(waiting_runs):
    """The run was kept in the page's session state: a reload (a new session) lost it, so it
    ran on unseen, and offered the button again, to start a second run beside it."""
    from ui.lessons import _live_runs

    first, stale = open_lesson("04_child_death"), open_lesson("04_child_death")
    first.button(key="learn-live-04_child_death-start").click().run()
    reload = open_lesson("04_child_death")
    assert not reload.exception, reload.exception
    assert reload.button(key="learn-live-04_child_death-start").disabled
    assert any("Measuring Celery's costs" in i.value for i in reload.info)
    stale.button(key="learn-live-04_child_death-start").click().run()  # drawn before the run
    assert len(waiting_runs) == 1 and _live_runs()["04_child_death"] is waiting_runs[0]


@pytest.mark.live  # the lesson's live button is offered only where Celery and redis-server are
def test_a_lessons_button_is_disabled_on_the_page_its_click_draws(waiting_runs):
    """The click started the run after the button was drawn, so the page it drew offered the
    button again for the run's whole minute, a control that did nothing (the Live page's Start
    starts in its callback, before the page is drawn)."""
    lesson = open_lesson("04_child_death")
    lesson.button(key="learn-live-04_child_death-start").click().run()
    assert len(waiting_runs) == 1
    assert lesson.button(key="learn-live-04_child_death-start").disabled
    assert any("Measuring Celery's costs" in i.value for i in lesson.info)


@pytest.mark.live  # the live buttons are offered only where Celery and redis-server are
def test_one_live_run_at_a_time_across_the_live_and_learn_pages(waiting_runs):
    """A lesson's live run and the Live page's went on side by side on one host, each skewing
    the other's timings: each page now starts none while the other's goes on."""
    from ui.live import ONE_AT_A_TIME

    live = AppTest.from_file(APP, default_timeout=120).run()
    live.sidebar.radio(key="page").set_value("Live").run()
    assert not live.button(key="live-start").disabled
    open_lesson("04_child_death").button(key="learn-live-04_child_death-start").click().run()
    live.button(key="live-start").click().run()  # drawn before the lesson's run began
    assert len(waiting_runs) == 1
    assert live.button(key="live-start").disabled
    assert any(i.value == ONE_AT_A_TIME for i in live.info)
    other = open_lesson("01_prefetch")
    assert other.button(key="learn-live-01_prefetch-start").disabled
    assert any("Another live run is going on" in i.value for i in other.info)


@pytest.mark.live  # the lesson's live button is offered only where Celery and redis-server are
def test_a_lesson_started_as_another_run_starts_starts_none_beside_it(waiting_runs):
    """The lesson's button read ``going()`` and then started its run outside the Live page's
    start lock: a run started between the two (another tab, the Live page) got a second run
    beside it. Here the Live page's start holds the lock while the lesson's click waits."""
    import threading

    from live.session import LiveSession
    from sim.analysis.lessons import LESSONS, load
    from ui.live import start_lock

    lesson = open_lesson("04_child_death")
    with start_lock():
        click = threading.Thread(
            target=lambda: lesson.button(key="learn-live-04_child_death-start").click().run()
        )
        click.start()
        click.join(timeout=2)  # the lesson's click is past its read of going() and waits
        other = LiveSession(load(LESSONS / "01_prefetch.toml").live_scenarios(), 0.1)
        other.start()
    click.join(timeout=60)
    assert not click.is_alive() and not lesson.exception, lesson.exception
    assert waiting_runs == [other]


@pytest.mark.live  # the lesson's live button is offered only where Celery and redis-server are
def test_a_lessons_live_run_can_be_stopped_and_then_run_again(waiting_runs):
    """A lesson's live run had no Stop: it held the host (and every other live run) for its
    whole length, about a minute."""
    lesson = open_lesson("04_child_death")
    lesson.button(key="learn-live-04_child_death-start").click().run()
    (run,) = waiting_runs
    run.probed = True  # past the probe: the side's boot shows its progress (it showed none)
    lesson.run()
    assert any("Starting redis-server and " in p.proto.text for p in lesson.get("progress"))
    lesson.button(key="learn-live-04_child_death-stop").click().run()
    assert run.stop.is_set()
    run.thread.join(timeout=10)
    lesson.run()
    assert not lesson.exception, lesson.exception
    assert any(i.value.startswith("Stopped before both sides had run") for i in lesson.info)
    assert not lesson.button(key="learn-live-04_child_death-start").disabled
    lesson.button(key="learn-live-04_child_death-start").click().run()
    assert len(waiting_runs) == 2  # run again


def open_lesson(name: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120).run()
    app.sidebar.radio(key="page").set_value("Learn").run()
    app.selectbox(key="learn-lesson").set_value(name).run()
    return app
