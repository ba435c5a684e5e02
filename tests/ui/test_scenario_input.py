"""The app's scenario controls come from the declaration, and pasted text reads as the CLI reads."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sim import scenario
from sim.scenario import SERVICE_DISTS, loads
from sim.shapes import DIST_READS
from tests.ui.helpers import APP
from ui.scenario_input import CV_DRIVEN, DATA_ENV, KNOBS, drives, pool_knobs

ALL_KNOBS = [k for knobs in KNOBS.values() for k in knobs]


@pytest.mark.parametrize("knob", ALL_KNOBS, ids=lambda k: k.key)
def test_every_knob_moves_a_declared_field_within_its_range(knob):
    field = knob.field  # a KeyError for a field that is not declared
    if field.type is bool:
        return
    stops = knob.stops or (knob.bottom, knob.top)
    assert all(field.within(v) for v in stops), (field.key, field.allowed())
    assert knob.bottom < knob.top or knob.stops
    assert type(field.coerce(knob.bottom)) is field.type


def test_a_slider_starts_at_the_least_step_its_field_allows():
    bottoms = {k.key: k.bottom for k in ALL_KNOBS if not k.stops and k.field.type is not bool}
    assert bottoms["arrivals.rate"] == 0.1  # must be >= 1e-9: the first step
    assert bottoms["service.mean"] == 0.05  # must be > 0
    assert bottoms["workers.count"] == 1 and bottoms["workers.prefetch_multiplier"] == 0
    assert bottoms["failures.probability"] == 0.0


@pytest.mark.parametrize("path", sorted(Path("scenarios").glob("**/*.toml")), ids=str)
def test_pasted_text_of_a_shipped_file_is_the_scenario_the_cli_runs(path):
    assert loads(path.read_text()) == scenario.load(path)


@pytest.mark.parametrize("dist", SERVICE_DISTS)
def test_a_knob_drives_only_fields_the_service_distribution_reads(dist):
    """Set on a distribution that does not read it, a knob's field would be an error; erlang
    has no cv slider, as its cv is 1/√k, which most steps miss."""
    for knob in ALL_KNOBS:
        if knob.key.startswith("service.") and dist in knob.dists:
            assert knob.key.partition(".")[2] in DIST_READS[dist], (knob.key, dist)
    assert ("erlang" in CV_DRIVEN, "weibull" in CV_DRIVEN) == (False, True)


def test_a_single_burst_has_no_arrival_rate_slider_until_the_tasks_make_more_bursts():
    app = AppTest.from_file(APP, default_timeout=120).run()
    app.sidebar.selectbox(key="explore-name").set_value("newsletter").run()
    rates = [s for s in app.sidebar.slider if s.label.startswith("Arrival rate")]
    assert not rates and any("in one burst" in c.value for c in app.sidebar.caption)
    app.sidebar.select_slider(key="explore-newsletter-tasks").set_value(20000).run()
    assert not app.exception
    assert app.sidebar.slider(key="explore-newsletter-rate").value == 100.0  # 4 bursts, spaced


def test_a_piecewise_rate_off_its_rates_mean_is_said_to_the_digits_that_differ():
    """rate = 3.3333333 beside rates [0, 10, 0] (mean 3.33333333…) was refused as
    "arrivals.rate = 3.33333 but arrivals.rates average 3.33333": two equal numbers."""
    text = '[arrivals]\nprocess = "piecewise"\nrates = [0, 10, 0]\nperiod = 60\nrate = 3.3333333\n'
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input(text).run()
    (said,) = [e.value for e in at.error]
    assert "arrivals.rate = 3.3333333 but arrivals.rates average 3.33333333: the rate" in said


def test_a_task_type_left_no_share_is_named():
    """share = 0.0 is no share: beside a type of share 1.0 it gets nothing, and the error read
    "the shares given add up to 1: they must add up to 1, or to less ..."."""
    text = '[[tasks]]\nname = "a"\nshare = 1.0\n[[tasks]]\nname = "b"\nshare = 0.0\n'
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input(text).run()
    (said,) = [e.value for e in at.error]
    assert said.endswith(
        "tasks: the shares given add up to 1, which leaves nothing for b (a share of 0, or none, "
        "is an equal part of what the others leave): lower the others' shares, or remove the "
        "task type"
    )


def test_an_emptied_paste_says_it_runs_the_defaults():
    """The CLI warns of a scenario file that sets no field; an emptied text box (or one of
    comments only) ran the defaults on the page without a word."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    assert not [i for i in at.info if "sets no field" in i.value]  # the box's own example
    for text in ("", "# my scenario\n"):
        at.sidebar.text_area(key="explore-toml").input(text).run()
        assert not at.exception and not at.error
        (said,) = [i.value for i in at.info if "sets no field" in i.value]
        assert said.startswith(
            "The pasted text sets no field, so every field takes its default (8 workers, "
            "7.2 tasks a second)"
        )


def test_a_given_scenario_reads_its_data_files_in_the_app_data_folder(tmp_path, monkeypatch):
    """A pasted or uploaded scenario has no folder on the app's machine: its relative data file
    is read in the app's data folder (``QUEUELAB_APP_DATA``), named in full where it is not."""
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    text = '[arrivals]\nprocess = "trace"\nfile = "arrivals.txt"\n[run]\ntasks = 3\n'
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input(text).run()
    assert not at.exception
    (said,) = [e.value for e in at.error]
    where = tmp_path.resolve() / "arrivals.txt"
    assert said == f"This scenario is not valid: arrivals.file: data file '{where}' does not exist"
    (tmp_path / "arrivals.txt").write_text("0\n1\n2\n")
    at.run()
    assert not at.exception and not at.error and at.metric
    at.sidebar.text_area(key="explore-toml").input(text.replace("arrivals.txt", str(where))).run()
    assert not at.exception and not at.error and at.metric


def test_a_given_scenario_cannot_make_the_app_read_a_file_outside_its_data_folder(
    tmp_path, monkeypatch
):
    """``file = "/etc/hosts"`` had the app's server read any file its user may, and the error
    said the file's first line that began as a number does ('127.0.0.1 localhost'); one that
    held numbers (/proc/sys/kernel/pid_max) ran. Outside the data folder (absolute, ``..``, a
    link out of it) a file is refused unread, the one error whether it exists or not."""
    data, outside = tmp_path / "data", tmp_path / "secret"
    data.mkdir()
    outside.mkdir()
    (outside / "hosts").write_text("127.0.0.1 secret-host\n")
    (outside / "pid_max").write_text("4194304\n")
    (data / "link.csv").symlink_to(outside / "hosts")
    monkeypatch.setenv(DATA_ENV, str(data))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    for file in (
        str(outside / "hosts"),
        str(outside / "pid_max"),
        str(outside / "missing"),
        "../secret/hosts",
        "link.csv",
        "/etc/hosts",
    ):
        for table in ('[arrivals]\nprocess = "trace"\n', '[service]\ndist = "empirical"\n'):
            at.sidebar.text_area(key="explore-toml").input(f'{table}file = "{file}"\n').run()
            assert not at.exception, at.exception
            (said,) = [e.value for e in at.error]
            assert said == (
                f"This scenario is not valid: data file {file!r} is not in the app's data "
                f"folder, {data.resolve()} (QUEUELAB_APP_DATA where the app starts): the app "
                "reads data files only there, named by their path in it; the command line "
                "(`queuelab simulate`, `live`, …) reads any path"
            )
            assert not at.metric  # nothing ran
    assert scenario.loads(f'[service]\ndist = "empirical"\nfile = "{outside / "pid_max"}"\n')


@pytest.mark.parametrize(("widget", "value"), [("rate", 100.0), ("tasks", 1000)])
def test_sliders_that_together_break_a_rule_of_the_file_say_so(widget, value):
    """A warm-up of 150 s before 2,000 tasks at 7.2 a second: a faster rate or fewer tasks end
    the arrivals before it, and the page raised an uncaught ScenarioError."""
    text = "[run]\ntasks = 2000\nwarmup = 150.0\n[arrivals]\nrate = 7.2\n"
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input(text).run()
    (slider,) = [
        w for w in [*at.sidebar.slider, *at.sidebar.select_slider] if w.key.endswith(widget)
    ]
    slider.set_value(value).run()
    assert not at.exception, [e.value for e in at.exception]
    (said,) = [e.value for e in at.error]
    assert said.startswith("These settings cannot run together: run.warmup = 150 must be <")
    assert not at.metric


def test_max_retries_inf_is_a_checked_for_ever_box_and_unchecked_gives_a_slider():
    """A pasted ``max_retries = inf`` runs (the slider took int(inf): OverflowError) with the
    box checked and no slider; unchecked, the slider starts at Celery's default 3."""
    text = "[run]\ntasks = 300\n[failures]\nprobability = 0.3\n[retry]\nmax_retries = inf\n"
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    at.sidebar.text_area(key="explore-toml").input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    (box,) = [c for c in at.sidebar.checkbox if c.key.endswith("-retries-forever")]
    assert box.value and not [s for s in at.sidebar.slider if s.key.endswith("-retries")]
    box.uncheck().run()
    assert not at.exception, [e.value for e in at.exception]
    (slider,) = [s for s in at.sidebar.slider if s.key.endswith("-retries")]
    assert slider.value == 3


def test_the_controls_come_back_from_the_address_after_a_reload():
    """Streamlit writes each bound control to the address; a reload reads it from there."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["explore-name"] = "scraping"
    at.query_params["explore-scraping-workers"] = "9"
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="explore-name").value == "scraping"
    assert at.sidebar.slider(key="explore-scraping-workers").value == 9


def test_a_knob_on_a_field_completed_into_tasks_or_pools_drives_nothing():
    pools = scenario.load("scenarios/thumbnails_and_reports.toml")
    idle = {k.key for k in ALL_KNOBS if not drives(k.key, pools)}
    assert idle == {
        "service.mean",
        "service.cv",
        "workers.count",
        "workers.concurrency",
        "workers.prefetch_multiplier",
        "workers.cores",
        "failures.probability",
        "retry.max_retries",
        "retry.backoff",
        *AUTOSCALE,
    }
    mmc = scenario.load("scenarios/mmc.toml")
    assert {k.key for k in ALL_KNOBS if not drives(k.key, mmc)} == AUTOSCALE  # no --autoscale
    counts = pool_knobs(pools)
    assert [k.key for k in counts] == ["pools.fast.count", "pools.slow.count"]
    assert all(k.field.key == "workers.count" and k.bottom == 1 for k in counts)


AUTOSCALE = {"workers.autoscale_max", "workers.autoscale_min", "workers.autoscale_keepalive"}


def test_autoscale_knobs_replace_concurrency_and_a_duration_run_has_no_tasks_knob():
    burst = scenario.load("scenarios/autoscale_burst.toml")
    assert {k.key for k in ALL_KNOBS if not drives(k.key, burst)} == {"workers.concurrency"}
    daily = scenario.load("scenarios/daily_cycle.toml")
    assert {k.key for k in ALL_KNOBS if not drives(k.key, daily)} == {"run.tasks", *AUTOSCALE}


def test_a_node_autoscalers_worker_slider_spans_its_min_and_max_nodes():
    """Its count is where the run starts and must lie within min_nodes and max_nodes: the
    slider went to 64 over node_autoscale_cycle's 12, and each count past 12 was an error.
    Bounds that meet give no slider (Streamlit refuses one) but the count, said."""
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.sidebar.selectbox(key="explore-name").set_value("node_autoscale_cycle").run()
    slider = at.sidebar.slider(key="explore-node_autoscale_cycle-workers")
    assert (slider.min, slider.max) == (1, 12)
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    pinned = '[workers]\ncount = 3\nnode_autoscaler = "queue_length"\nmin_nodes = 3\n'
    at.sidebar.text_area(key="explore-toml").input(pinned + "max_nodes = 3\n").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [s for s in at.sidebar.slider if s.label == "Workers"]
    assert "Workers: 3 (min_nodes = max_nodes)" in [c.value for c in at.sidebar.caption]


def test_an_upload_that_is_not_utf8_is_said_so_as_the_cli_says_it():
    """A UTF-16 file (Windows Notepad's "Unicode"), decoded with replacement, was said to be
    malformed TOML at line 1, column 1; a UTF-8 one with a byte-order mark reads."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    text = "[workers]\ncount = 5\n[run]\ntasks = 1000\n"
    at.sidebar.file_uploader(key="explore-file").upload("mine.toml", text.encode("utf-16")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [
        "This scenario is not valid: mine.toml: not a text file: a scenario is TOML in UTF-8"
    ]
    at.sidebar.file_uploader(key="explore-file").clear().run()
    at.sidebar.file_uploader(key="explore-file").upload("mine.toml", text.encode("utf-8-sig"))
    at.run()
    assert not at.error and at.metric
