"""The Learn page: capacity planning taught on runs the reader makes."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from sim import analytic, scenario
from sim.invariants import littles_law_gap
from sim.metrics import last_terminal, summarize
from sim.model import simulate
from sim.trace import Trace
from ui.scenario_input import SCENARIOS
from ui.widgets import download_figure

ENQUEUE_COST = 0.002  # seconds a web request spends publishing one task to Redis


@st.cache_data(show_spinner=False, max_entries=32)
def mmc_summary(rate: float, service: float, workers: int, tasks: int, seed: int = 1):
    sc = scenario.load(None).replace(
        **{
            "run.tasks": tasks,
            "arrivals.rate": rate,
            "service.mean": service,
            "workers.count": workers,
            "workers.prefetch_multiplier": 1,
            "ack.late": True,
            "seed": seed,
        }
    )
    trace = simulate(sc)
    return summarize(trace, workers), littles_law_gap(trace)


def page() -> None:
    st.header("Learn: capacity planning by doing")
    little()
    utilisation()
    more_or_faster()
    prefetch_and_retries()
    enqueue_or_block()
    lessons()


def little() -> None:
    st.subheader("1 · Little's law on your own run")
    st.markdown(
        "The mean number of tasks in the system **L** equals the arrival rate **λ** times "
        "the mean time each spends in it **W** — for any stable queue, whatever the "
        "distributions (Little, 1961)."
    )
    c1, c2 = st.columns(2)
    rate = c1.slider("Arrival rate λ (tasks/s)", 0.5, 7.5, 3.2, 0.1, key="learn-rate")
    workers = c2.slider("Workers", 1, 16, 4, key="learn-workers")
    if rate >= workers:
        st.warning(
            f"λ = {rate} ≥ {workers} workers × 1 task/s: unstable, L and W grow without bound."
        )
        return
    s, gap = mmc_summary(rate, 1.0, workers, 20000)
    l_value = s.queue_len_mean + s.utilization * workers  # waiting + in service
    cols = st.columns(4)
    cols[0].metric("L (time-average in system)", f"{l_value:.3f}")
    cols[1].metric("λ (measured)", f"{s.throughput:.3f}/s")
    cols[2].metric("W (mean sojourn)", f"{s.sojourn_mean:.3f} s")
    cols[3].metric(
        "λ·W",
        f"{s.throughput * s.sojourn_mean:.3f}",
        delta=f"gap {gap:.2%}" if gap is not None else None,
        delta_color="off",
    )


def utilisation() -> None:
    st.subheader("2 · Waiting explodes as utilisation → 1")
    st.markdown(
        "Erlang C: the mean wait grows like 1/(1 − ρ). Going from 80 % to 95 % busy "
        "multiplies the wait by four or more; dots are simulated runs."
    )
    rho = np.linspace(0.3, 0.97, 60)
    fig = go.Figure()
    for c in (1, 4, 16):
        fig.add_scatter(
            x=rho, y=[analytic.mmc_wait(r * c, 1.0, c) for r in rho], name=f"{c} workers"
        )
    sims = [(r, mmc_summary(r * 4, 1.0, 4, 20000)[0].wait_mean) for r in (0.5, 0.7, 0.8, 0.9)]
    fig.add_scatter(
        x=[r for r, _ in sims],
        y=[w for _, w in sims],
        mode="markers",
        name="simulated, 4 workers",
        marker=dict(size=10),
    )
    fig.update_layout(
        xaxis_title="utilisation ρ",
        yaxis_title="mean wait (× service time)",
        yaxis=dict(type="log", range=[-3, 1.5]),
        title="Mean wait against utilisation",
    )
    st.plotly_chart(fig, key="learn-rho")
    download_figure(fig, "wait-vs-utilisation")


def more_or_faster() -> None:
    st.subheader("3 · More workers, or faster ones?")
    st.markdown(
        "At equal capacity, **one fast worker** gives the shortest sojourn (no one waits "
        "while a server idles) and **many slow workers** the shortest *wait* — but each "
        "task then takes longer to run. Which wins depends on whether users feel the wait "
        "or the whole sojourn."
    )
    c = st.slider("Split the capacity over c workers", 1, 16, 4, key="learn-split")
    rho = np.linspace(0.05, 0.95, 40)
    fig = go.Figure()
    fig.add_scatter(
        x=rho, y=[analytic.mmc_wait(r, 1.0, 1) + 1.0 for r in rho], name="1 worker, service 1 s"
    )
    fig.add_scatter(
        x=rho,
        y=[analytic.mmc_wait(r, c * 1.0, c) + c for r in rho] if c > 1 else [],
        name=f"{c} workers, service {c} s each",
    )
    fig.update_layout(
        xaxis_title="utilisation ρ",
        yaxis_title="mean sojourn (s)",
        title="Same capacity, different shape",
        yaxis_type="log",
    )
    st.plotly_chart(fig, key="learn-split-chart")
    download_figure(fig, "more-or-faster")


@st.cache_data(show_spinner=False, max_entries=32)
def shipped_summary(name: str, sets: tuple[str, ...]):
    sc = scenario.load(SCENARIOS / f"{name}.toml", list(sets))
    return summarize(simulate(sc), sc.workers.slots)


def prefetch_and_retries() -> None:
    st.subheader("4 · What prefetch and retries do to the tail")
    st.markdown(
        "**Prefetch.** Each worker reserves `prefetch_multiplier × concurrency` messages; "
        "a reserved message waits for *that* worker even while another is idle. With "
        "long-tailed work (the `scraping` scenario: lognormal, cv 3) short tasks get stuck "
        "behind slow ones. Late ack with multiplier 1 reserves nothing beyond what runs."
    )
    multiplier = st.select_slider(
        "worker_prefetch_multiplier", [1, 2, 4, 8, 16], 4, key="learn-prefetch"
    )
    base = ("run.tasks=10000",)
    now = shipped_summary("scraping", (*base, f"workers.prefetch_multiplier={multiplier}"))
    fair = shipped_summary("scraping", (*base, "workers.prefetch_multiplier=1", "ack.late=true"))
    cols = st.columns(3)
    cols[0].metric(f"p99 wait, multiplier {multiplier}", f"{now.wait_p99:.2f} s")
    cols[1].metric("p99 wait, late ack + multiplier 1", f"{fair.wait_p99:.2f} s")
    cols[2].metric("same utilisation", f"{now.utilization:.0%} vs {fair.utilization:.0%}")
    st.markdown(
        "**Retries.** Every retry is another run plus its countdown, so retries stretch "
        "the sojourn tail even when each attempt is fast (`flaky_api`: 20 % of attempts "
        "fail, exponential backoff 2 s capped at 60 s)."
    )
    retries = st.slider("max_retries", 0, 8, 5, key="learn-retries")
    r = shipped_summary("flaky_api", (*base, f"retry.max_retries={retries}"))
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
    rate = c1.slider("Requests/s", 0.5, 15.0, 6.0, 0.5, key="learn-web-rate")
    work = c2.slider("Slow work per request (s)", 0.1, 3.0, 1.0, 0.1, key="learn-web-work")
    threads = c3.slider("Web worker threads = task workers", 1, 32, 8, key="learn-web-threads")
    if rate * work >= threads:
        st.warning("Offered load ≥ capacity: both designs fall behind; add workers.")
        return
    s, _ = mmc_summary(rate, work, threads, 20000)
    cols = st.columns(3)
    cols[0].metric("blocking request: p95 response", f"{s.sojourn_p95:.2f} s")
    cols[1].metric("enqueue and return: response", f"{ENQUEUE_COST * 1000:.0f} ms")
    cols[2].metric("…work done (p95 after request)", f"{s.sojourn_p95:.2f} s")
    st.caption(
        "Same workers, same work: the queue does not make the work faster, it takes it off "
        "the user's critical path (and lets the web tier stay small)."
    )


@st.cache_data(show_spinner="Running the lesson both ways…", max_entries=32)
def lesson_runs(name: str):
    from sim.lessons import LESSONS, figures, load

    each = load(LESSONS / f"{name}.toml")
    trace_default, trace_fixed = simulate(each.scenario), simulate(each.fixed())
    default, fixed = figures(each.scenario, trace_default), figures(each.fixed(), trace_fixed)
    return each, default, fixed, trace_default, trace_fixed


def lessons() -> None:
    from sim.lessons import LESSONS

    st.subheader("6 · Lessons from Celery's issue tracker")
    names = sorted(p.stem for p in LESSONS.glob("*.toml"))
    name = st.selectbox("Lesson", names, key="learn-lesson")
    each, default, fixed, trace_default, trace_fixed = lesson_runs(name)
    st.markdown(f"**{each.title}.** {each.story}")
    fix = ", ".join(f"`{k} = {v}`" for k, v in each.fix.items())
    cols = st.columns(3)
    cols[0].metric(f"{each.figure}, as deployed", f"{default[each.figure]:.4g}")
    cols[1].metric(f"{each.figure}, with the fix", f"{fixed[each.figure]:.4g}")
    cols[2].markdown(f"The fix: {fix}  \n`queuelab simulate scenarios/lessons/{name}.toml`")
    fig = lesson_chart(each, trace_default, trace_fixed, "simulated")
    st.plotly_chart(fig, key="learn-lesson-chart")
    download_figure(fig, f"lesson-{name}")
    if each.scenario.workers.cores:
        fig = concurrency_chart(name)
        st.plotly_chart(fig, key="learn-lesson-concurrency")
        download_figure(fig, f"lesson-{name}-concurrency")
    if each.live is not None:
        live_lesson(each)


COUNTS = {  # lesson figures that are counts: shown as the count, side by side
    "tasks_failed": "Tasks ending in FAILURE",
    "tasks_lost": "Tasks lost (never reached SUCCESS or FAILURE)",
    "duplicate_executions": "Executions beyond one per attempt",
}


def lesson_chart(each, default: Trace, fixed: Trace, engine: str) -> go.Figure:
    """The lesson's two sides in the chart that shows its figure best."""
    from sim.metrics import result_memory, sojourns, step_counts, waits
    from ui import charts

    sides = {"as deployed": (each.scenario, default), "with the fix": (each.fixed(), fixed)}
    if each.figure == "result_memory_peak":
        return charts.steps(
            {
                side: result_memory(trace, sc.results.expires, sc.results.size)
                for side, (sc, trace) in sides.items()
            },
            f"Result-backend memory in Redis ({engine})",
            "bytes",
        )
    if each.figure == "throughput":
        done = {side: last_terminal(trace)[0] for side, (_, trace) in sides.items()}
        return charts.steps(
            {side: step_counts(t[~np.isnan(t)], np.zeros(0)) for side, t in done.items()},
            f"Tasks finished: the slope is the throughput ({engine})",
            "tasks",
        )
    if each.figure in COUNTS:
        from sim.lessons import figures

        counts = {side: figures(sc, trace)[each.figure] for side, (sc, trace) in sides.items()}
        return charts.bars(counts, f"{COUNTS[each.figure]} ({engine})", "tasks")
    series = waits if each.figure.startswith("wait") else sojourns
    return charts.cdf(
        {side: series(trace) for side, (_, trace) in sides.items()},
        f"{'Wait' if series is waits else 'Sojourn'}, as deployed vs with the fix ({engine})",
    )


CONCURRENCY = (1, 2, 4, 8, 16, 32)


@st.cache_data(show_spinner="Sweeping concurrency…", max_entries=4)
def concurrency_chart(name: str) -> go.Figure:
    """Throughput of one worker machine against its concurrency: with its cores, and as if it
    had a core per slot. The first flattens at the core count."""
    from sim.lessons import LESSONS, load
    from ui import charts

    sc = load(LESSONS / f"{name}.toml").scenario
    series = {}
    for label, cores in ((f"{sc.workers.cores} cores", sc.workers.cores), ("a core per slot", 0)):
        series[label] = [
            summarize(
                simulate(sc.replace(**{"workers.concurrency": c, "workers.cores": cores})), c
            ).throughput
            for c in CONCURRENCY
        ]
    return charts.lines(
        list(CONCURRENCY),
        series,
        f"Throughput of {sc.workers.count} worker machine(s) against --concurrency",
        "concurrency (pool processes per worker)",
        "tasks per second",
    )


def live_lesson(each) -> None:
    """The button that runs both sides of the lesson on real Celery."""
    from ui.live import LiveSession, unavailable

    reason = unavailable()
    if reason:
        st.caption(f"This lesson also runs on real Celery in under a minute: {reason}.")
        return
    key = f"learn-live-{each.name}"
    session: LiveSession | None = st.session_state.get(key)
    seconds = live_seconds(each.name)
    label = f"Run both sides on real Celery ({each.live.tasks} tasks each, about {seconds:.0f} s)"
    if st.button(label, key=f"{key}-start", disabled=session is not None and session.running):
        session = LiveSession(each.live_scenarios(), each.live.time_scale)
        session.start()
        st.session_state[key] = session
    if session is not None:
        show_live_lesson(each, session)


@st.cache_data(show_spinner=False)
def live_seconds(name: str) -> float:
    """Wall seconds both live sides should take: simulated makespan × time scale, plus boots."""
    from live.clock import Clock
    from sim.lessons import LESSONS, load

    each = load(LESSONS / f"{name}.toml")
    spans = [summarize(simulate(sc), 1).makespan for sc in each.live_scenarios()]
    return Clock(None, each.live.time_scale).wall_seconds(sum(spans)) + 2 * 5


@st.fragment(run_every=1.0)
def show_live_lesson(each, session) -> None:
    from sim.lessons import figures

    if session.error:
        st.error(session.error)
        return
    if session.running:
        st.info(f"Running on real Celery: side {len(session.results) + 1} of 2…")
        return
    sides = each.live_scenarios()
    default, fixed = (figures(sc, t) for sc, t in zip(sides, session.results, strict=True))
    simulated = [figures(sc)[each.figure] for sc in sides]
    cols = st.columns(3)
    cols[0].metric(f"{each.figure}, as deployed (real Celery)", f"{default[each.figure]:.4g}")
    cols[1].metric(f"{each.figure}, with the fix (real Celery)", f"{fixed[each.figure]:.4g}")
    cols[2].markdown(
        f"Simulated with the same {each.live.tasks} tasks and draws: "
        f"**{simulated[0]:.4g}** as deployed, **{simulated[1]:.4g}** with the fix."
    )
    fig = lesson_chart(each, *session.results, "real Celery")
    st.plotly_chart(fig, key=f"learn-live-chart-{each.name}")
    download_figure(fig, f"lesson-{each.name}-live")
