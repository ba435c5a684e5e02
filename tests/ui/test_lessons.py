"""The Learn page's lessons: a lesson about one task type shows and charts that type alone."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from sim.analysis.lessons import LESSONS, load, tasks_of
from sim.analysis.metrics import waits
from sim.engine.model import simulate
from ui.lessons import latency_chart

ROUTE = "12_route_long_tasks"
FIGURE = "by_task.short.wait_p99"


def learn_page_showing(name: str) -> AppTest:
    at = AppTest.from_file("../../app.py", default_timeout=120)
    at.run()
    at.sidebar.radio(key="page").set_value("Learn").run()
    at.selectbox(key="learn-lesson").set_value(name).run()
    assert not at.exception
    return at


def test_a_lesson_about_one_task_type_shows_that_types_figure_both_ways():
    at = learn_page_showing(ROUTE)
    default, fixed = load(LESSONS / f"{ROUTE}.toml").run()
    shown = {m.label: m.value for m in at.metric}
    assert shown["wait p99 of short tasks, as deployed"] == f"{default[FIGURE]:.4g}"
    assert shown["wait p99 of short tasks, with the fix"] == f"{fixed[FIGURE]:.4g}"
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "Wait of short tasks, as deployed vs with the fix (simulated)" in titles


def test_its_chart_is_the_waits_of_that_type_alone():
    trace = simulate(load(LESSONS / f"{ROUTE}.toml").scenario)
    chart = latency_chart(FIGURE, {"as deployed": trace}, "simulated")
    short = waits(trace, tasks_of(FIGURE, trace))
    assert len(short) < len(waits(trace))
    assert chart.data[0].x[-1] == pytest.approx(short.max())
    assert chart.data[0].y[-1] == 1.0
