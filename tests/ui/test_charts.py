"""Chart helpers whose choices a reader relies on."""

import numpy as np

from ui.charts import gantt_window


def _spans(starts, ends):
    return {"start": np.array(starts, float), "end": np.array(ends, float)}


def test_gantt_charts_share_one_window_whether_or_not_they_are_cut():
    short, long = _spans([0, 1], [2, 90]), _spans([0, 5], [3, 170])
    assert gantt_window(short, long) == 170  # both shown whole: to the end of the longer run
    many = _spans(np.arange(500), np.arange(500) + 1)
    assert gantt_window(many, long, max_bars=400) == 399  # cut where the first reaches 400 bars


def test_histograms_mark_each_samples_quantiles_on_its_own_axis():
    from ui.charts import histograms

    marks = {"a": {"p50": 1.0, "p95": 2.0}, "b": {"p99": 7.0}}
    fig = histograms({"all": {"a": np.ones(3), "b": np.zeros(2)}}, {"all": marks}, "t")
    lines = [(s.xref, s.x0) for s in fig.layout.shapes]
    assert lines == [("x", 1.0), ("x", 2.0), ("x2", 7.0)]
    assert "p99 7 s" in fig.layout.annotations[1].text
    assert fig.layout.annotations[0].text.startswith("a<br>")  # one group: not named
    long = histograms({"all": {"a": np.ones(3)}}, {"all": {"a": {"p95": 3731.4}}}, "t")
    assert "p95 3,731 s" in long.layout.annotations[0].text  # not "3.73e+03 s"


def test_histograms_of_several_groups_are_a_row_each_in_its_colour_on_its_own_scale():
    """Two task types: a row each, named, in its own colour; each on its own x axis (shared, a
    thumbnail's 0.1 s stood squashed on a report's 4 s scale); marks on their own subplot."""
    from ui.charts import histograms

    groups = {
        "thumbnail": {"wait": np.full(9, 0.1), "runtime": np.full(9, 0.3)},
        "report": {"wait": np.full(3, 4.0), "runtime": np.full(3, 5.0)},
    }
    marks = {
        "thumbnail": {"wait": {"p95": 0.1}, "runtime": {}},
        "report": {"wait": {"p95": 4.0}, "runtime": {"p95": 5.0}},
    }
    fig = histograms(groups, marks, "t")
    assert [(d.xaxis, d.yaxis) for d in fig.data] == [
        ("x", "y"),
        ("x2", "y2"),
        ("x3", "y3"),
        ("x4", "y4"),
    ]
    colours = [d.marker.color for d in fig.data]
    assert colours[0] == colours[1] != colours[2] == colours[3]
    assert all(fig.layout[f"xaxis{i}"].matches is None for i in ("", 2, 3, 4))
    titles = [a.text.split("<br>")[0] for a in fig.layout.annotations[:4]]
    assert titles == [
        "thumbnail · wait",
        "thumbnail · runtime",
        "report · wait",
        "report · runtime",
    ]
    assert [(s.xref, s.x0) for s in fig.layout.shapes] == [("x", 0.1), ("x3", 4.0), ("x4", 5.0)]
    assert fig.layout.yaxis3.title.text == "tasks" and fig.layout.xaxis3.title.text == "seconds"


def test_a_cdf_spanning_orders_of_magnitude_is_drawn_in_log_time_and_says_so():
    from ui.charts import cdf

    rng = np.random.default_rng(1)
    tail = cdf({"sojourn": rng.lognormal(0, 1.5, 5000)}, "t")  # p99/p50 = e^(2.33·1.5) ≈ 33
    assert tail.layout.xaxis.type == "log" and "log scale" in tail.layout.xaxis.title.text
    assert tail.layout.xaxis.minor.ticks == "outside"
    # in a half-width column at a 1400 px window (Explore's, Compare's CDF) the 80-character
    # title on one line lost its ends ("econds, log scale (the slowest p99 ..."); 64 fit
    apart = cdf({"a": rng.exponential(0.1, 500), "b": rng.exponential(20, 500)}, "t", apart=True)
    for fig in (tail, apart):
        assert max(map(len, fig.layout.xaxis.title.text.split("<br>"))) <= 64
    waits = np.concatenate([np.zeros(3000), rng.exponential(1.0, 2000)])  # p99/p50 ≈ 6.6
    steady = cdf({"wait": waits}, "t")
    assert steady.layout.xaxis.type is None and steady.layout.xaxis.title.text == "seconds"


def test_a_cdf_rises_from_zero_at_its_least_value_so_a_lone_task_is_drawn():
    """A run of one task (Explore, ``run.tasks = 1``) drew a line through one point: nothing,
    an empty chart under a p95 of 0.73 s. The CDF now rises from 0 at the least value."""
    from ui.charts import cdf

    (lone,) = cdf({"sojourn": np.array([0.73])}, "t").data
    assert list(lone.x) == [0.73, 0.73] and list(lone.y) == [0.0, 1.0]
    (three,) = cdf({"wait": np.array([2.0, 0.0, 1.0])}, "t").data
    assert list(three.x) == [0.0, 0.0, 1.0, 2.0] and list(three.y) == [0.0, 1 / 3, 2 / 3, 1.0]


def test_the_arrival_rate_chart_draws_the_set_rate_over_the_drawn_bins():
    from ui.charts import arrival_rate

    fig = arrival_rate((np.array([0.0, 1.0]), np.array([2.0, 3.0])), (np.array([0.5]), [4.0]))
    assert [d.type for d in fig.data] == ["bar", "scatter"]
    assert list(fig.data[1].y) == [2.0, 3.0] and fig.layout.yaxis.title.text == "tasks/s"


def test_pool_processes_are_drawn_as_steps_on_their_own_axis_over_the_queue():
    from ui.charts import processes_and_queue

    fig = processes_and_queue(
        {"pool processes": (np.array([0.0, 2.0, 9.0]), np.array([1, 8, 8]))},
        {"queued": (np.array([0.0, 1.0, 5.0]), np.array([0, 200, 0]))},
    )
    queued, processes = fig.data
    assert queued.name == "queued" and queued.yaxis is None
    assert processes.yaxis == "y2" and processes.line.shape == "hv"
    assert list(processes.y) == [1, 8, 8]
    assert fig.layout.yaxis2.title.text == "pool processes"
    assert fig.layout.title.text == "Pool processes and queue length"
    # whole-number ticks from 0 (a few processes once showed 0.46, 2.35, ...)
    assert (fig.layout.yaxis2.tickmode, fig.layout.yaxis2.tick0, fig.layout.yaxis2.dtick) == (
        "linear",
        0,
        2,
    )


def test_nodes_of_two_pools_are_two_lines_on_one_axis_with_whole_ticks():
    from ui.charts import processes_and_queue

    fig = processes_and_queue(
        {
            "nodes (a)": (np.array([0.0, 30.0]), np.array([2, 40])),
            "nodes (b)": (np.array([0.0, 30.0]), np.array([1, 1])),
        },
        {"queued": (np.array([0.0, 1.0]), np.array([0, 9]))},
    )
    assert [d.name for d in fig.data] == ["queued", "nodes (a)", "nodes (b)"]
    assert fig.layout.yaxis2.title.text == "nodes" and fig.layout.yaxis2.dtick == 7
    assert fig.layout.title.text == "Nodes and queue length"
    # the second line is dashed: where both pools are equal it shows over the first
    assert [d.line.dash for d in fig.data[1:]] == ["solid", "dash"]


def test_each_pool_is_drawn_in_the_colour_of_its_own_queue():
    """Two pools, two queue lines, each named by its queues and its pool: a pool's processes
    take its queue's colour, dashed; the nodes, of no one pool, another, dotted."""
    from ui.charts import processes_and_queue, queued_label

    steps = (np.array([0.0, 3.0]), np.array([2, 4]))
    fast_line, slow_line = queued_label(["scrape"], "fast"), queued_label(["a", "b"], "slow")
    assert (fast_line, slow_line) == ("queued on scrape (pool fast)", "queued on a, b (pool slow)")
    fig = processes_and_queue(
        {"pool processes (fast)": steps, "pool processes (slow)": steps, "nodes": steps},
        {fast_line: steps, slow_line: steps},
    )
    line = {d.name: (d.line.color, d.line.dash) for d in fig.data}
    fast, slow = line[fast_line][0], line[slow_line][0]
    assert fast and slow and fast != slow
    assert line["pool processes (fast)"] == (fast, "dash")
    assert line["pool processes (slow)"] == (slow, "dash")
    assert line["nodes"][0] not in (fast, slow) and line["nodes"][1] == "dot"
    assert [d.yaxis for d in fig.data] == [None, None, "y2", "y2", "y2"]


def test_the_cost_frontier_joins_its_points_by_cost_and_goes_log_when_p95s_are_far_apart():
    from sim.analysis.frontier import FrontierPoint as Point
    from ui.pool_charts import cost_frontier

    points = [
        Point("static 1", "static", 10.0, 6000.0, True),
        Point("static 4", "static", 40.0, 8.0, True),
        Point("target 5", "autoscale", 25.0, 9.0, True),
        Point("target 20", "autoscale", 30.0, 50.0, False),
    ]
    fig = cost_frontier(points, "node_seconds", 10.0)
    static, scaled, line = fig.data
    assert (list(static.x), list(scaled.x)) == ([10.0, 40.0], [25.0, 30.0])
    assert list(line.x) == [10.0, 25.0, 40.0]
    assert list(line.text) == ["static 1", "target 5", "static 4"]
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.title.text == "node-seconds"
    assert fig.layout.annotations[0].y == 1.0 and fig.layout.shapes[0].y0 == 10.0  # log10
    near = cost_frontier(points[1:], "node_seconds", 10.0)
    assert near.layout.yaxis.type == "linear"


def test_a_confidence_band_of_few_points_has_no_markers_at_its_corners():
    """Plotly marks the points of a trace of fewer than 20 unless told: a band is an area."""
    from sim import scenario
    from sim.analysis.sweep import sweep
    from ui.charts import tradeoff

    points = sweep(scenario.load("scenarios/mmc.toml", ["run.tasks=200"]), [4, 5], reps=2)
    (ci,) = [t for t in tradeoff(points, 4.0).data if t.name == "95 % CI"]
    assert ci.mode == "lines" and ci.fill == "toself" and len(ci.x) == 4
    assert list(ci.y) == [p.sojourn_p95.high for p in points] + [
        p.sojourn_p95.low for p in points[::-1]
    ]


def test_a_running_count_is_one_line_per_side_not_a_mean_and_a_peak():
    """Tasks finished so far has no peak within a bin: its value at each bin's end is drawn."""
    from sim.analysis.metrics import step_counts
    from ui.charts import STEP_BINS, steps

    done = np.sort(np.random.default_rng(1).uniform(0, 100, 5000))
    fig = steps({"as deployed": step_counts(done, np.zeros(0))}, "Tasks finished", "tasks", True)
    (line,) = fig.data
    assert line.name == "as deployed" and len(line.x) == STEP_BINS + 1
    assert np.all(np.diff(line.y) >= 0) and line.y[-1] == 5000
    level = steps({"x": step_counts(done, np.zeros(0))}, "Level", "tasks")
    assert [t.name for t in level.data] == ["x (mean)", "x (peak)"]


def test_task_types_orders_of_magnitude_apart_are_drawn_in_log_time():
    """Explore's sojourn per task type: 0.5 s thumbnails beside 20 s reports (each type's own
    p99/p50 under 10) on a log time axis; on a linear one to the reports' p99 the thumbnails'
    line stood on the first pixel. Wait and sojourn of one type keep a linear axis."""
    from sim.analysis.mix import sojourns_by_type
    from sim.engine.model import simulate
    from sim.scenario import loads
    from tests.sim.analysis.test_frontier import BESIDE_A_BACKLOG
    from ui.charts import tail_ratio
    from ui.explore import figures

    sc = loads(BESIDE_A_BACKLOG).replace(**{"pools.reporters.count": 6})
    trace = simulate(sc)
    by_type, _ = figures(trace, per_type=True)
    assert by_type.layout.xaxis.type == "log"
    assert "the fastest p50" in by_type.layout.xaxis.title.text
    assert tail_ratio(sojourns_by_type(trace)) < 10  # no type's own tail is long
