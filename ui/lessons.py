"""Learn's last section: each shipped lesson as deployed and with its fix, simulated, and where
it is short enough, on real Celery too."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from sim.analysis.cost import nodes_over_time, processes_over_time
from sim.analysis.lessons import OWN_FIGURES, said, shown, split_figure, tasks_of
from sim.analysis.metrics import last_terminal, sojourns, waits
from sim.analysis.runs import summarize
from sim.analysis.sweep import sweep_field
from sim.engine.model import simulate
from sim.scenario import Scenario
from sim.scenario_io import toml_value
from sim.trace import Trace
from sim.words import counted
from ui import charts
from ui.scenario_input import IN_ADDRESS
from ui.widgets import Progress, download_figure, progress_bar, rerun_when_over, share


@st.cache_data(show_spinner=False, max_entries=32)
def lesson_runs(name: str, _progress: Progress | None = None):
    from sim.analysis.lessons import LESSONS, figures, load

    each = load(LESSONS / f"{name}.toml")
    trace_default, trace_fixed = (
        simulate(sc, progress=share(_progress, i, 2))
        for i, sc in enumerate((each.scenario, each.fixed()))
    )
    default, fixed = figures(each.scenario, trace_default), figures(each.fixed(), trace_fixed)
    return each, default, fixed, trace_default, trace_fixed


def commands(name: str, figure: str) -> str:
    """The commands that show a lesson: its figure both ways, and the summary as deployed, with
    where its figure is in it or that it is not (07's and 09's are the lessons' own, which no
    summary has: "every figure" sent a reader to look for them there)."""
    kind, member, field = split_figure(figure)
    where = (
        f", which has no {figure} (the line above prints it)"
        if figure in OWN_FIGURES
        else f": this figure is {field} on its {kind}.{member} line"
        if kind
        else f": this figure is its {field} line"
    )
    return (
        f"queuelab lessons {name}  # both ways, this figure\n"
        f"queuelab simulate scenarios/lessons/{name}.toml  # as deployed, the summary{where}"
    )


def section() -> None:
    from sim.analysis.lessons import LESSONS

    st.subheader("6 · Lessons from Celery's issue tracker")
    names = sorted(p.stem for p in LESSONS.glob("*.toml"))
    name = st.selectbox("Lesson", names, key="learn-lesson", bind=IN_ADDRESS)
    with progress_bar("Running the lesson as deployed and with the fix: tasks finished") as report:
        each, default, fixed, trace_default, trace_fixed = lesson_runs(name, report)
    st.markdown(f"**{each.title}.** {each.story}")
    fix = ", ".join(f"`{k} = {toml_value(v)}`" for k, v in each.fix.items())
    cols = st.columns(3)
    cols[0].metric(f"{said(each.figure)}, as deployed", shown(each.figure, default[each.figure]))
    cols[1].metric(f"{said(each.figure)}, with the fix", shown(each.figure, fixed[each.figure]))
    cols[2].markdown(f"The fix: {fix}")
    st.code(commands(name, each.figure), language="bash", wrap_lines=True)
    fig = lesson_chart(each, trace_default, trace_fixed, "simulated")
    st.plotly_chart(fig, key="learn-lesson-chart")
    download_figure(fig, f"lesson-{name}")
    cost = scaled_cost(each)
    if cost and cost != each.figure:
        traces = {"as deployed": trace_default, "with the fix": trace_fixed}
        fig = capacity_chart(cost, traces, "simulated")
        st.plotly_chart(fig, key="learn-lesson-capacity")
        download_figure(fig, f"lesson-{name}-capacity")
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
    from sim.analysis.metrics import result_memory, step_counts
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
            cumulative=True,
        )
    if each.figure == "backend_pending_mean":
        from sim.analysis.metrics import backend_pending

        return charts.cdf(
            {
                side: backend_pending(trace, sc.results.track_started)
                for side, (sc, trace) in sides.items()
            },
            f"How long the result backend said PENDING for each task ({engine})",
        )
    if each.figure in COSTS:
        return capacity_chart(each.figure, {side: t for side, (_, t) in sides.items()}, engine)
    if each.figure in COUNTS:
        from sim.analysis.lessons import figures

        counts = {side: figures(sc, trace)[each.figure] for side, (sc, trace) in sides.items()}
        unit = "executions" if each.figure == "duplicate_executions" else "tasks"
        return charts.bars(counts, f"{COUNTS[each.figure]} ({engine})", unit)
    return latency_chart(each.figure, {side: trace for side, (_, trace) in sides.items()}, engine)


COSTS = {  # cost figures: what each counts over time, and its unit
    "worker_seconds": (processes_over_time, "Pool processes of up nodes", "processes"),
    "node_seconds": (nodes_over_time, "Worker nodes up", "nodes"),
}


def scaled_cost(each) -> str | None:
    """The cost figure that moves when the lesson's pools scale, either side: node-seconds
    under a node autoscaler, worker-seconds under --autoscale; None for fixed pools."""
    pools = [p.workers for sc in (each.scenario, each.fixed()) for p in sc.worker_pools]
    if any(w.node_autoscaled for w in pools):
        return "node_seconds"
    if any(w.autoscale_max for w in pools):
        return "worker_seconds"
    return None


def capacity_chart(cost: str, traces: dict[str, Trace], engine: str) -> go.Figure:
    """Processes or nodes up over time, one line per side: the area under each is its
    ``cost`` figure."""
    over_time, what, unit = COSTS[cost]
    return charts.steps(
        {
            side: over_time(trace.capacity, float(trace.t.max()) if len(trace.t) else None)
            for side, trace in traces.items()
        },
        f"{what} over time: the area under each line is its {said(cost)} ({engine})",
        unit,
    )


def latency_chart(figure: str, traces: dict[str, Trace], engine: str) -> go.Figure:
    """CDFs of the wait (or sojourn) of the tasks ``figure`` is about, one per side."""

    kind, name, field = split_figure(figure)
    series = waits if field.startswith("wait") else sojourns
    what = "Wait" if series is waits else "Sojourn"
    whose = {"by_task": f" of {name} tasks", "by_queue": f" on queue {name}"}.get(kind, "")
    return charts.cdf(
        {side: series(trace, tasks_of(figure, trace)) for side, trace in traces.items()},
        f"{what}{whose}, as deployed vs with the fix ({engine})",
    )


CONCURRENCY = (1, 2, 4, 8, 16, 32)


@st.cache_data(show_spinner=False, max_entries=4)
def concurrency_throughput(
    name: str, _progress: Progress | None = None
) -> tuple[Scenario, dict[str, list[float]]]:
    """The lesson's scenario and its throughput at each ``CONCURRENCY``: with its cores, and as
    if it had a core per slot."""
    from sim.analysis.lessons import LESSONS, load

    sc = load(LESSONS / f"{name}.toml").scenario
    sides = {f"{sc.workers.cores} cores": sc, "a core per slot": sc.replace(**{"workers.cores": 0})}
    return sc, {
        label: [
            each.throughput
            for (each,) in sweep_field(
                side, "workers.concurrency", CONCURRENCY, 1, 1, share(_progress, i, 2)
            )
        ]
        for i, (label, side) in enumerate(sides.items())
    }


def concurrency_chart(name: str) -> go.Figure:
    """Throughput of one worker machine against its concurrency; the one with the lesson's
    cores flattens at the core count."""
    from ui import charts

    with progress_bar("Sweeping concurrency: runs done") as report:
        sc, series = concurrency_throughput(name, report)
    return charts.lines(
        list(CONCURRENCY),
        series,
        f"Throughput of {counted(sc.workers.count, 'worker machine')} against --concurrency",
        "concurrency (pool processes per worker)",
        "tasks per second",
    )


def live_lesson(each) -> None:
    """The button that runs both sides of the lesson on real Celery."""
    from live.session import LiveSession, going
    from ui.live import unavailable

    reason = unavailable()
    if reason:
        st.caption(f"This lesson also runs on real Celery in under a minute: {reason}.")
        return
    runs = _live_runs()
    session: LiveSession | None = runs.get(each.name)
    seconds = live_seconds(each.name)
    label = f"Run both sides on real Celery ({each.live.tasks} tasks each, about {seconds:.0f} s)"
    busy = going()  # after a click, the run its callback started
    if busy is not None and busy is not session:
        st.info(
            "Another live run is going on on this machine (the Live page's or another "
            "lesson's): one at a time, as two beside each other skew each other's timings. "
            "The button is offered once it has ended."
        )
    st.button(
        label,
        key=f"learn-live-{each.name}-start",
        disabled=busy is not None,
        on_click=_start_lesson,
        args=(each,),
    )
    if busy is not None:
        rerun_when_over(busy)
    if session is not None:
        show_live_lesson(each, session)


def _start_lesson(each) -> None:
    """Start the lesson's live run (a button callback, as the Live page's Start: the page that
    follows draws it going and its button disabled; started after the button was drawn, the
    page offered the button again for the run's whole minute), unless another run goes on: a
    stale tab's click starts nothing."""
    from live.session import LiveSession, going
    from ui.live import start_lock

    with start_lock():  # a run the Live page or another tab began since this page was drawn
        if going() is None:
            session = LiveSession(each.live_scenarios(), each.live.time_scale, probe=True)
            session.start()
            _live_runs()[each.name] = session


@st.cache_resource
def _live_runs() -> dict:
    """Each lesson's latest live run (a ``LiveSession``), kept across reloads and tabs as the
    Live page keeps its own: in the page's session state, a reload lost a run going on, which
    ran on unseen, and offered its button again, to start a second run beside it."""
    return {}


@st.cache_data(show_spinner=False)
def live_seconds(name: str) -> float:
    """Wall seconds both live sides should take: the probe of this host's costs, then each
    side's simulated makespan × time scale, plus boots."""
    from live.clock import Clock
    from live.probe import expected_seconds
    from sim.analysis.lessons import LESSONS, load

    each = load(LESSONS / f"{name}.toml")
    spans = [summarize(simulate(sc), sc).makespan for sc in each.live_simulated()]
    probe = expected_seconds(each.live_scenarios()[0], each.live.time_scale)
    return probe + Clock(None, each.live.time_scale).wall_seconds(sum(spans)) + 2 * 5


@st.fragment(run_every=1.0)
def show_live_lesson(each, session) -> None:
    from sim.analysis.lessons import figures

    if session.error:
        st.error(session.error)
        return
    if session.running:
        from ui.live import stop_run, under_way

        side = len(session.results) + 1
        doing = (
            "Measuring Celery's costs on this host first"
            if session.probe and not session.probed
            else f"Running on real Celery: side {side} of 2, "
            + ("as deployed" if side == 1 else "with the fix")
        )
        st.info(f"{doing}…")
        if session.probed:  # this side's boot, then its tasks ended
            latest = session.latest
            under_way(session, None if any(latest is r for r in session.results) else latest)
        st.button(
            "Stop",
            key=f"learn-live-{each.name}-stop",
            disabled=session.stop.is_set(),
            on_click=stop_run,
            args=(session,),
        )
        return
    if session.stop.is_set():
        st.info("Stopped before both sides had run: nothing to compare. Run it again above.")
        return
    sides = each.live_scenarios()
    default, fixed = (figures(sc, t) for sc, t in zip(sides, session.results, strict=True))
    simulated = [figures(sc)[each.figure] for sc in each.live_simulated(session.paying)]
    paid = "this host's Celery costs, as measured" if session.costs else "the scenario's costs"
    cols = st.columns(3)
    figure = said(each.figure)
    cols[0].metric(f"{figure}, as deployed (real Celery)", shown(each.figure, default[each.figure]))
    cols[1].metric(f"{figure}, with the fix (real Celery)", shown(each.figure, fixed[each.figure]))
    cols[2].markdown(
        f"Simulated with the same {each.live.tasks} tasks and draws, paying {paid}: "
        f"**{shown(each.figure, simulated[0])}** as deployed, "
        f"**{shown(each.figure, simulated[1])}** with the fix."
    )
    fig = lesson_chart(each, *session.results, "real Celery")
    st.plotly_chart(fig, key=f"learn-live-chart-{each.name}")
    download_figure(fig, f"lesson-{each.name}-live")
