"""The Compare page: the last live run beside a simulation of the same scenario and draws."""

from __future__ import annotations

import streamlit as st

from sim.compare import compare
from sim.metrics import execution_spans, sojourns, state_flows, summarize, waits
from sim.model import simulate
from ui import charts
from ui import live as live_page
from ui.scenario_input import parse
from ui.widgets import download_figure, export_trace


def page() -> None:
    st.header("Compare: simulated against real")
    last = live_page.compared_run()
    if last is None:
        st.info(
            "Run a scenario on the Live page first; its trace is compared here with a "
            "simulation of the same scenario, seed and draws."
        )
        return
    text, time_scale, live = last
    sc = parse(text)
    tolerance = st.slider("Tolerance per figure", 0.05, 0.5, 0.15, 0.05, key="compare-tol")
    sim = simulate(sc)
    slots = sc.workers.slots
    result = compare(
        sim, live, summarize(sim, slots), summarize(live, slots, engine="live"), tolerance=tolerance
    )
    st.caption(
        f"{sc.name}: {sc.run.tasks} tasks, {sc.workers.count} workers, live at time "
        f"scale {time_scale}. KS distance: wait {result.ks_wait:.3f}, "
        f"sojourn {result.ks_sojourn:.3f}."
    )
    st.dataframe(
        [
            {
                "figure": f.figure,
                "sim": f.sim,
                "live": f.live,
                "difference": f"{f.relative_difference:+.0%}"
                if f.relative_difference is not None
                else "",
                "verdict": "ok" if f.ok else f"miss: {f.likely_cause}",
            }
            for f in result.figures
        ],
        hide_index=True,
    )
    left, right = st.columns(2)
    with left:
        fig = charts.cdf(
            {
                "sim wait": waits(sim),
                "live wait": waits(live),
                "sim sojourn": sojourns(sim),
                "live sojourn": sojourns(live),
            },
            "Wait and sojourn: sim vs live",
        )
        st.plotly_chart(fig, key="compare-cdf")
        download_figure(fig, "compare-cdf")
    with right:
        fig = charts.sankey(state_flows(live), "State flows (live)")
        st.plotly_chart(fig, key="compare-sankey")
        download_figure(fig, "compare-sankey")
    g1, g2 = st.columns(2)
    for col, name, trace in ((g1, "sim", sim), (g2, "live", live)):
        with col:
            fig = charts.gantt(
                execution_spans(trace), trace.workers, f"Executions by worker ({name})"
            )
            st.plotly_chart(fig, key=f"compare-gantt-{name}")
            download_figure(fig, f"gantt-{name}")
    export_trace(sim, "simulated")
