"""Explore's "Autoscale or a fixed pool?" section, through AppTest and its policy list."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from sim.scenario import loads
from sim.words import seconds
from tests.sim.analysis.test_frontier import BESIDE_A_BACKLOG
from tests.ui.helpers import APP, table
from ui.scenario_input import widget_prefix


def test_an_autoscaling_pool_is_set_against_a_fixed_one_on_the_same_arrivals():
    """autoscale_burst (--autoscale 8,1), pasted at 400 tasks to be quick: the fixed pool at
    --concurrency 8 pays more worker-seconds than the shortest keepalive (measured 2,030
    against 1,051), and the run's pool processes are drawn against its queue. A fixed-pool
    scenario (mmc, the first page) shows neither."""
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    assert not any(h.value == "Autoscale or a fixed pool?" for h in app.subheader)
    text = Path("scenarios/autoscale_burst.toml").read_text().replace("tasks = 600", "tasks = 400")
    app.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    app.sidebar.text_area(key="explore-toml").input(text).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert any(h.value == "Autoscale or a fixed pool?" for h in app.subheader)
    rows = table(app, "node-seconds").set_index("pool")["worker-seconds"]
    assert list(rows.index) == [
        "fixed --concurrency 8",
        "--autoscale 8,1, keepalive 10 s",
        "--autoscale 8,1, keepalive 30 s",
        "--autoscale 8,1, keepalive 120 s",
    ]
    assert rows["fixed --concurrency 8"] > 1.5 * rows["--autoscale 8,1, keepalive 10 s"]
    (chart,) = [c for c in app.get("plotly_chart") if "Pool processes and queue" in c.proto.spec]
    assert '"pool processes"' in chart.proto.spec


def test_the_fixed_pool_runs_at_the_autoscale_max_and_the_own_keepalive_is_among_the_others():
    from sim import scenario
    from ui.autoscale import policies

    sc = scenario.load("scenarios/autoscale_burst.toml", ["workers.autoscale_keepalive=45"])
    plans = policies(sc)
    assert plans["fixed --concurrency 8"] == {
        "workers.autoscale_max": 0,
        "workers.autoscale_min": 0,
        "workers.concurrency": 8,
    }
    assert [p["workers.autoscale_keepalive"] for p in list(plans.values())[1:]] == [
        10.0,
        30.0,
        45.0,
        120.0,
    ]


def pasted(text: str) -> AppTest:
    """A fresh app on Explore showing the pasted scenario ``text``."""
    app = AppTest.from_file(APP, default_timeout=300)
    app.run()
    app.sidebar.radio(key="explore-src").set_value("upload or paste").run()
    app.sidebar.text_area(key="explore-toml").input(text).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    return app


def capacity_chart(app: AppTest) -> dict:
    import json

    (chart,) = [c for c in app.get("plotly_chart") if "and queue length" in c.proto.spec]
    return json.loads(chart.proto.spec)


def values(column) -> list:
    """A chart's column as a list: plotly writes numpy arrays as base64 ``bdata``."""
    import base64

    import numpy as np

    if isinstance(column, list):
        return column
    return np.frombuffer(base64.b64decode(column["bdata"]), dtype=column["dtype"]).tolist()


# node_autoscale_cycle compressed to an hour, to be quick: the same rates and node settings
HOUR = (
    Path("scenarios/node_autoscale_cycle.toml")
    .read_text()
    .replace("21600.0", "3600.0")
    .replace("node_autoscaler", "node_cooldown = 120.0\nnode_autoscaler")
)


def test_a_node_autoscaler_is_set_against_static_node_counts_and_drawn_as_nodes():
    """The hour: static 5 nodes (the fewest that keep up with the mean 2 tasks/s of 2 s tasks)
    and 12 (max_nodes) against the autoscaler at cooldowns 60 and 120 s; the autoscaler pays
    fewer node-seconds than 12 static nodes (measured 18,363 against 43,281), and its nodes
    over time stay whole and within 1..12. The run is the file's hour, not a Tasks slider's
    count (a Tasks slider would end it at 10,000 tasks)."""
    app = pasted(HOUR)
    assert "explore-node_autoscale_cycle-tasks" not in {s.key for s in app.sidebar.select_slider}
    assert any("Run: 3600 s of arrivals" in c.value for c in app.sidebar.caption)
    assert any("keeps 1 to 12 nodes" in c.value for c in app.sidebar.caption)
    rows = table(app, "node-seconds").set_index("pool")["node-seconds"]
    assert list(rows.index) == [
        "static 5 nodes",
        "static 12 nodes",
        "autoscaler, cooldown 60 s",
        "autoscaler, cooldown 120 s",
    ]
    assert abs(rows["static 12 nodes"] / 43200 - 1) < 0.01  # 12 nodes for the hour
    assert rows["autoscaler, cooldown 120 s"] < 0.6 * rows["static 12 nodes"]
    spec = capacity_chart(app)
    nodes = next(d for d in spec["data"] if d["name"] == "nodes")
    levels = values(nodes["y"])
    assert spec["layout"]["yaxis2"]["title"]["text"] == "nodes"
    assert spec["layout"]["yaxis2"]["dtick"] == 2 and spec["layout"]["yaxis2"]["tick0"] == 0
    assert set(levels) <= set(range(1, 13)) and max(levels) > 2
    assert any(h.value == "Autoscale or a fixed pool?" for h in app.subheader)
    # no sweep of the starting node count: it would only move where each run starts
    assert any("no count is swept" in i.value for i in app.info)
    assert not [c for c in app.get("plotly_chart") if "Worker-count trade-off" in c.proto.spec]


def test_each_autoscaling_pool_of_pools_draws_its_own_processes_and_is_compared():
    text = Path("scenarios/autoscale_burst.toml").read_text().replace("tasks = 600", "tasks = 400")
    text = text.split("[workers]")[0] + (
        '[[pools]]\nname = "elastic"\nqueues = ["celery"]\ncount = 1\nautoscale_max = 6\n'
        'autoscale_min = 1\n\n[[pools]]\nname = "fixed"\nqueues = ["celery"]\ncount = 1\n'
    )
    app = pasted(text)
    spec = capacity_chart(app)
    assert [d["name"] for d in spec["data"]] == ["queued", "pool processes (elastic)"]
    rows = table(app, "node-seconds").set_index("pool")
    assert list(rows.index)[0] == "fixed --concurrency 6"
    assert len(rows) == 4  # the fixed pool and keepalives 10, 30, 120 s
    assert any("pool elastic's settings" in c.value for c in app.caption)


def test_the_frontier_joins_the_settings_no_other_beats_and_names_the_cheapest_that_meets_a_p95():
    """autoscale_burst at 400 tasks: 4 static --concurrency sizes and 9 autoscale settings;
    the cheapest meeting a 60 s p95 is an autoscale setting (measured: --autoscale 8,0,
    keepalive 10 s, about 1,000 worker-seconds)."""
    import json

    text = Path("scenarios/autoscale_burst.toml").read_text().replace("tasks = 600", "tasks = 400")
    app = pasted(text)
    app.toggle(key="frontier").set_value(True).run()
    target = f"{widget_prefix(loads(text), 'explore')}-frontier-target"
    app.number_input(key=target).set_value(60.0).run()
    assert not app.exception and not app.error
    (chart,) = [c for c in app.get("plotly_chart") if "Cost against p95" in c.proto.spec]
    data = {d["name"]: d for d in json.loads(chart.proto.spec)["data"]}
    assert len(data["static"]["x"]) == 4 and len(data["autoscale"]["x"]) == 9
    every = [
        (x, y)
        for kind in ("static", "autoscale")
        for x, y in zip(data[kind]["x"], data[kind]["y"], strict=True)
    ]
    on = list(zip(data["frontier"]["x"], data["frontier"]["y"], strict=True))
    assert on == sorted(on) and 2 <= len(on) < len(every)
    for x, y in on:  # nothing beats a frontier point on both
        assert not any(a <= x and b <= y and (a, b) != (x, y) for a, b in every)
    (said,) = [s.value for s in app.success if "Cheapest setting" in s.value]
    assert "--autoscale 8," in said and "p95 sojourn ≤ 60 s" in said
    app.number_input(key=target).set_value(0.01).run()  # below every setting's p95
    (said,) = [i.value for i in app.info if i.value.startswith("No swept setting meets")]
    fastest = min(every, key=lambda point: point[1])[1]
    assert "the fastest, " in said and said.endswith("set a target at or above it.")
    assert f"has {seconds(fastest)};" in said


def test_under_autoscale_the_concurrency_slider_gives_way_to_the_autoscale_ones():
    text = Path("scenarios/autoscale_burst.toml").read_text().replace("tasks = 600", "tasks = 400")
    app = pasted(text)
    keys = {s.key for s in app.sidebar.slider} | {s.key for s in app.sidebar.select_slider}
    name = widget_prefix(loads(text), "explore").removeprefix("explore-")  # a paste: its digest
    assert f"explore-{name}-conc" not in keys
    assert {f"explore-{name}-asmax", f"explore-{name}-asmin", f"explore-{name}-keepalive"} <= keys
    app.sidebar.slider(key=f"explore-{name}-keepalive").set_value(120.0).run()
    rows = table(app, "node-seconds").set_index("pool")
    assert "--autoscale 8,1, keepalive 120 s" in rows.index
    app.sidebar.select_slider(key=f"explore-{name}-asmax").set_value(4).run()
    assert "fixed --concurrency 4" in table(app, "node-seconds")["pool"].tolist()
    mmc = AppTest.from_file(APP, default_timeout=120)
    mmc.run()
    assert "explore-mmc-conc" in {s.key for s in mmc.sidebar.slider}
    assert "explore-mmc-asmax" not in {s.key for s in mmc.sidebar.select_slider}


def test_beside_other_pools_an_autoscaling_pool_is_judged_by_its_own_tasks_queue_and_cost():
    """The reports' backlog (ρ = 4) makes the run's p95 and queue; the table and chart of the
    media pool show its thumbnails' p95, its own worker-seconds and its own queue instead."""
    from sim.analysis.cost import capacity_cost
    from sim.analysis.runs import summary
    from sim.engine.model import tally

    app = pasted(BESIDE_A_BACKLOG)
    sc = loads(BESIDE_A_BACKLOG)
    fixed = sc.replace(
        **{"pools.media.autoscale_max": 0, "pools.media.autoscale_min": 0}
        | {"pools.media.concurrency": 4}
    )
    run = tally(fixed)
    own, cost = summary(run, fixed), capacity_cost(run.capacity, run.makespan, nodes={"media-1"})
    row = table(app, "node-seconds").set_index("pool").loc["fixed --concurrency 4"]
    assert row["p95 sojourn (s)"] == round(own.by_task["thumb"]["sojourn_p95"], 3)
    assert row["p95 sojourn (s)"] < 0.1 * own.sojourn_p95  # not the reports' backlog
    assert row["worker-seconds"] == round(cost[0]) == round(4 * own.makespan)
    assert row["node-seconds"] == round(own.makespan)
    spec = capacity_chart(app)
    queued = next(d for d in spec["data"] if d["name"].startswith("queued on media"))
    assert max(values(queued["y"])) < 30  # the reports' queue reaches hundreds
    assert any("tasks on its queues (media" in c.value for c in app.caption)


def test_the_frontier_target_starts_where_the_fastest_setting_meets_it_however_fast():
    """1 ms tasks with no process start or Celery costs: the fastest p95 is under 45 ms, and
    its target rounded to the nearest tenth, 0.0, was below the input's least: the page
    raised StreamlitValueBelowMinError."""
    text = Path("scenarios/autoscale_burst.toml").read_text().replace("tasks = 600", "tasks = 400")
    text = text.replace("mean = 2.0", "mean = 0.001").replace("process_start = 0.2", "")
    text += '\n[overhead]\nmodel = "none"\n'
    app = pasted(text)
    app.toggle(key="frontier").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    target = f"{widget_prefix(loads(text), 'explore')}-frontier-target"
    assert app.number_input(key=target).value == 0.1
    assert any("Cheapest setting with a p95 sojourn ≤ 0.1 s" in s.value for s in app.success)


def test_each_scenario_has_its_own_frontier_target():
    """One key for every scenario's target carried autoscale_burst's 53.9 s over to
    node_autoscale_cycle, whose own is 8.5 s: its cheapest setting was judged against a target
    nobody set for it. Each keeps its own, as the sliders and the sizing targets do."""
    app = AppTest.from_file(APP, default_timeout=300).run()
    app.sidebar.selectbox(key="explore-name").set_value("autoscale_burst").run()
    app.toggle(key="frontier").set_value(True).run()
    app.number_input(key="explore-autoscale-burst-frontier-target").set_value(50.0).run()
    app.sidebar.selectbox(key="explore-name").set_value("node_autoscale_cycle").run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.number_input(key="explore-node_autoscale_cycle-frontier-target").value == 8.5
    app.sidebar.selectbox(key="explore-name").set_value("autoscale_burst").run()
    assert app.number_input(key="explore-autoscale-burst-frontier-target").value == 50.0
