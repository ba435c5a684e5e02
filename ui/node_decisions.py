"""A node autoscaler's decisions on the Live page: when it started or stopped nodes and why (the
queue it read, the nodes that wanted, the step or cooldown that held it back), as the run
recorded them (``live.node_decisions``, in the trace), beside the simulator's for the same
scenario. What a user tunes ``node_cooldown`` by: each hold says which poll kept the nodes and
until when."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sim.rules.node_autoscale import Decision, said
from sim.scenario import Scenario
from sim.sections import Workers
from sim.words import counted

# each kind's marker on the nodes chart, filled for the live run's, open for the simulator's
MARKS = {
    "start": ("triangle-up", "#2ca02c"),
    "stop": ("triangle-down", "#d62728"),
    "hold": ("square", "#7f7f7f"),
}


def shown(decisions: Sequence[Decision]) -> list[Decision]:
    """The decisions worth a row: every start and stop, and the first poll of each hold (the
    polls after it, kept by the same poll with as many nodes, say the same again)."""
    rows, last = [], None
    for d in decisions:
        same_hold = (
            last is not None
            and last.kind == d.kind == "hold"
            and (last.pool, last.nodes, last.kept_by) == (d.pool, d.nodes, d.kept_by)
        )
        if d.kind != "steady" and not same_hold:
            rows.append(d)
        last = d
    return rows


def mark(
    fig: go.Figure, sc: Scenario, live: Sequence[Decision], simulated: Sequence[Decision] = ()
) -> None:
    """Markers on ``fig``'s node axis (``y2``) at each shown decision's time and the node count
    it went to (up or starting: an added node is counted from its decision, drawn up only once
    it consumes), the reason on hover; the simulator's open beside the run's."""
    for decisions, label, hollow in ((live, "", False), (simulated, "simulated ", True)):
        rows = shown(decisions)
        for kind, (symbol, colour) in MARKS.items():
            picked = [d for d in rows if d.kind == kind]
            if not picked:
                continue
            fig.add_scatter(
                x=[d.t for d in picked],
                y=[d.goal for d in picked],
                mode="markers",
                marker=dict(
                    symbol=symbol + "-open" * hollow, size=11, color=colour, line=dict(width=2)
                ),
                name=f"{label}{kind}",
                yaxis="y2",
                hovertext=[f"{d.t:g} s: {decided(d)}, {said(d, workers(sc, d))}" for d in picked],
                hoverinfo="text",
            )
    goals = [d.goal for d in (*live, *simulated)]
    if goals:  # a decided count above every count up (nodes still starting) stays in view
        top = max(fig.layout.yaxis2.range[1], max(goals) * 1.05 + 0.5)
        fig.update_layout(yaxis2_range=[0, top])


def decided(d: Decision) -> str:
    """The decision in a few words: "start w2, w3", "stop w3", "hold 3 nodes"."""
    if d.kind == "hold":
        return f"hold {counted(d.nodes, 'node')}"
    return f"{d.kind} {', '.join(d.added or d.removed)}"


def workers(sc: Scenario, d: Decision) -> Workers:
    """The ``[workers]`` settings of the pool ``d`` decided for."""
    return next(p.workers for p in sc.worker_pools if p.name == d.pool)


def table(
    sc: Scenario, decisions: Sequence[Decision], simulated: Sequence[Decision] | None
) -> None:
    """The run's decisions as a timeline, and how many the simulator made (``simulated``, once
    the run is over)."""
    st.subheader("Node autoscaler decisions")
    rows = shown(decisions)
    # a static table, whose cells wrap: the reason is a sentence, cut at a grid's column width
    columns = {
        "time (s)": [f"{d.t:.6g}" for d in rows],
        **({"pool": [d.pool for d in rows]} if sc.pools else {}),
        "decision": [decided(d) for d in rows],
        "nodes": [f"{d.nodes} → {d.goal}" for d in rows],
        "queued": [d.queued for d in rows],
        "why": [said(d, workers(sc, d)) for d in rows],
    }
    st.table(pd.DataFrame(columns).set_index("time (s)"))
    caption = (
        "Each poll of the node autoscaler that started or stopped nodes, and the first of each "
        "run of polls whose cooldown kept nodes the queue no longer wanted (*hold*), as the run "
        "recorded them; *nodes*: before → after, starting ones counted, as the HPA counts pods. "
        "On the chart above: ▲ start, ▼ stop, ■ hold, at the node count decided (a started "
        "node is drawn up once it consumes, node_start later)."
    )
    if simulated is not None:
        caption += (
            " Open markers: the simulation of this run, whose polls started nodes "
            f"{said_times(simulated, 'start')} and stopped them {said_times(simulated, 'stop')} "
            f"(this run's: {said_times(decisions, 'start')} and {said_times(decisions, 'stop')})."
        )
    st.caption(caption)


def said_times(decisions: Sequence[Decision], kind: str) -> str:
    """How many of ``decisions`` are of ``kind``, as "3 times"."""
    return counted(sum(d.kind == kind for d in decisions), "time")
