"""The Learn page's lessons: a lesson about one task type shows and charts that type alone."""

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from sim.analysis.lessons import LESSONS, load, tasks_of
from sim.analysis.lessons import shown as written
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
    assert shown["wait p99 of short tasks, as deployed"] == written(FIGURE, default[FIGURE])
    assert shown["wait p99 of short tasks, with the fix"] == written(FIGURE, fixed[FIGURE])
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
    assert shown["worker seconds, as deployed"] == written(
        "worker_seconds", default["worker_seconds"]
    )
    assert shown["worker seconds, with the fix"] == written(
        "worker_seconds", fixed["worker_seconds"]
    )
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


def test_a_lesson_figure_is_written_with_its_unit():
    """A bare "8.726e+08" said nothing of bytes, "59.78" nothing of seconds."""
    from sim.analysis.lessons import said, shown

    assert shown("by_task.short.wait_p99", 59.78) == "59.8 s"
    assert shown("result_memory_peak", 872_620_000.0) == "872.6 MB"
    assert shown("worker_seconds", 41_468.7) == "41,469 worker-s"
    assert shown("tasks_failed", 134.0) == "134" and shown("throughput", 7.96) == "7.96 tasks/s"
    assert said("backend_pending_mean") == "time shown as PENDING, mean"


def test_lesson_07_charts_the_time_each_task_shows_as_pending():
    """Its sojourns are the same on both sides: a chart of them showed the fix doing nothing."""
    from sim.analysis.lessons import LESSONS, load
    from sim.analysis.metrics import backend_pending
    from sim.engine.model import simulate
    from ui.lessons import lesson_chart

    each = load(LESSONS / "07_track_started.toml")
    default, fixed = simulate(each.scenario), simulate(each.fixed())
    fig = lesson_chart(each, default, fixed, "simulated")
    assert "PENDING" in fig.layout.title.text
    medians = {t.name: float(np.median(t.x)) for t in fig.data}
    assert medians["with the fix"] < medians["as deployed"]
    assert len(fig.data[0].x) <= len(backend_pending(default, False))


@pytest.mark.parametrize("name", sorted(p.stem for p in LESSONS.glob("*.toml")))
def test_each_lessons_commands_say_where_simulate_prints_its_figure(name, capsys):
    """ "# as deployed, every figure" was false for 07 and 09, whose figures no summary has:
    the comment names the line of `queuelab simulate`'s table that holds it, or says none does."""
    import re

    from queuelab import cli
    from ui.lessons import commands

    figure = load(LESSONS / f"{name}.toml").figure
    lessons_line, simulate_line = commands(name, figure).splitlines()
    assert lessons_line.startswith(f"queuelab lessons {name}  #")
    command, _, comment = simulate_line.partition("  # ")
    assert cli.main(command.split()[1:]) == 0
    table = capsys.readouterr().out.splitlines()
    if absent := re.search(r"which has no (\S+) \(the line above prints it\)$", comment):
        assert absent[1] == figure and not any(figure in line for line in table)
    else:
        said = re.search(r"this figure is (?:its )?(\S+)(?: on its (\S+))? line$", comment)
        field, line = said.groups()
        assert f"{line}.{field}" == figure if line else field == figure
        (row,) = [row for row in table if row.split()[0] == (line or field)]
        assert (f"{field}=" in row) if line else len(row.split()) == 2
