"""Explore's "Autoscale or a fixed pool?" section, through AppTest and its policy list."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.ui.helpers import APP, table


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
    rows = table(app, "worker-seconds").set_index("pool")["worker-seconds"]
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
