"""Plotly figures built from traces and sweeps; pure functions, so pages and tests share them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from sim.analysis.metrics import binned_steps
from sim.analysis.sweep import SweepPoint
from sim.words import seconds

MAX_POINTS = 1000  # points per line: one a pixel or more at the width a chart is shown


STEP_BINS = 400  # a long step function is drawn as the mean and the peak of this many spans


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= MAX_POINTS:
        return x, y
    keep = np.linspace(0, len(x) - 1, MAX_POINTS).astype(int)
    return x[keep], y[keep]


# a log axis labelled at its decades, with unlabelled ticks at 2…9 between them; the decades'
# own ticks, longer, set the labels off the axis, where the short ones struck through them
LOG_AXIS = dict(
    type="log", dtick=1, ticks="outside", ticklen=7, minor=dict(ticks="outside", ticklen=4)
)
LONG_TAIL = 10.0  # p99 / p50 from which a CDF's time axis is drawn in log scale


def log_range(values: list[float], spare: float = 0.1) -> list[float]:
    """A log axis's range, in decades, holding every positive value drawn with ``spare`` of a
    decade each side: a fixed range hides a curve that runs past it. (Zero has no place on a
    log axis.)"""
    logs = np.log10([v for v in values if v > 0])
    return [float(logs.min()) - spare, float(logs.max()) + spare]


def tail_ratio(series: dict[str, np.ndarray], apart: bool = False) -> float:
    """The largest p99 / p50 among the samples' positive values (a task that did not wait has
    no place on a log axis, and would make every ratio infinite); ``apart``: the largest p99
    over the smallest p50, across the samples."""
    quantiles = [
        np.percentile(v, [50, 99])
        for v in (np.asarray(values)[np.asarray(values) > 0] for values in series.values())
        if len(v) >= 10
    ]
    if not quantiles:
        return 1.0
    if apart:
        return float(max(q[1] for q in quantiles) / min(q[0] for q in quantiles))
    return float(max(q[1] / q[0] for q in quantiles))


def cdf(series: dict[str, np.ndarray], title: str, apart: bool = False) -> go.Figure:
    """Empirical CDFs, one line per named sample (e.g. wait and sojourn, or sim and live); in
    log time when a sample spans orders of magnitude, where a linear axis would squash all but
    the tail into its first pixels. ``apart``: the samples are of different task types, so
    also when they lie orders of magnitude apart (a 0.2 s email's line would stand on the
    axis of a 20 s report's)."""
    fig = go.Figure()
    for name, values in series.items():
        x = np.sort(values)
        y = np.arange(1, len(x) + 1) / max(len(x), 1)
        x, y = _thin(x, y)
        if len(x):  # from 0 at the least value: a line through a lone task's point drew nothing
            x, y = np.r_[x[0], x], np.r_[0.0, y]
        fig.add_scatter(x=x, y=y, mode="lines", name=name)
    ratio = tail_ratio(series, apart)
    if ratio >= LONG_TAIL:
        if apart:
            spread = f"the slowest p99 is {ratio:.0f}× the fastest p50"
        else:
            spread = f"the longest tail's p99 is {ratio:.0f}× its p50"
        # two lines: on one, a half-width column (Explore's, Compare's) cut its ends off
        fig.update_xaxes(**LOG_AXIS, title=f"seconds, log scale<br>({spread}; 0 s is off the axis)")
    else:
        fig.update_xaxes(title="seconds")
    fig.update_layout(
        title=title,
        yaxis_title="fraction of tasks",
        yaxis_range=[0, 1.02],
        margin=dict(t=50, b=40),
    )
    return fig


def steps(
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    title: str,
    y_title: str,
    cumulative: bool = False,
    colours: dict[str, str] | None = None,
) -> go.Figure:
    """Step-function counts over time (queue length, busy slots); a long one drawn as each
    bin's mean and peak, or, ``cumulative`` (tasks finished so far), as its value at each bin's
    end: a running count has no peak within a bin to show. ``colours`` by series name (else the
    template's)."""
    fig = go.Figure()
    for name, (t, level) in series.items():
        line = dict(color=(colours or {}).get(name))
        if len(t) <= STEP_BINS * 4:
            fig.add_scatter(x=t, y=level, mode="lines", line_shape="hv", name=name, line=line)
            continue
        if cumulative:
            ends = np.linspace(t[0], t[-1], STEP_BINS + 1)
            at = level[np.searchsorted(t, ends, side="right") - 1]
            fig.add_scatter(x=ends, y=at, mode="lines", name=name, line=line)
            continue
        middle, mean, peak = binned_steps(t, level, STEP_BINS)
        fig.add_scatter(x=middle, y=mean, mode="lines", name=f"{name} (mean)")
        colour = line["color"] or fig.layout.template.layout.colorway[(len(fig.data) - 1) % 10]
        fig.data[-1].line.color = colour
        fig.add_scatter(
            x=middle,
            y=peak,
            mode="lines",
            name=f"{name} (peak)",
            line=dict(color=colour, width=1, dash="dot"),
        )
    fig.update_layout(
        title=title, xaxis_title="seconds since start", yaxis_title=y_title, margin=dict(t=50, b=40)
    )
    return fig


SOJOURN, ERLANG, UTILISATION = "#1f77b4", "#7f7f7f", "#ff7f0e"  # one colour per quantity
# the Live page's flow: what was sent grey, as the line the others should follow
FLOW = {"sent": "#7f7f7f", "succeeded": "#2ca02c", "failed": "#d62728"}


def vline(x: float, text: str, colour: str = "black", axis: int = 1) -> tuple[dict, dict]:
    """A dotted vertical line across the plot at ``x``, labelled at its top: the shape and the
    annotation ``add_vline`` makes, as plain layout entries (``add_vline`` itself walks every
    subplot and costs ~0.1 s a call, a rerun's worth of a slider move). ``axis``: the subplot's
    number (``make_subplots`` numbers them along each row, from 1)."""
    x_ref, y_ref = ("x", "y") if axis == 1 else (f"x{axis}", f"y{axis}")
    shape = dict(type="line", x0=x, x1=x, xref=x_ref, y0=0, y1=1, yref=f"{y_ref} domain")
    label = dict(x=x, xref=x_ref, y=1, yref=f"{y_ref} domain", xanchor="left", yanchor="top")
    return {**shape, "line": dict(dash="dot", color=colour)}, {**label, "text": text}


def hline(y: float, text: str, colour: str) -> tuple[dict, dict]:
    """A dotted horizontal line across the plot at ``y``, labelled at its right end (as
    ``add_hline`` draws it; see ``vline``)."""
    shape = dict(type="line", x0=0, x1=1, xref="x domain", y0=y, y1=y, yref="y")
    label = dict(x=1, xref="x domain", y=y, yref="y", xanchor="right", yanchor="bottom")
    return {**shape, "line": dict(dash="dot", color=colour)}, {**label, "text": text}


def marked(lines: list[tuple[dict, dict]]) -> dict:
    """``vline``s and ``hline``s as a layout's shapes and annotations."""
    return dict(
        shapes=[shape for shape, _ in lines],
        annotations=[dict(label, showarrow=False) for _, label in lines],
    )


def tradeoff(
    points: list[SweepPoint],
    target: float | None,
    analytic: dict[int, float] | None = None,
    current: int | None = None,
) -> go.Figure:
    """p95 sojourn (with its 95 % band) and utilisation against worker count, on a whole-number
    worker axis, with the scenario's ``current`` count marked. Built in one go, traces and
    layout as plain data: a slider move redraws it, and plotly's incremental ``add_*`` calls
    cost half a second where this costs a few milliseconds."""
    workers = [p.workers for p in points]
    lines = [hline(target, f"target p95 {target:g} s", "red")] if target else []
    if current is not None:
        lines.append(vline(current, "now"))
    utilisation = by_workers(points, [p.utilization.mean for p in points], UTILISATION)
    return go.Figure(
        [*_sojourn_p95(points, analytic), dict(utilisation, name="utilisation", yaxis="y2")],
        dict(
            title="Worker-count trade-off",
            xaxis=dict(title="workers", tickmode="array", tickvals=workers),
            yaxis=dict(title="seconds", rangemode="tozero"),
            yaxis2=UTILISATION_AXIS,
            legend=dict(orientation="h", y=-0.25),
            margin=dict(t=50, b=40),
            **marked(lines),
        ),
    )


UTILISATION_AXIS = dict(  # a right-hand axis in percent, ticks at 20 % steps
    title="utilisation",
    overlaying="y",
    side="right",
    range=[0, 1.05],
    tickformat=".0%",
    tick0=0,
    dtick=0.2,
    showgrid=False,
)


def by_workers(points: list[SweepPoint], y: list[float], colour: str) -> dict:
    """One figure of a sweep against worker count: a line with markers, as a trace's data."""
    x = [p.workers for p in points]
    return dict(type="scatter", x=x, y=y, mode="lines+markers", line=dict(color=colour))


def band(x: list, high: list[float], low: list[float], colour: str) -> dict:
    """A confidence band: the area from ``low`` to ``high`` over ``x``, no line and no markers
    (plotly marks the points of a trace of fewer than 20, dots at a band's corners)."""
    return dict(
        type="scatter",
        x=x + x[::-1],
        y=high + low[::-1],
        mode="lines",
        fill="toself",
        fillcolor=colour,
        line=dict(width=0),
        opacity=0.2,
        hoverinfo="skip",
    )


def _sojourn_p95(points: list[SweepPoint], analytic: dict[int, float] | None) -> list[dict]:
    """The simulated p95 sojourn with its confidence band, and Erlang C's where it applies."""
    workers = [p.workers for p in points]
    traces = []
    if points and points[0].sojourn_p95.low is not None:
        high, low = [p.sojourn_p95.high for p in points], [p.sojourn_p95.low for p in points]
        traces.append(dict(band(workers, high, low, SOJOURN), name="95 % CI"))
    mean = by_workers(points, [p.sojourn_p95.mean for p in points], SOJOURN)
    traces.append(dict(mean, name="p95 sojourn (simulated)"))
    if analytic:
        traces.append(
            dict(
                type="scatter",
                x=list(analytic),
                y=list(analytic.values()),
                mode="lines+markers",
                line=dict(dash="dash", color=ERLANG),
                name="M/M/c p95 sojourn (Erlang C)",
            )
        )
    return traces


def smallest_meeting(points: list[SweepPoint], target: float) -> int | None:
    """The fewest workers whose mean p95 sojourn is at or under ``target``."""
    meeting = [p.workers for p in points if p.sojourn_p95.mean <= target]
    return min(meeting) if meeting else None


def sankey(flows: dict[str, int], title: str) -> go.Figure:
    """State flows (PENDING→RECEIVED→STARTED→RETRY→…) as a Sankey diagram."""
    from sim.rules.states import NAMES

    pairs = [(k.split("→"), n) for k, n in flows.items()]
    fig = go.Figure(
        go.Sankey(
            node=dict(label=list(NAMES), pad=18),
            link=dict(
                source=[NAMES.index(a) for (a, _), _ in pairs],
                target=[NAMES.index(b) for (_, b), _ in pairs],
                value=[n for _, n in pairs],
            ),
        )
    )
    fig.update_layout(title=title, margin=dict(t=50, b=20))
    return fig


def gantt_window(*all_spans: dict[str, np.ndarray], max_bars: int = 400) -> float:
    """One time up to which several Gantt charts are drawn, so they line up and compare: where
    a chart has more than ``max_bars`` executions, up to the earliest time all of them can show
    every execution; else the end of the longest run."""
    cut = [
        float(np.sort(spans["start"])[max_bars - 1])
        for spans in all_spans
        if len(spans["start"]) > max_bars
    ]
    if cut:
        return min(cut)
    return max((float(spans["end"].max()) for spans in all_spans if len(spans["end"])), default=0.0)


def gantt(
    spans: dict[str, np.ndarray],
    workers: tuple[str, ...],
    title: str,
    max_bars: int = 400,
    until: float | None = None,
) -> go.Figure:
    """Executions as bars on their worker's row, coloured by how they ended; with ``until``,
    those that start before it, on an x axis from 0 to it."""
    from sim.rules.states import NAMES

    keep = np.argsort(spans["start"], kind="stable")[:max_bars]
    if until:
        keep = keep[spans["start"][keep] < until]
    fig = go.Figure()
    for code in np.unique(spans["state"][keep]).tolist():
        rows = keep[spans["state"][keep] == code]
        fig.add_bar(
            base=spans["start"][rows],
            x=spans["end"][rows] - spans["start"][rows],
            y=[workers[w] for w in spans["worker"][rows]],
            orientation="h",
            name=f"→ {NAMES[code]}",
            customdata=np.stack([spans["task"][rows], spans["attempt"][rows]], axis=1),
            hovertemplate="task %{customdata[0]} attempt %{customdata[1]}: %{x:.3g}s",
        )
    fig.update_layout(
        title=title,
        barmode="overlay",
        xaxis_title="seconds since start",
        yaxis=dict(categoryorder="category descending"),
        margin=dict(t=50, b=40),
    )
    if until:
        fig.update_xaxes(range=[0, until])
    return fig


def bars(values: dict[str, float], title: str, y_title: str) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(values), y=list(values.values())))
    fig.update_layout(title=title, yaxis_title=y_title, margin=dict(t=50, b=40))
    return fig


def lines(
    x: Sequence[float],
    series: dict[str, Sequence[float]],
    title: str,
    x_title: str,
    y_title: str,
    colours: dict[str, str] | None = None,
) -> go.Figure:
    """One line with markers per named series over a shared x (e.g. throughput vs concurrency);
    ``colours`` by series name (else the template's)."""
    fig = go.Figure()
    for name, y in series.items():
        fig.add_scatter(
            x=x, y=y, mode="lines+markers", name=name, line=dict(color=(colours or {}).get(name))
        )
    fig.update_layout(
        title=title, xaxis_title=x_title, yaxis_title=y_title, margin=dict(t=50, b=40)
    )
    return fig


QUANTILE_DASH = {"p50": "dot", "p95": "dash", "p99": "solid"}


def histograms(
    groups: dict[str, dict[str, np.ndarray]],
    marks: dict[str, dict[str, dict[str, float]]],
    title: str,
) -> go.Figure:
    """One histogram per named sample side by side, each with its quantiles (``marks``, e.g.
    {"p95": 1.2}) as labelled vertical lines and listed under its name; a row of them per group
    (e.g. task type), in the group's colour and named, where there are several, each on its own
    scale: on one shared down each column, 0.3 s thumbnails' runtimes stood in the first few
    percent of an axis that ran to the 19 s of reports' (the quantiles in each title compare
    them)."""
    from plotly.subplots import make_subplots

    names = list(next(iter(groups.values())))
    several = len(groups) > 1
    subtitles = [
        f"{f'{group} · ' if several else ''}{name}<br><sup>"
        + " · ".join(f"{q} {seconds(v)}" for q, v in marks[group][name].items())
        + "</sup>"
        for group in groups
        for name in names
    ]
    fig = make_subplots(
        rows=len(groups),
        cols=len(names),
        subplot_titles=subtitles,
    )
    colours, lines = fig.layout.template.layout.colorway, []
    for row, (group, samples) in enumerate(groups.items(), 1):
        colour = colours[(row - 1) % len(colours)] if several else SOJOURN
        for col, name in enumerate(names, 1):
            fig.add_histogram(
                x=samples[name], name=name, showlegend=False, marker_color=colour, row=row, col=col
            )
            for i, (q, v) in enumerate(marks[group][name].items()):
                shape, label = vline(v, q, "red", (row - 1) * len(names) + col)
                dash = QUANTILE_DASH.get(q, "solid")
                lines.append(
                    (
                        {**shape, "line": dict(dash=dash, color="red", width=1)},
                        {**label, "y": 1 - 0.08 * i},  # staggered: close quantiles' labels apart
                    )
                )
        fig.update_yaxes(title_text="tasks", row=row, col=1)
    for col in range(1, len(names) + 1):
        fig.update_xaxes(title_text="seconds", row=len(groups), col=col)
    quantile_lines = marked(lines)
    fig.update_layout(
        title=title,
        margin=dict(t=90, b=40),
        bargap=0.05,
        shapes=quantile_lines["shapes"],
        annotations=[*fig.layout.annotations, *quantile_lines["annotations"]],
    )
    if several:
        fig.update_layout(height=120 + 260 * len(groups))
    return fig


def stacked(x: np.ndarray, series: dict[str, np.ndarray], title: str, y_title: str) -> go.Figure:
    """Named series stacked as areas over a shared x: each one's share, and their total on top."""
    fig = go.Figure()
    for name, y in series.items():
        fig.add_scatter(x=x, y=y, mode="lines", stackgroup="one", name=name)
    fig.update_layout(
        title=title, xaxis_title="seconds since start", yaxis_title=y_title, margin=dict(t=50, b=40)
    )
    return fig


def arrival_rate(
    set_rate: tuple[np.ndarray, np.ndarray], drawn: tuple[np.ndarray, np.ndarray]
) -> go.Figure:
    """The arrival rate the scenario sets over time, and the rate its run drew (in bins)."""
    fig = go.Figure()
    fig.add_bar(x=drawn[0], y=drawn[1], name="drawn (per bin)", opacity=0.5)
    fig.add_scatter(x=set_rate[0], y=set_rate[1], mode="lines", name="set rate")
    fig.update_layout(
        title="Arrival rate over time",
        xaxis_title="seconds since start",
        yaxis_title="tasks/s",
        bargap=0,
        margin=dict(t=50, b=40),
    )
    return fig


def processes_and_queue(
    capacity: dict[str, tuple[np.ndarray, np.ndarray]],
    queued: dict[str, tuple[np.ndarray, np.ndarray]],
) -> go.Figure:
    """Pool processes or nodes over time (right axis, one line per series) against the queue
    length (left, one line per named queue count): how late an autoscaled pool grows in a burst
    and how long it pays for idle capacity after it. Two axes, since a queue of hundreds would
    flatten a pool of a few processes; whole-number ticks, as processes and nodes come whole.
    Lines after the first are dashed: four one-process nodes draw their processes and nodes on
    the same steps. With several queue lines, a capacity line and the queue line that name the
    same pool in parentheses ("pool processes (scrapers)", "queued on scrape (pool scrapers)",
    ``queued_label``) share a colour, the capacity dashed: each pool read against its own
    queues, not the others' backlog."""
    unit = " · ".join(dict.fromkeys(name.split(" (")[0] for name in capacity))
    colorway = go.Figure().layout.template.layout.colorway
    paired = {_queued_pool(name): colorway[j % len(colorway)] for j, name in enumerate(queued)}
    several = len(queued) > 1
    fig = steps(
        queued,
        f"{unit.capitalize()} and queue length",
        "queued tasks",
        colours={name: paired[_queued_pool(name)] for name in queued} if several else None,
    )
    for i, (name, (t, level)) in enumerate(capacity.items()):
        colour = UTILISATION if i == 0 else colorway[(i + 2) % 10]
        dash = "solid" if i == 0 else "dash"
        if several:
            colour, dash = (
                paired.get(_pool(name), colour),
                "dash" if _pool(name) in paired else "dot",
            )
        fig.add_scatter(
            x=t,
            y=level,
            mode="lines",
            line_shape="hv",
            line=dict(color=colour, dash=dash),
            name=name,
            yaxis="y2",
        )
    top = max((int(level.max()) for _, level in capacity.values() if len(level)), default=1)
    fig.update_layout(
        yaxis2=dict(
            title=unit,
            overlaying="y",
            side="right",
            range=[0, top * 1.05 + 0.5],
            tickmode="linear",
            tick0=0,
            dtick=max(1, math.ceil(top / 6)),
            showgrid=False,
        ),
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


def _pool(name: str) -> str:
    """The pool a line's name gives in its parentheses ("pool processes (fast)": fast)."""
    return name.rpartition(" (")[2].rstrip(")") if name.endswith(")") else ""


def queued_label(queues: Sequence[str], pool: str) -> str:
    """The name of the line of tasks queued on a pool's ``queues``: the queues by their own
    names and the pool that consumes them, whose capacity line takes its colour."""
    return f"queued on {', '.join(queues)} (pool {pool})"


def _queued_pool(name: str) -> str:
    """The pool a queue line's name gives ("queued on scrape (pool scrapers)": scrapers)."""
    return _pool(name).removeprefix("pool ")
