"""The Live page's run to start, through AppTest: the time scale this host carries."""

import pytest


@pytest.mark.live  # the Live page's controls show only where Celery and redis-server are
def test_the_time_scale_starts_where_the_host_carries_the_run(monkeypatch):
    """mmc (3.2 tasks a second) on 2 cores: 0.1, at 16 % of them; at 0.02 the page warns
    that the run would measure the host (80 %). The simulation pays Celery's costs as measured
    on this host first, unless the user picks the scenario's own (a textbook scenario's: none)."""
    import os

    from streamlit.testing.v1 import AppTest

    from tests.ui.helpers import APP

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.sidebar.radio(key="page").set_value("Live").run()
    assert at.select_slider(key="live-scale").value == 0.1
    assert any("16% of this host's 2 CPUs" in c.value for c in at.caption)
    probe = at.radio(key="live-probe")
    assert probe.value is True and "none: the textbook queue" in probe.options[1]
    at.select_slider(key="live-scale").set_value(0.02).run()
    assert any("80% of this host's 2 CPUs" in w.value for w in at.warning)
    at.sidebar.selectbox(key="live-name").set_value("scraping").run()
    assert at.radio(key="live-probe").options[1] == "as the scenario sets"
    assert at.select_slider(key="live-scale").value == 0.5  # 6 a second: 30 % at 0.1
    at.sidebar.selectbox(key="live-name").set_value("mmc").run()
    assert at.select_slider(key="live-scale").value == 0.1  # each scenario its own scale
    at.select_slider(key="live-scale").set_value(1.0).run()
    at.number_input(key="live-mmc-tasks").set_value(100).run()
    assert at.select_slider(key="live-scale").value == 1.0  # the user's choice stays


@pytest.mark.live  # the Live page's controls show only where Celery and redis-server are
def test_a_rate_no_time_scale_here_carries_is_told_where_to_run_slower(monkeypatch):
    """400 tasks a second ask 200 % of 2 cores at the slider's slowest scale, 1: the warning
    said "raise the time scale" beside a slider already at its top; it names the CLI's
    --time-scale that carries the run (25 % of the CPUs at 8) and the rate."""
    import os

    from streamlit.testing.v1 import AppTest

    from tests.ui.helpers import APP

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.sidebar.radio(key="page").set_value("Live").run()
    at.sidebar.radio(key="live-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="live-toml").input("[arrivals]\nrate = 400.0\n").run()
    assert at.select_slider(key="live-scale").value == 1.0
    (said,) = [w.value for w in at.warning if "of this host's" in w.value]
    assert "200% of this host's 2 CPUs" in said
    assert "raise the time scale" not in said
    assert "`queuelab live SCENARIO --time-scale 8`" in said and "arrivals.rate" in said
    at.select_slider(key="live-scale").set_value(0.5).run()  # a slower scale is on the slider
    (said,) = [w.value for w in at.warning if "of this host's" in w.value]
    assert said.endswith("raise the time scale.")


@pytest.mark.live  # the Live page's controls show only where Celery and redis-server are
def test_a_run_whose_arrivals_take_long_says_how_long_before_it_starts():
    """300 tasks 900 s apart take 45 minutes at time scale 0.01, the least offered: the CLI
    warns of such a run, the page said nothing while its progress bar crawled."""
    from streamlit.testing.v1 import AppTest

    from tests.ui.helpers import APP

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.sidebar.radio(key="page").set_value("Live").run()
    assert not [w for w in at.warning if "minutes of wall time" in w.value]  # mmc: 9 s
    at.sidebar.radio(key="live-src").set_value("upload or paste").run()
    text = '[arrivals]\nprocess = "constant"\nrate = 0.00111111\n[run]\ntasks = 300\n'
    at.sidebar.text_area(key="live-toml").input(text).run()
    assert at.select_slider(key="live-scale").value == 0.01
    (said,) = [w.value for w in at.warning if "minutes of wall time" in w.value]
    assert said.startswith(
        "The arrivals alone take about 45 minutes of wall time at time scale 0.01"
    )


@pytest.mark.live  # the Live page's controls show only where Celery and redis-server are
def test_a_run_whose_retry_waits_long_says_so_before_it_starts():
    """A pasted retry countdown of a day beside failures: at time scale 0.1 a retry waits 144
    minutes of wall time, and the page started the run without a word, as the CLI's `live`
    did (the arrivals' length was the only one said)."""
    from streamlit.testing.v1 import AppTest

    from tests.ui.helpers import APP

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.sidebar.radio(key="page").set_value("Live").run()
    assert not [w for w in at.warning if "a retry may wait" in w.value.lower()]  # mmc: none
    at.sidebar.radio(key="live-src").set_value("upload or paste").run()
    text = "[failures]\nprobability = 0.5\n[retry]\nmax_retries = 1\ncountdown = 86400.0\n"
    at.sidebar.text_area(key="live-toml").input(text + "[run]\ntasks = 40\n").run()
    at.select_slider(key="live-scale").set_value(0.1).run()
    (said,) = [w.value for w in at.warning if "A retry may wait" in w.value]
    assert said.startswith("A retry may wait 144 minutes of wall time at time scale 0.1")
    assert said.endswith("Stop ends it and keeps what ran.")


def test_a_run_of_tasks_that_never_end_says_so_and_how_long_it_drains_before_it_starts():
    """Failing always and retried for ever, 40 tasks drained for 25 hours at time scale 0.5:
    the CLI's `live` and Explore say no task ever ends, the page started it without a word and
    its progress read "Draining: 0 of 40 tasks ended" until Stop."""
    from streamlit.testing.v1 import AppTest

    from tests.ui.helpers import APP

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.sidebar.radio(key="page").set_value("Live").run()
    assert not [w for w in at.warning if "ever" in w.value]  # mmc's tasks end
    at.sidebar.radio(key="live-src").set_value("upload or paste").run()
    text = "[failures]\nprobability = 1.0\n[retry]\nmax_retries = inf\n[run]\ntasks = 40\n"
    at.sidebar.text_area(key="live-toml").input(text).run()
    at.select_slider(key="live-scale").set_value(0.5).run()
    (said,) = [w.value for w in at.warning if "no task ever succeeds" in w.value]
    assert "about 25 hours" in said and "Stop" in said


@pytest.mark.live  # the Live page's controls show only where Celery and redis-server are
def test_what_a_run_asks_of_the_host_is_said_only_of_a_run_that_can_start():
    """A pasted scenario with CPU contention (workers.cores) is simulated only: Start is
    disabled with the reason, and no caption weighs the CPU load of a run that cannot
    happen."""
    from streamlit.testing.v1 import AppTest

    from tests.ui.helpers import APP

    def host_said(at) -> list[str]:
        return [e.value for e in (*at.caption, *at.warning) if "of this host's" in e.value]

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.sidebar.radio(key="page").set_value("Live").run()
    assert len(host_said(at)) == 1 and at.radio(key="live-probe")
    at.sidebar.radio(key="live-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="live-toml").set_value("[workers]\ncount = 2\ncores = 1\n").run()
    assert not at.exception
    assert any("cannot run live" in i.value for i in at.info)
    assert at.button(key="live-start").disabled
    assert host_said(at) == []
    assert not [r for r in at.radio if r.key == "live-probe"]  # no costs to measure for it


def _run_of_two_pools():
    """The Live page's controls for thumbnails_and_reports, and what the run would be."""
    import streamlit as st

    from sim import scenario
    from sim.words import workers_said
    from ui.live_setup import run_to_start

    run, *_ = run_to_start(scenario.load("scenarios/thumbnails_and_reports.toml"))
    st.text(workers_said(run))


@pytest.mark.live  # the Live page's controls show only where Celery and redis-server are
def test_a_scenario_of_pools_has_a_worker_count_for_each_pool():
    """ "Workers" set [workers].count, which reaches no [[pools]] pool: a run of fast 4 and slow
    3 said "2 workers". Each pool has its own input, and the run and its caption follow it."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_run_of_two_pools, default_timeout=60).run()
    assert [n.label for n in at.number_input if n.label.startswith("Workers")] == [
        "Workers in pool fast",
        "Workers in pool slow",
    ]
    assert at.text[0].value == "fast 4 + slow 3 workers"
    at.number_input(key="live-thumbnails_and_reports-workers-slow").set_value(2).run()
    assert at.text[0].value == "fast 4 + slow 2 workers"


def _run_of_one_task():
    from sim import scenario
    from ui.live_setup import run_to_start

    run_to_start(scenario.loads("[run]\ntasks = 1\n"))


@pytest.mark.live  # the Live page's controls show only where Celery and redis-server are
def test_a_scenario_of_fewer_tasks_than_a_live_run_takes_starts_at_the_least():
    """A pasted scenario of 1 task raised StreamlitValueBelowMinError: the Tasks input's least
    is 10."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_run_of_one_task, default_timeout=60).run()
    assert not at.exception, at.exception
    (tasks,) = [n for n in at.number_input if n.label == "Tasks"]
    assert tasks.value == 10


def test_a_run_that_would_send_no_task_cannot_start():
    from sim import scenario
    from ui.live_setup import refusal

    none = scenario.loads("[run]\nduration = 1e-6\n[arrivals]\nrate = 1.0\n")
    assert refusal(none, 0.1).startswith("the run submits no task")
    assert "This page has no control for it" in refusal(none, 0.1)
    assert refusal(scenario.load("scenarios/mmc.toml"), 1.0) is None


def test_a_time_scale_past_the_scenarios_longest_wait_is_refused_naming_the_slider():
    """By the CLI's rule (``live.waits``): a drawn service of 1e11 s (lognormal, cv 10) is a
    sleep past threading.TIMEOUT_MAX at 0.1, not at 0.05."""
    from sim import scenario
    from ui.live_setup import refusal

    sets = ["service.dist=lognormal", "service.cv=10", "service.mean=1e9", "run.tasks=100"]
    sc = scenario.load("scenarios/mmc.toml", sets)
    said = refusal(sc, 0.1)
    assert said.startswith(
        "time scale 0.1 makes the longest time drawn from service = 1.00192e+11 s"
    )
    assert "threading.TIMEOUT_MAX" in said and said.endswith("(the time scale above sets it)")
    assert "at a time scale of at most 0.092 " in said
    assert refusal(sc, 0.05) is None


@pytest.mark.live  # the Live page's controls show only where Celery and redis-server are
def test_each_scenario_starts_at_its_own_tasks_and_workers():
    """mmc's 4 workers stayed in the input when autoscale_burst (1 node) was picked, and a
    reload would have read 1 while Start ran 4: the inputs are keyed by scenario."""
    from streamlit.testing.v1 import AppTest

    from sim import scenario
    from tests.ui.helpers import APP

    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.radio(key="page").set_value("Live").run()
    assert at.number_input(key="live-mmc-workers").value == 4
    at.number_input(key="live-mmc-workers").set_value(3).run()
    burst = scenario.load("scenarios/autoscale_burst.toml")
    at.sidebar.selectbox(key="live-name").set_value("autoscale_burst").run()
    (workers,) = [n for n in at.number_input if n.label == "Workers"]
    assert workers.value == min(burst.workers.count, 4) != 3


def _run_of(text):
    import streamlit as st

    from sim import scenario
    from ui.live_setup import run_to_start

    run, _, _, refused = run_to_start(scenario.loads(text))
    st.write(f"{run.run.tasks} tasks, warm-up {run.run.warmup:g} s; refused: {refused}")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[run]\ntasks = 2000\nwarmup = 150.0\n", "300 tasks, warm-up 22.5 s; refused: None"),
        ("[run]\nduration = 1000.0\nwarmup = 500.0\n", "refused: run.warmup = 500 must be <"),
    ],
)
def test_a_warmup_past_the_live_run_s_arrivals_is_cut_with_it_or_refused(text, said):
    """300 tasks (the least of the file's and 300) of a run with a warm-up of 150 s at 7.2 a
    second ended their arrivals at 42 s, before it: pasted, the page raised ScenarioError."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_run_of, args=(text + "[arrivals]\nrate = 7.2\n",)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert said in at.markdown[-1].value


def test_a_run_by_duration_says_the_live_run_sends_its_first_tasks():
    """A live run is sized by Tasks, which takes the place of run.duration: daily_cycle's hour
    of arrivals became its first 300 tasks without a word."""
    from streamlit.testing.v1 import AppTest

    said = "It runs by run.duration (3,600 s of arrivals); a live run sends its first 300 tasks."
    by_duration = AppTest.from_function(
        _run_of, args=("[run]\nduration = 3600.0\n",), default_timeout=60
    ).run()
    assert [c.value for c in by_duration.caption if c.value.startswith("It runs by")] == [said]
    by_tasks = AppTest.from_function(_run_of, args=("[run]\ntasks = 2000\n",)).run()
    assert not [c.value for c in by_tasks.caption if c.value.startswith("It runs by")]
