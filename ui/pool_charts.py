"""Plotly figures for sizing several pools: one pool's worker-count trade-off against the p95
of each task type it serves. Pure functions, as in ``ui/charts.py``, whose axes it shares."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from sim.analysis.frontier import FrontierPoint
from sim.analysis.sizing import PoolCurve
from ui.charts import UTILISATION, UTILISATION_AXIS, band, hline, marked, vline

# one colour per task type, none of them the utilisation's orange
TYPE_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
FIGURE_TITLES = {"sojourn_p95": "p95 sojourn", "wait_p95": "p95 wait"}


def pool_tradeoff(
    curve: PoolCurve, figure: str, targets: dict[str, float], current: int | None = None
) -> go.Figure:
    """Each served task type's ``figure`` (with its 95 % band) and its target, in the type's
    colour, and the pool's utilisation, against the pool's worker count."""
    x = list(curve.counts)
    fig, lines = go.Figure(), []
    for i, (name, estimates) in enumerate(curve.figures[figure].items()):
        colour = TYPE_COLOURS[i % len(TYPE_COLOURS)]
        if estimates and estimates[0].low is not None:
            high, low = [e.high for e in estimates], [e.low for e in estimates]
            fig.add_trace(dict(band(x, high, low, colour), showlegend=False))
        fig.add_scatter(
            x=x,
            y=[e.mean for e in estimates],
            mode="lines+markers",
            line=dict(color=colour),
            name=f"{name} {FIGURE_TITLES[figure]}",
        )
        if name in targets:
            lines.append(hline(targets[name], f"{name} target {targets[name]:g} s", colour))
    fig.add_scatter(
        x=x,
        y=[e.mean for e in curve.utilization],
        mode="lines+markers",
        line=dict(color=UTILISATION, dash="dash"),
        name="utilisation",
        yaxis="y2",
    )
    if current is not None:
        lines.append(vline(current, "now"))
    fig.update_layout(
        **marked(lines),
        title=f"Pool {curve.pool}: worker-count trade-off",
        xaxis=dict(title=f"workers in pool {curve.pool}", tickmode="array", tickvals=x),
        yaxis=dict(title="seconds", rangemode="tozero"),
        yaxis2=UTILISATION_AXIS,
        legend=dict(orientation="h", y=-0.25),
        margin=dict(t=50, b=40),
    )
    return fig


POLICY_COLOURS = {"static": "#7f7f7f", "autoscale": "#1f77b4"}


def cost_frontier(points: list[FrontierPoint], unit: str, target: float) -> go.Figure:
    """Cost against p95 sojourn of each swept setting, static sizes and autoscale policies in
    their own colours, the Pareto-efficient points joined and labelled by their settings, and
    the target p95: the cheapest point under the line is the one to pick."""
    fig = go.Figure()
    for policy, colour in POLICY_COLOURS.items():
        mine = [p for p in points if p.policy == policy]
        fig.add_scatter(
            x=[p.cost for p in mine],
            y=[p.p95 for p in mine],
            mode="markers",
            marker=dict(color=colour, size=9),
            name=policy,
            text=[p.label for p in mine],
            hovertemplate="%{text}<br>%{x:,.0f}<br>p95 %{y:.3g} s<extra></extra>",
        )
    best = sorted((p for p in points if p.efficient), key=lambda p: p.cost)
    fig.add_scatter(
        x=[p.cost for p in best],
        y=[p.p95 for p in best],
        mode="lines+markers+text",
        line=dict(color="black", width=1),
        marker=dict(color="rgba(0,0,0,0)", size=14, line=dict(color="black", width=1)),
        text=[p.label for p in best],
        textposition=[("top right", "bottom right")[i % 2] for i in range(len(best))],
        textfont=dict(size=10),
        name="frontier",
    )
    said = unit.replace("_", "-")
    p95s = [p.p95 for p in points if p.p95 > 0]
    spread = max(p95s) / min(p95s) if p95s else 1.0  # a static pool too small: p95s far apart
    fig.update_layout(
        title=f"Cost against p95 sojourn: {said} paid by each setting",
        xaxis_title=said,
        yaxis=dict(title="p95 sojourn (s)", type="log" if spread > 20 else "linear"),
        margin=dict(t=50, b=40),
        **marked([hline(target, f"target {target:g} s", UTILISATION)]),
    )
    if spread > 20:  # an annotation on a log axis is placed by log10 of its value, a shape not
        fig.layout.annotations[0].y = math.log10(target)
    return fig
