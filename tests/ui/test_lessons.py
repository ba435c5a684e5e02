"""The Learn page's lessons: a lesson about one task type shows and charts that type alone."""

import base64
import json

import numpy as np
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


def numbers(values) -> np.ndarray:
    """A trace's values from a figure's JSON: a list, or plotly's typed array of a numpy one."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values)


def chart_specs(at: AppTest, title: str) -> list[dict]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return [s for s in specs if s["layout"]["title"]["text"].startswith(title)]


def test_a_lesson_about_worker_seconds_draws_the_pool_processes_it_paid_for():
    name = "16_autoscale_counts_reserved"
    at = learn_page_showing(name)
    default, fixed = load(LESSONS / f"{name}.toml").run()
    shown = {m.label: m.value for m in at.metric}
    assert shown["worker seconds, as deployed"] == f"{default['worker_seconds']:.4g}"
    assert shown["worker seconds, with the fix"] == f"{fixed['worker_seconds']:.4g}"
    (chart,) = chart_specs(at, "Pool processes of up nodes over time")
    tops = {t["name"]: numbers(t["y"]).max() for t in chart["data"]}
    assert tops == {"as deployed": 12, "with the fix": 6}  # --autoscale 12,1 against 6,1
    assert not chart_specs(at, "Sojourn")  # a cost lesson draws no latency CDF


def test_a_node_autoscaler_lesson_about_latency_also_draws_the_nodes_up():
    at = learn_page_showing("18_node_start_after_burst")
    assert chart_specs(at, "Sojourn, as deployed vs with the fix")
    (nodes,) = chart_specs(at, "Worker nodes up over time")
    assert [t["name"] for t in nodes["data"]] == ["as deployed", "with the fix"]
    deployed = numbers(nodes["data"][0]["y"])
    assert deployed.max() >= 9 and deployed.min() == 1
