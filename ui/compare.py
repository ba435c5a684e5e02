"""The Compare page: the last live run beside a simulation of the same scenario and draws."""

from __future__ import annotations

import streamlit as st

from sim import scenario
from sim.analysis.compare import (
    Comparison,
    compare,
    costless,
    percent,
    producer_lag,
    simulated_beside,
)
from sim.analysis.metrics import execution_spans, sojourns, state_flows, waits
from sim.scenario import Scenario
from sim.trace import Trace
from sim.words import sentence, workers_said
from ui import charts
from ui import live as live_page
from ui.scenario_input import IN_ADDRESS, cache_key
from ui.widgets import EMPTY, Progress, download_figure, export_trace, progress_bar


@st.cache_data(show_spinner=False, max_entries=8)
def comparison(
    text: str,
    live: Trace,
    tolerance: float,
    time_scale: float,
    host_busy: float | None = None,
    _progress: Progress | None = None,
) -> tuple[Trace, Comparison]:
    """The simulation of the scenario (its ``cache_key``) beside the live run (its time scale, its
    send times) and their comparison, which names a saturated host (``host_busy``) as a
    cause: a rerun that only moves another widget simulates nothing."""
    sc = scenario.loads(text)
    sim = simulated_beside(sc, live, time_scale, progress=_progress)
    return sim, compare(sc, sim, live, tolerance=tolerance, host_busy=host_busy, slower=SLOWER)


def compared(
    text: str, live: Trace, tolerance: float, time_scale: float, host_busy: float | None = None
) -> tuple[Trace, Comparison]:
    """``comparison`` with a progress bar while it simulates."""
    with progress_bar("Simulating the same scenario and draws: tasks finished") as report:
        return comparison(text, live, tolerance, time_scale, host_busy, report)


@st.fragment(run_every=1.0)
def await_end() -> None:
    """While a live run goes on, look every second; once it has ended, draw the page again."""
    session = live_page.latest()
    if session is None or not session.running:
        st.rerun(scope="app")


def page() -> None:
    st.header("Compare: simulated against real")
    last = live_page.compared_run()
    if last is None:
        st.info(live_page.not_compared())
        session = live_page.latest()
        if session is not None and session.running:
            await_end()
        return
    text, time_scale, live, host_busy = last
    sc = scenario.loads(text)
    tolerance = st.slider(
        "Tolerance per figure", 0.05, 0.5, 0.15, 0.05, key="compare-tol", bind=IN_ADDRESS
    )
    sim, result = compared(text, live, tolerance, time_scale, host_busy)
    busy = "" if host_busy is None else f" The host's CPUs were {host_busy:.0%} busy during it."
    st.caption(
        f"{sc.name}: {sc.run.tasks} tasks, {workers_said(sc)}, live at time "
        f"scale {time_scale}.{busy} KS distance: wait {result.ks_wait:.3f}, "
        f"sojourn {result.ks_sojourn:.3f}. Simulated with the live run's send times as "
        f"arrivals: its producer sent up to {producer_lag(sc, sim):.3g} s behind the "
        "scenario's."
    )
    warning = costless(sc, time_scale, MEASURE_COSTS)
    if warning:
        st.warning(sentence(warning))
    if edited := live_page.edited_since(live_page.latest()):
        st.warning(edited)
    cut = live_page.latest().stop.is_set()  # compared as asked ("... stopped run anyway")
    if cut:
        st.warning(CUT_SHORT)
    (st.success if result.ok else st.warning)(result.headline())
    if not result.ok:
        st.caption(AGAIN)
    verdicts(result)
    if not result.ok and not cut:  # a cut-short run's costs are not the scenario's either
        calibrate(sc, live, time_scale, host_busy)
    distributions(sim, live)
    gantts(sim, live)
    export_trace(lambda: sim, "simulated")


# where the run chose the scenario's own costs, none (the CLI's remedy, --set, is no control here)
MEASURE_COSTS = (
    "to compare like with like, start the run again on the Live page with Celery's own costs "
    "in the simulation measured on this host first"
)
# where a saturated host is a miss's cause: the Live page's slider, where the CLI has --time-scale
SLOWER = "start the run again at a larger time scale (the Live page's 'Time scale' slider)"
CUT_SHORT = (
    "This live run was cut short (stopped, or its Redis went away) and is compared as asked: "
    "the tasks it never finished count as lost, so its counts, throughput and lost tasks differ "
    "from the simulation's by them, not by crashes or redeliveries."
)
AGAIN = (
    "How far is a miss? The real queue is not the same twice: a second live run of the same "
    "draws misses the first about as often as the simulation does (README, bench/sim_vs_live.py "
    "--again). `queuelab compare --again` measures it for this scenario."
)


def verdicts(result: Comparison) -> None:
    """Every figure, sim beside live, with its difference and verdict, none scrolled away; a
    miss names its likely cause by number, the causes written out in full beneath (a sentence
    in a table's cell is cut at the column's edge)."""
    causes = list(dict.fromkeys(f.likely_cause for f in result.figures if not f.ok))
    st.dataframe(
        [
            {
                "figure": f.figure,
                "sim": f.sim,
                "live": f.live,
                "difference": percent(f.relative_difference),
                "verdict": "ok" if f.ok else f"miss: cause {causes.index(f.likely_cause) + 1}",
            }
            for f in result.figures
        ],
        hide_index=True,
        placeholder=EMPTY,
        # every figure, no scrolling, and nothing under the last: the 36 px a row this set
        # were the grid's 35 and one more, a blank band under the last figure
        height="content",
        column_config={  # "figure" as wide as its longest name ("duplicate_executions")
            "sim": st.column_config.NumberColumn(width="small", format="%.4g"),
            "live": st.column_config.NumberColumn(width="small", format="%.4g"),
            "difference": st.column_config.TextColumn(width="small"),
            "verdict": st.column_config.TextColumn(width="medium"),
        },
    )
    if causes:
        st.markdown("\n".join(f"{n}. {cause}" for n, cause in enumerate(causes, 1)))


def distributions(sim: Trace, live: Trace) -> None:
    """Wait and sojourn CDFs of both runs beside the live run's state flows."""
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


def gantts(sim: Trace, live: Trace) -> None:
    """Both runs' executions by worker, on one time axis so they line up."""
    g1, g2 = st.columns(2)
    spans = {"sim": execution_spans(sim), "live": execution_spans(live)}
    until = charts.gantt_window(*spans.values())
    for col, name, trace in ((g1, "sim", sim), (g2, "live", live)):
        with col:
            fig = charts.gantt(
                spans[name], trace.workers, f"Executions by worker ({name})", until=until
            )
            st.plotly_chart(fig, key=f"compare-gantt-{name}")
            download_figure(fig, f"gantt-{name}")


def calibrate(sc: Scenario, live: Trace, time_scale: float, host_busy: float | None) -> None:
    """Fit the per-task overheads the live run shows and say how the calibrated simulation
    compares, with the calibrated scenario to download (what ``queuelab calibrate`` writes)."""
    if not st.button("Calibrate the overheads from this live run", key="compare-calibrate"):
        return
    from sim.analysis.calibrate import CalibrationError, fit_overheads

    try:
        fit = fit_overheads(live, sc, time_scale=time_scale)
    except CalibrationError as err:
        st.error(str(err))
        return
    calibrated = sc.replace(**fit.fields())
    _, again = compared(cache_key(calibrated), live, 0.15, time_scale, host_busy)
    said = ", ".join(f"{name} = {value:.3g} s" for name, value in fit.fitted().items())
    st.info(f"Fitted {said} (wall seconds). The calibrated simulation: {again.headline()}")
    st.download_button(
        "Download the calibrated scenario (.toml)",
        scenario.dumps(calibrated),
        file_name=f"{sc.name}-calibrated.toml",
        key="compare-calibrated-toml",
    )
