"""The Learn page: capacity planning taught on runs the reader makes."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from sim import scenario
from sim.analysis import analytic
from sim.analysis.invariants import littles_law_gap
from sim.analysis.metrics import Summary
from sim.analysis.runs import in_system_mean, summarize
from sim.analysis.sweep import sweep_field
from sim.engine.model import simulate
from sim.scenario import Scenario
from sim.words import counted
from ui import lessons as lesson_section
from ui.charts import LOG_AXIS, log_range
from ui.scenario_input import IN_ADDRESS, SCENARIOS
from ui.widgets import Progress, download_figure, little_metrics, progress_bar

ENQUEUE_COST = 0.002  # seconds a web request spends publishing one task to Redis


def mmc_scenario(rate: float, service: float, workers: int, tasks: int, seed: int = 1) -> Scenario:
    """The M/M/c queue Erlang C describes (late ack, multiplier 1, none of Celery's own
    per-task costs, as ``scenarios/mmc.toml``), at these values."""
    return scenario.load(None).replace(
        **{
            "overhead.model": "none",
            "run.tasks": tasks,
            "arrivals.rate": rate,
            "service.mean": service,
            "workers.count": workers,
            "workers.prefetch_multiplier": 1,
            "ack.late": True,
            "seed": seed,
        }
    )


@st.cache_data(show_spinner=False, max_entries=32)
def mmc_summary(
    rate: float, service: float, workers: int, tasks: int, _progress: Progress | None = None
) -> tuple[Summary, float | None, float]:
    """A simulated M/M/c run: its summary, the gap Little's law leaves and L, tasks in system."""
    sc = mmc_scenario(rate, service, workers, tasks)
    trace = simulate(sc, progress=_progress)
    s = summarize(trace, sc)
    return s, littles_law_gap(trace), in_system_mean(s, sc)


def page() -> None:
    st.header("Learn: capacity planning by doing")
    little()
    utilisation()
    more_or_faster()
    prefetch_and_retries()
    enqueue_or_block()
    lesson_section.section()


def little() -> None:
    st.subheader("1 · Little's law on your own run")
    st.markdown(
        "The mean number of tasks in the system **L** equals the arrival rate **λ** times "
        "the mean time each spends in it **W** — for any stable queue, whatever the "
        "distributions (Little, 1961)."
    )
    c1, c2 = st.columns(2)
    rate = c1.slider(
        "Arrival rate λ (tasks/s)", 0.5, 7.5, 3.2, 0.1, key="learn-rate", bind=IN_ADDRESS
    )
    workers = c2.slider("Workers", 1, 16, 4, key="learn-workers", bind=IN_ADDRESS)
    if analytic.utilization(rate, 1.0, workers) >= 1:
        st.warning(
            f"λ = {rate} ≥ {counted(workers, 'worker')} × 1 task/s: unstable, "
            "L and W grow without bound."
        )
        return
    with progress_bar("Simulating an M/M/c run: tasks finished") as report:
        s, gap, l_value = mmc_summary(rate, 1.0, workers, 20000, report)
    little_metrics(s.throughput, s.sojourn_mean, l_value, gap)


def utilisation() -> None:
    st.subheader("2 · Waiting explodes as utilisation → 1")
    st.markdown(
        "Erlang C: the mean wait grows like 1/(1 − ρ). Going from 80 % to 95 % busy "
        "multiplies the wait by four or more; dots are simulated runs."
    )
    with progress_bar("Simulating four loads: runs done") as report:
        rho, curves, dots = wait_against_utilisation(report)
    fig = wait_chart(rho, curves, dots)
    st.plotly_chart(fig, key="learn-rho")
    st.caption(DOTS_SCATTER)
    download_figure(fig, "wait-vs-utilisation")


# measured: the dots' runs at seeds 1-8, their mean wait against Erlang C's (one standard deviation)
DOTS_SCATTER = (
    "Each dot is one seed's run of 20,000 tasks, and its mean wait scatters around the line, "
    "the more so near saturation, where a few long busy spells make the mean: over 8 seeds, "
    "by ±10 % at ρ 0.5 and ±27 % at ρ 0.9 (one standard deviation)."
)


def wait_chart(
    rho: np.ndarray, curves: dict[int, list[float]], dots: dict[float, float]
) -> go.Figure:
    """Erlang C's curves and the simulated dots on a log axis fitted to all of them: a fixed
    range (10⁻³ to 31.6) hid 16 workers below ρ 0.5 and cut 1 worker off above ρ 0.968."""
    fig = go.Figure()
    for c, waits in curves.items():
        fig.add_scatter(x=rho, y=waits, name=counted(c, "worker"))
    fig.add_scatter(
        x=list(dots),
        y=list(dots.values()),
        mode="markers",
        name="simulated, 4 workers",
        marker=dict(size=10),
    )
    drawn = [*(w for waits in curves.values() for w in waits), *dots.values()]
    fig.update_layout(
        xaxis_title="utilisation ρ",
        yaxis_title="mean wait (× service time)",
        yaxis=dict(LOG_AXIS, range=log_range(drawn), exponentformat="power"),
        title="Mean wait against utilisation",
    )
    return fig


@st.cache_data(show_spinner=False)
def wait_against_utilisation(
    _progress: Progress | None = None,
) -> tuple[np.ndarray, dict[int, list[float]], dict[float, float]]:
    """Erlang C's mean wait against ρ for 1, 4 and 16 workers, and simulated runs of 4 workers
    at four loads (ρ: wait)."""
    rho = np.linspace(0.3, 0.97, 60)
    curves = {c: [analytic.mmc_wait(r * c, 1.0, c) for r in rho] for c in (1, 4, 16)}
    loads = (0.5, 0.7, 0.8, 0.9)
    runs = sweep_field(
        mmc_scenario(2.0, 1.0, 4, 20000),
        "arrivals.rate",
        [r * 4 for r in loads],
        processes=1,
        progress=_progress,
    )
    return rho, curves, {r: each.wait_mean for r, (each,) in zip(loads, runs, strict=True)}


def more_or_faster() -> None:
    st.subheader("3 · More workers, or faster ones?")
    st.markdown(
        "At equal capacity, **one fast worker** gives the shortest sojourn (no one waits "
        "while a server idles) and **many slow workers** the shortest *wait* — but each "
        "task then takes longer to run. Which wins depends on whether users feel the wait "
        "or the whole sojourn."
    )
    c = st.slider("Split the capacity over c workers", 1, 16, 4, key="learn-split", bind=IN_ADDRESS)
    rho = np.linspace(0.05, 0.95, 40)
    fig = go.Figure()
    fig.add_scatter(
        x=rho, y=[analytic.mmc_sojourn_mean(r, 1.0, 1) for r in rho], name="1 worker, service 1 s"
    )
    if c > 1:
        fig.add_scatter(
            x=rho,
            y=[analytic.mmc_sojourn_mean(r, c * 1.0, c) for r in rho],
            name=f"{c} workers, service {c} s each",
        )
    fig.update_layout(
        xaxis_title="utilisation ρ",
        yaxis=dict(LOG_AXIS, title="mean sojourn (s)"),
        title="Same capacity, different shape",
    )
    st.plotly_chart(fig, key="learn-split-chart")
    download_figure(fig, "more-or-faster")


@st.cache_data(show_spinner=False, max_entries=32)
def shipped_summary(name: str, sets: tuple[str, ...], _progress: Progress | None = None):
    sc = scenario.load(SCENARIOS / f"{name}.toml", list(sets))
    return summarize(simulate(sc, progress=_progress), sc)


def shipped(name: str, *sets: str) -> Summary:
    """``shipped_summary`` of 10,000 tasks, with a progress bar while it simulates."""
    with progress_bar(f"Simulating {name}: tasks finished") as report:
        return shipped_summary(name, ("run.tasks=10000", *sets), report)


def prefetch_and_retries() -> None:
    st.subheader("4 · What prefetch and retries do to the tail")
    st.markdown(
        "**Prefetch.** Each worker reserves `prefetch_multiplier × concurrency` messages; "
        "a reserved message waits for *that* worker even while another is idle. With "
        "long-tailed work (the `scraping` scenario: lognormal, cv 3) short tasks get stuck "
        "behind slow ones. Late ack with multiplier 1 reserves nothing beyond what runs."
    )
    multiplier = st.select_slider(
        "worker_prefetch_multiplier", [1, 2, 4, 8, 16], 4, key="learn-prefetch", bind=IN_ADDRESS
    )
    now = shipped("scraping", f"workers.prefetch_multiplier={multiplier}")
    fair = shipped("scraping", "workers.prefetch_multiplier=1", "ack.late=true")
    cols = st.columns(3)
    cols[0].metric(f"p99 wait, multiplier {multiplier}", f"{now.wait_p99:.2f} s")
    cols[1].metric("p99 wait, late ack + multiplier 1", f"{fair.wait_p99:.2f} s")
    cols[2].metric("same utilisation", f"{now.utilization:.0%} vs {fair.utilization:.0%}")
    st.markdown(
        "**Retries.** Every retry is another run plus its countdown, so retries stretch "
        "the sojourn tail even when each attempt is fast (`flaky_api`: 20 % of attempts "
        "fail, exponential backoff 2 s capped at 60 s)."
    )
    retries = st.slider("max_retries", 0, 8, 5, key="learn-retries", bind=IN_ADDRESS)
    r = shipped("flaky_api", f"retry.max_retries={retries}")
    cols = st.columns(3)
    cols[0].metric("p50 sojourn", f"{r.sojourn_p50:.2f} s")
    cols[1].metric("p99 sojourn", f"{r.sojourn_p99:.2f} s")
    cols[2].metric("tasks ending in FAILURE", f"{r.tasks_failed}")


def enqueue_or_block() -> None:
    st.subheader("5 · Why a task queue at all")
    st.markdown(
        "A web request that does slow work itself makes the user wait for the work *and* "
        "for a free web worker. One that enqueues it answers at once; the work finishes "
        "later on the task workers."
    )
    c1, c2, c3 = st.columns(3)
    rate = c1.slider("Requests/s", 0.5, 15.0, 6.0, 0.5, key="learn-web-rate", bind=IN_ADDRESS)
    work = c2.slider(
        "Slow work per request (s)", 0.1, 3.0, 1.0, 0.1, key="learn-web-work", bind=IN_ADDRESS
    )
    threads = c3.slider(
        "Web worker threads = task workers", 1, 32, 8, key="learn-web-threads", bind=IN_ADDRESS
    )
    if analytic.utilization(rate, work, threads) >= 1:
        st.warning("Offered load ≥ capacity: both designs fall behind; add workers.")
        return
    with progress_bar("Simulating the task workers: tasks finished") as report:
        s, _, _ = mmc_summary(rate, work, threads, 20000, report)
    cols = st.columns(3)
    cols[0].metric("blocking request: p95 response", f"{s.sojourn_p95:.2f} s")
    cols[1].metric("enqueue and return: response", f"{ENQUEUE_COST * 1000:.0f} ms")
    cols[2].metric("…work done (p95 after request)", f"{s.sojourn_p95:.2f} s")
    st.caption(
        "Same workers, same work: the queue does not make the work faster, it takes it off "
        "the user's critical path (and lets the web tier stay small)."
    )
