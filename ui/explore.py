"""The Explore page: run a scenario, see its distributions over time, size the worker pool."""

from __future__ import annotations

import numpy as np
import streamlit as st

from sim import scenario
from sim.analysis import analytic
from sim.analysis.metrics import Summary, busy_slots, queue_length, sojourns, waits
from sim.analysis.runs import summarize
from sim.analysis.sweep import SweepPoint, sweep
from sim.engine.distributions import service_cv, service_mean
from sim.engine.model import simulate
from sim.scenario import Scenario, ScenarioError
from sim.trace import Trace
from ui import charts
from ui.scenario_input import IN_ADDRESS, parse, pick, tune
from ui.widgets import Progress, download_figure, export_trace, progress_bar

SWEEP_TASKS = 5000
SWEEP_REPS = 3


@st.cache_data(show_spinner=False, max_entries=16)
def run(text: str, _progress: Progress | None = None) -> Trace:
    """Simulate a scenario given as TOML text (the cache key; ``_progress`` is not in it)."""
    return simulate(parse(text), progress=_progress)


def simulated(text: str) -> Trace:
    """``run`` with a progress bar while it simulates."""
    with progress_bar("Simulating: tasks finished") as report:
        return run(text, report)


@st.cache_data(show_spinner=False, max_entries=16)
def run_sweep(
    text: str, workers: tuple[int, ...], _progress: Progress | None = None
) -> list[SweepPoint]:
    # in-process: worker processes would re-import the app script as their __main__
    return sweep(parse(text), list(workers), reps=SWEEP_REPS, processes=1, progress=_progress)


def worker_range(sc: Scenario) -> tuple[int, ...]:
    """About nine worker counts from the fewest that keep up (1 where no rate says) to twice the
    scenario's, its own count always among them (descriptions say "try workers.count=2×")."""
    least = analytic.workers_to_keep_up(sc) or 1
    top = max(least + 4, 2 * sc.workers.count)
    spread = np.linspace(least, top, 9).round().astype(int).tolist()
    return tuple(sorted({*spread, sc.workers.count}))


def page() -> None:
    st.header("Explore")
    base = pick("explore")
    if base is None:
        return
    sc = tune(base, "explore")
    if base.description:
        st.caption(base.description)
    text = scenario.dumps(sc)
    try:
        trace = simulated(text)
    except ScenarioError as err:  # e.g. a runaway redelivery loop: say what to change
        st.error(str(err))
        return
    headline(sc, summarize(trace, sc))
    distributions(trace)
    st.subheader("How many workers?")
    how_many_workers(sc, base.workers.count)
    st.subheader("Export")
    export_trace(trace, sc.name)
    st.download_button("Scenario (TOML)", text, f"{sc.name}.toml")


def headline(sc: Scenario, s: Summary) -> None:
    """The figures a reader checks first, and what queueing theory expects of them."""
    cols = st.columns(5)
    cols[0].metric("p95 wait", f"{s.wait_p95:.3g} s")
    cols[1].metric("p95 sojourn", f"{s.sojourn_p95:.3g} s")
    cols[2].metric("utilisation", f"{s.utilization:.1%}")
    cols[3].metric("throughput", f"{s.throughput:.3g}/s")
    cols[4].metric("lost · failed", f"{s.tasks_lost} · {s.tasks_failed}")
    overloaded = analytic.overload_warning(sc)
    if overloaded:
        st.warning(overloaded)
    elif (arrival_cv := analytic.arrival_cv(sc)) is not None:
        approx = analytic.allen_cunneen(
            sc.arrivals.rate,
            service_mean(sc.service),
            sc.workers.slots,
            arrival_cv,
            service_cv(sc.service),
        )
        st.caption(
            f"Allen–Cunneen's G/G/c approximation puts the mean wait at {approx:.3g} s "
            f"(simulated: {s.wait_mean:.3g} s); it ignores prefetch, retries and crashes, "
            "and is rough at low load."
        )


def distributions(trace: Trace) -> None:
    """Wait and sojourn as CDFs beside the queue and busy slots over time."""
    left, right = st.columns(2)
    with left:
        fig = charts.cdf(
            {"wait": waits(trace), "sojourn": sojourns(trace)}, "Wait and sojourn (CDF)"
        )
        st.plotly_chart(fig, key="cdf")
        download_figure(fig, "cdf")
    with right:
        fig = charts.steps(
            {"queued": queue_length(trace), "busy slots": busy_slots(trace)},
            "Queue length and busy slots",
            "tasks",
        )
        st.plotly_chart(fig, key="timeline")
        download_figure(fig, "timeline")


def sweep_plan(sc: Scenario, own: int) -> tuple[Scenario, tuple[int, ...]]:
    """The scenario the trade-off sweep runs and its worker counts, both anchored at ``own``, the
    file's worker count, not the slider's: the sweep sets every count itself, so moving the worker
    slider within the range reuses the cached sweep instead of running it again."""
    anchored = sc.replace(**{"workers.count": own})
    counts = worker_range(anchored)
    if not counts[0] <= sc.workers.count <= counts[-1]:
        anchored = sc
        counts = worker_range(sc)
    if not sc.run.duration:
        anchored = anchored.replace(**{"run.tasks": min(sc.run.tasks, SWEEP_TASKS)})
    return anchored, counts


def how_many_workers(sc: Scenario, own: int, page: str = "explore") -> None:
    """The worker-count trade-off against a target p95 sojourn, and the fewest that meet it;
    Explore and the Live page (``page``, the widgets' key prefix) both ask this question."""
    target = st.number_input(
        "Target p95 sojourn (s)",
        min_value=0.01,
        value=round(max(4 * service_mean(sc.service), 0.1), 2),
        key=f"{page}-target",
        bind=IN_ADDRESS,
    )
    swept, counts = sweep_plan(sc, own)
    try:
        with progress_bar("Sweeping worker counts: runs done") as report:
            points = run_sweep(scenario.dumps(swept), counts, report)
    except ScenarioError as err:
        st.error(f"The sweep stopped: {err}")
        return
    erlang = analytic.mmc_sojourn_quantiles(sc, counts)
    fig = charts.tradeoff(points, target, erlang, current=sc.workers.count)
    st.plotly_chart(fig, key=f"{page}-tradeoff")
    download_figure(fig, f"{page}-tradeoff")
    best = charts.smallest_meeting(points, target)
    if best is None:
        st.info(f"No worker count up to {counts[-1]} meets a p95 sojourn of {target:g} s.")
    else:
        st.success(
            f"Smallest worker count whose simulated p95 sojourn is ≤ {target:g} s: **{best}** "
            f"(this scenario has {sc.workers.count})."
        )
    st.caption(
        f"Simulated: {len(counts)} worker counts × {SWEEP_REPS} seeds × {swept.run.tasks} tasks "
        "of this scenario; the band is the 95 % confidence interval over seeds."
    )
