"""The app through AppTest: widgets change what is shown; bad input is an error, not a crash."""

import pytest
from streamlit.testing.v1 import AppTest


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
    app.sidebar.slider(key="explore-workers").set_value(8).run()
    after = metrics(app)
    assert not app.exception
    assert float(after["p95 wait"].split()[0]) < float(before["p95 wait"].split()[0])
    assert after["utilisation"] != before["utilisation"]
    verdicts = [e.value for e in app.success] + [e.value for e in app.info]
    assert any("worker count" in v for v in verdicts)


def test_every_shipped_scenario_renders(app):
    for name in app.sidebar.selectbox(key="explore-name").options:
        app.sidebar.selectbox(key="explore-name").set_value(name).run()
        assert not app.exception, name
        assert metrics(app)["p95 sojourn"]


def test_invalid_pasted_scenario_shows_a_clear_error(app):
    app.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    app.sidebar.text_area(key="explore-toml").input("[workers]\ncount = 0\n").run()
    assert not app.exception
    assert any("workers.count = 0" in e.value for e in app.error)
    app.sidebar.text_area(key="explore-toml").input("[workers\n").run()
    assert any("malformed TOML" in e.value for e in app.error)
    app.sidebar.text_area(key="explore-toml").input("[workers]\ncount = 3\n").run()
    assert not app.error and not app.exception


def test_learn_checks_littles_law_on_a_run(app):
    app.sidebar.radio(key="page").set_value("Learn").run()
    assert not app.exception
    shown = metrics(app)
    assert shown["L (time-average in system)"] == shown["λ·W"]
    app.slider(key="learn-workers").set_value(8).run()
    assert metrics(app)["W (mean sojourn)"] != shown["W (mean sojourn)"]
    assert len(app.get("plotly_chart")) == 2
