"""The Live page: run the scenario on real Celery workers and watch it as Flower would."""

from __future__ import annotations

import importlib.util
import shutil
import threading
import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from live.session import LiveSession, going
from sim import costs, data_files, scenario
from sim.analysis import monitor, throughput
from sim.analysis.cost import nodes_over_time, processes_over_time
from sim.analysis.littles_law import little
from sim.analysis.metrics import Summary, execution_spans, latest_states, queue_length
from sim.analysis.mix import queue_depths, queued_on
from sim.analysis.queues import queue_stats
from sim.analysis.runs import (
    capacity_rows,
    capacity_varies,
    joined_nodes,
    node_pools,
    summarize,
)
from sim.analysis.scheduled import scheduled
from sim.analysis.slot_stretch import STRETCHED, slot_stretch
from sim.analysis.stuck import STUCK_FACTOR, STUCK_FINISHED, stuck_tasks
from sim.analysis.wait_split import quantiles, wait_split_by_type
from sim.analysis.workers import busy_by_worker, pools_done, worker_stats
from sim.engine.draws import Draws
from sim.rules.states import FAILURE, NAMES, PENDING, SUCCESS
from sim.scenario import Scenario
from sim.trace import Trace
from sim.words import counted, seconds, workers_said
from ui import charts, live_setup, node_decisions
from ui.explore import SWEEP_TASKS, figures_per_type, how_many_workers, several, simulated
from ui.scenario_input import cache_key, pick
from ui.widgets import EMPTY, download_figure, export_trace, little_metrics, rerun_when_over


def unavailable() -> str | None:
    """Why live runs cannot start here, with the remedy; None when they can."""
    if importlib.util.find_spec("celery") is None or importlib.util.find_spec("redis") is None:
        return "install the live extra: `pip install -e '.[live]'`"
    if shutil.which("redis-server") is None:
        return "install redis-server (Debian/Ubuntu: `apt-get install redis-server`)"
    return None


def page() -> None:
    st.header("Live: the scenario on real Celery")
    reason = unavailable()
    if reason:
        st.info(
            "Live runs start a private redis-server and real Celery workers on this machine. "
            f"To enable this page, {reason}. Everything else works without them."
        )
        return
    base = pick("live")
    if base is None:
        return
    run, scale, probe, refused = live_setup.run_to_start(base)
    if refused:
        st.info(f"{run.name} cannot run live: {refused}")
    session = latest()
    running = session is not None and session.running
    lesson = None if running else going()  # a lesson's, started on the Learn page
    if st.session_state.pop("live-start-refused", False) and running:
        st.warning(
            "A live run is already going on this machine (started from another tab or window): "
            "it is shown below. One live run at a time; stop it to start another."
        )
    if lesson is not None:
        st.info(ONE_AT_A_TIME)
        rerun_when_over(lesson)
    st.session_state["live-drawn-running"] = running
    b1, b2 = st.columns(2)
    b1.button(
        "Start live run",
        disabled=running or lesson is not None or refused is not None,
        key="live-start",
        on_click=_start,
        args=(run, scale, probe),
        help="One live run at a time on this machine; it goes on if you reload the page.",
    )
    b2.button(
        "Stop",
        disabled=not running or session.stop.is_set(),
        key="live-stop",
        on_click=stop_run if running else None,
        args=(session,),
    )
    if session is None:
        return
    other = other_than_set(session, run, scale)
    if other:
        st.info(other)
    if running:
        watch(session)
    else:
        review(session)


def other_than_set(session: LiveSession, run: Scenario, scale: float) -> str | None:
    """What differs between the run shown and the one Start would run: a fresh tab's sidebar
    (300 tasks) stood above a 100-task run without a word. Scenarios are compared as TOML:
    the kept run outlives Streamlit's re-import of ``sim`` after a source change, and a
    scenario of the old classes never equals one of the new."""
    shown = session.scenarios[0]
    if shown.name != run.name:
        return f"Below is this machine's latest live run, of {shown.name}; Start runs {run.name}."
    if scenario.dumps(shown) == scenario.dumps(run) and session.time_scale == scale:
        return None

    def said(sc: Scenario, time_scale: float) -> str:
        size = seconds(sc.run.duration) if sc.run.duration else counted(sc.run.tasks, "task")
        return f"{size} at time scale {time_scale:g}"

    was, now = said(shown, session.time_scale), said(run, scale)
    if was == now:
        return "Below is this machine's latest live run; Start runs the settings in the sidebar."
    return f"Below is this machine's latest live run, {was}; Start runs {now}."


ONE_AT_A_TIME = (
    "A lesson's live run is going on (the Learn page): one live run at a time on this machine, "
    "as two beside each other skew each other's timings. Start is offered once it has ended."
)


@st.cache_resource
def _kept() -> list[LiveSession]:
    """The list that holds this app server's latest Live-page run, across reloads and tabs. In
    Streamlit's resource cache, as it re-imports every app module after a source change: a
    module's own list would then forget a run that goes on."""
    return []


_LATEST = _kept()


def latest() -> LiveSession | None:
    """The Live page's latest run, going on or finished: a reload finds it again."""
    return _LATEST[-1] if _LATEST else None


def _start(sc: Scenario, time_scale: float, probe: bool) -> None:
    """Start a run (a button callback, so the page that follows already draws it running),
    unless one is going: another tab's page, drawn before that run began, still offers Start,
    and a second run beside the first took its place on the page (the first, lost to it, ran
    on unseen) and skewed both."""
    with start_lock():
        if going() is not None or ((mine := latest()) is not None and mine.running):
            st.session_state["live-start-refused"] = True
            return
        session = LiveSession((sc,), time_scale, probe=probe)
        session.start()
        _LATEST[:] = [session]


def stop_run(session: LiveSession) -> None:
    """Stop the run (a button callback), if it still goes: the page offers Stop until it next
    redraws, up to a second after the run's end, and a finished run stopped then was said to
    be cut short and kept out of Compare."""
    if session.running:
        session.stop.set()


@st.cache_resource
def start_lock() -> threading.Lock:
    """One start at a time across the app server's sessions (tabs) and pages (the Live page's
    and the Learn page's lessons), as ``_kept``'s run."""
    return threading.Lock()


def compared_run() -> tuple[str, float, Trace, float | None] | None:
    """The latest finished live run for the Compare page: (its scenario's ``cache_key``, time
    scale, trace, how busy the host's CPUs were during it). A stopped run only when the user
    asked for it (its tail is missing)."""
    session = latest()
    if session is None or session.result is None:
        return None
    if session.stop.is_set() and not session.compare_anyway:
        return None
    busy = session.host_busy[0] if session.host_busy else None
    return cache_key(session.scenario), session.time_scale, session.result, busy


NOT_SENT = (
    "It cannot be compared even so: {left} of its tasks were never sent, and the simulation "
    "beside a live run replays each task's send time."
)


def unsent(session: LiveSession) -> int:
    """Tasks of the run's scenario its producer never sent (stopped before its last send)."""
    sent = int(np.count_nonzero(session.result.state == PENDING)) if session.result else 0
    return Draws(session.scenario).n_tasks - sent


def not_compared() -> str:
    """Why the Compare page has no run to take, and what to do about it."""
    session = latest()
    if session is None and (reason := unavailable()):
        return (
            "Compare lays a live run beside a simulation of the same scenario, seed and draws, "
            f"and live runs are off on this machine: to enable the Live page, {reason}."
        )
    if session is None:
        return (
            "Run a scenario on the Live page first; its trace is compared here with a "
            "simulation of the same scenario, seed and draws."
        )
    if session.running:
        return "A live run is going on: it is compared here once it has finished."
    if session.result is None:
        return "The latest live run ended without a trace (the Live page says why): start another."
    how = "was cut short when its Redis went away" if session.lost else "was stopped before its end"
    if left := unsent(session):
        return f"The latest live run {how}. {NOT_SENT.format(left=left)} Start another run."
    return (
        f"The latest live run {how}: its tail is missing, so its figures "
        "are not the scenario's. The Live page's \"Compare this stopped run anyway\" lays it "
        "beside the simulation all the same."
    )


def edited_since(session: LiveSession) -> str | None:
    """What to say when a data file the run read has been edited since: a simulation set
    beside the run (this page's, Compare's) reads the file as it is now, the session keeps no
    numbers of its own, and the two would differ by the edit without a word."""
    files = data_files.changed(session.read)
    if not files:
        return None
    return (
        f"{' and '.join(files)} changed after this live run read it: the simulation beside the "
        "run reads the file as it is now, so the two ran on different numbers. Start another "
        "run to compare like with like."
    )


@st.fragment(run_every=1.0)
def watch(session: LiveSession) -> None:
    """Redrawn every second while the run goes, as Flower's dashboard is."""
    draw(session)


@st.fragment
def review(session: LiveSession) -> None:
    """A finished run, redrawn only when its own widgets change: a filter, a task picked."""
    draw(session)


def draw(session: LiveSession) -> None:
    """The run as it stands: counts, charts, workers, tasks, the wait split and sizing."""
    if not session.running and st.session_state.get("live-drawn-running"):
        st.session_state["live-drawn-running"] = False
        st.rerun(scope="app")  # the buttons, outside this fragment, flip back
    if session.error:
        st.error(session.error)
        if session.result is None:  # a run that lost its Redis keeps what was collected
            return
    trace = session.result or session.latest
    if trace is None and not session.running:
        st.info("Stopped before the run began: no task was sent.")
        return
    if session.result is None:
        under_way(session, trace)
    if trace is None or not len(trace):
        return
    stopped = session.stop.is_set() and session.result is not None
    st.caption(caption(session, trace, stopped))
    summary = None if session.result is None else summarize(trace, session.scenario, engine="live")
    if summary is not None:  # its headline on top, not below the tables and sizing
        finished(session, trace, summary, stopped)
    states = latest_states(trace)
    cols = st.columns(len(NAMES))
    for col, name in zip(cols, NAMES, strict=True):
        col.metric(name, states.get(name, 0))
    times = monitor.task_times(trace)
    stuck(trace, times)
    going = session.result is None
    held = scheduled(trace, session.scenario) if going else np.zeros(trace.n_tasks, bool)
    figures = {  # keys apart from the widgets' ("live-mmc-workers" is the Workers input)
        "live-chart-queue": charts.steps(
            {q: monitor.until_now(trace, t, n) for q, (t, n) in queue_depths(trace).items()},
            "Queue length",
            "tasks",
        ),
        "live-chart-busy": charts.stacked(
            *busy_by_worker(trace, going), "Busy slots by worker (mean per span)", "slots"
        ),
    }
    for column, (key, fig) in zip(st.columns(2), figures.items(), strict=True):
        with column:
            st.plotly_chart(fig, key=key)
    middle, rates = throughput.flow(trace)
    figures["live-chart-flow"] = charts.lines(
        middle,
        rates,
        "Tasks sent and ended per second",
        "seconds since start",
        "tasks per second",
        charts.FLOW,
    )
    st.plotly_chart(figures["live-chart-flow"], key="live-chart-flow")
    figures["live-chart-ended"] = ended_by(trace)
    if trace.capacity:
        figures["live-chart-capacity"] = capacity(session.scenario, trace)
        beside = None
        if scaled := any(p.workers.node_autoscaled for p in session.scenario.worker_pools):
            beside = None if summary is None else simulated_beside(session).decisions
            node_decisions.mark(
                figures["live-chart-capacity"], session.scenario, trace.decisions, beside or ()
            )
        st.plotly_chart(figures["live-chart-capacity"], key="live-chart-capacity")
        if pools := session.scenario.pools:
            consumed = "; ".join(f"pool {p.name} consumes {', '.join(p.queues)}" for p in pools)
            st.caption(
                "Each pool's processes (dashed) against the tasks queued on the queues it "
                "consumes, in one colour"
                + ("." if all(p.queues == (p.name,) for p in pools) else f" ({consumed}).")
            )
        if scaled:
            node_decisions.table(session.scenario, trace.decisions, beside)
    nodes(session, trace, going, times, held)
    if going:
        queues(session, trace, times, held)
    tasks(trace, times)
    figures["live-chart-split"] = where_time_went(trace)
    sizing(session, trace, times, summary)
    if summary is not None:
        spans = execution_spans(trace)
        figures["live-gantt"] = charts.gantt(spans, trace.workers, "Executions by worker (live)")
        st.plotly_chart(figures["live-gantt"], key="live-gantt")
        for key, fig in figures.items():
            download_figure(fig, key)
        export_trace(lambda: trace, "live")


ENDED_BY = {"worker": "worker", "task type": "type"}  # the radio's choices: throughput.ended_by's


def ended_by(trace: Trace) -> go.Figure:
    """Flower's monitor graphs: tasks succeeded and failed per second, a line per worker, or
    per task type where there are several."""
    by = "worker"
    if len(trace.types) > 1:
        by = st.radio("Ended per second, by", list(ENDED_BY), horizontal=True, key="live-ended-by")
    middle, rates = throughput.ended_by(trace, ENDED_BY[by])
    fig = charts.lines(
        middle, rates, f"Tasks ended per second by {by}", "seconds since start", "tasks per second"
    )
    st.plotly_chart(fig, key="live-chart-ended")
    return fig


def capacity(sc: Scenario, trace: Trace) -> go.Figure:
    """Pool processes and up nodes over time, from the run's sampled capacity rows, against
    its queue: what an ``--autoscale`` node grew to and when, and which nodes were down. With
    several pools, each pool's processes (summed, one pool's growth hid in the others') against
    the tasks queued on its own queues, each line named by its queues and its pool (named by
    the pool alone, the scrape queue's line read "queued (scrapers)"; against the whole queue,
    the slow pool's backlog stood over the fast pool's idle processes). Until the run's latest
    event: a pool pays for its processes while its last tasks run."""
    end = monitor.now(trace)
    if sc.pools:
        series = {
            f"pool processes ({name})": processes_over_time(rows, end)
            for name, rows in capacity_rows(trace, sc).items()
        }
        queued = {
            charts.queued_label(pool.queues, pool.name): monitor.until_now(
                trace, *queued_on(trace, pool.queues)
            )
            for pool in sc.worker_pools
        }
    else:
        series = {"pool processes": processes_over_time(trace.capacity, end)}
        queued = {"queued": monitor.until_now(trace, *queue_length(trace))}
    series["nodes"] = nodes_over_time(trace.capacity, end)
    return charts.processes_and_queue(series, queued)


def under_way(session: LiveSession, trace: Trace | None) -> None:
    """A progress bar while the run goes: the boot against its usual length (nothing counts it
    until the workers are ready), then the tasks ended, while they are sent and as they drain."""
    from live.probe import expected_seconds
    from live.run import WORKER_BOOT

    sc = session.scenario
    if trace is None or not len(trace):
        seconds = time.monotonic() - session.started if session.started else 0.0
        usual, doing = (
            WORKER_BOOT,
            f"Starting redis-server and {counted(len(sc.nodes), 'Celery worker')}",
        )
        if session.probe and not session.probed:
            usual = expected_seconds(sc, session.time_scale)
            doing = "Measuring Celery's costs on this host"
        st.progress(
            min(seconds / usual, 0.99),
            text=f"{doing}: {seconds:.0f} s (usually about {usual:.0f} s)",
        )
        return
    states = latest_states(trace)
    ended = states.get(NAMES[SUCCESS], 0) + states.get(NAMES[FAILURE], 0)
    sent = int(np.count_nonzero(trace.state == PENDING))
    phase = "Sending and running" if sent < sc.run.tasks else "Draining"
    st.progress(
        ended / sc.run.tasks,
        text=f"{phase}: {ended:,} of {sc.run.tasks:,} tasks ended ({sent:,} sent)",
    )


def caption(session: LiveSession, trace: Trace, stopped: bool) -> str:
    """Running, finished, or stopped after how many tasks were sent; and what runs."""
    sc = session.scenario
    if stopped:
        sent = int(np.count_nonzero(trace.state == PENDING))
        how = "Cut short when Redis went away" if session.lost else "Stopped"
        status = f"{how} after {sent} of {sc.run.tasks} tasks were sent."
    elif session.result is not None:
        status = "Finished."
    else:  # a Stop is heard within a second or so; the workers then get their grace
        status = "Stopping…" if session.stop.is_set() else "Running…"
    return (
        f"{status} {sc.name}: {sc.run.tasks} tasks, {workers_said(sc)}, "
        f"time scale {session.time_scale}"
    )


def finished(session: LiveSession, trace: Trace, s: Summary, stopped: bool) -> None:
    """The run's headline figures (``s``), each task type's and pool's where there are several,
    and whether the Compare page takes it."""
    figures_line = (
        f"p95 sojourn {seconds(s.sojourn_p95)} · throughput {s.throughput:.3g}/s · "
        f"unfinished {s.tasks_lost}"
    )
    if stopped and session.compare_anyway:
        st.warning(
            f"{figures_line}. This run was cut short: its tail is missing. The Compare page "
            "lays it beside the simulation all the same, as asked."
        )
    elif stopped:
        st.warning(
            f"{figures_line}. A run cut short is not compared with the simulation: its tail is "
            "missing."
        )
        if left := unsent(session):
            st.caption(NOT_SENT.format(left=left) + " Start another run to compare one.")
        else:
            st.button(
                "Compare this stopped run anyway",
                key="live-compare-anyway",
                on_click=setattr,  # before the rerun: the page that follows says it is taken
                args=(session, "compare_anyway", True),
            )
    else:
        st.success(f"{figures_line}. The Compare page lays it beside the simulation.")
    if several(session.scenario):  # the headline's p95 mixes the types: each its own, as Explore
        figures_per_type(s)
    if session.costs is not None:
        st.caption(
            f"Celery's costs on this host, measured before the run: {session.costs.describe()}. "
            "This page and Compare simulate the run paying them."
        )
    elif session.probe:
        st.caption(
            "The probe before the run measured too little to fit Celery's costs on this host "
            "(no task found a worker idle): this page and Compare simulate the scenario's own."
        )
    if edited := edited_since(session):
        st.warning(edited)
    sc = session.scenario
    stretch = slot_stretch(trace, simulated_beside(session), sc.slots)
    if stretch is not None and stretch > STRETCHED:
        st.warning(
            f"Each task held its slot {stretch:.2f}× as long as simulated (its run and the idle "
            f"gap before the next): at time scale {session.time_scale:g} Celery's own per-task "
            "cost is a large part of a task, so this live queue is busier than the one "
            "simulated and its waits are not the scenario's. Raise the time scale, or let "
            "`queuelab calibrate` fit that cost."
        )


def simulated_beside(session: LiveSession) -> Trace:
    """The simulation of the run's scenario as a live run of it at its time scale runs
    (``costs.beside_live_run``): what this page lays beside the finished run."""
    return simulated(cache_key(costs.beside_live_run(session.scenario, session.time_scale)))


def nodes(
    session: LiveSession, trace: Trace, going: bool, times: monitor.TaskTimes, held: np.ndarray
) -> None:
    """Flower's worker list, its columns meaning what Flower's do: each node's status, the
    queues it consumes (with several pools, as Flower's worker page lists them), what runs on
    it and what it holds (``held``: the messages held for a retry's countdown), what was
    delivered to it and how it ended, how busy it was."""
    st.subheader("Workers")
    up = session.nodes_up()
    pools = node_pools(trace, session.scenario)  # a node joined from elsewhere: the first pool
    joined = set(joined_nodes(trace, session.scenario))
    slots = {  # a pool whose capacity varies, a joined node: its processes, from capacity rows
        name: None if capacity_varies(pool) or name in joined else pool.workers.concurrency
        for name, pool in pools.items()
    }
    done = pools_done(trace, times, {name: pool.queues for name, pool in pools.items()})
    stats = worker_stats(trace, slots, going, times, held, done)
    status = {True: "online", False: "down"}
    queues = {"queues": [", ".join(pools[w.name].queues) for w in stats]}
    st.dataframe(
        {
            "worker": [w.name for w in stats],
            **(queues if session.scenario.pools else {}),
            "status": [
                ("joined" if w.name in joined else status.get(up.get(w.name), "starting"))
                if going
                else "stopped"
                for w in stats
            ],
            "busy now": [f"{w.busy} of {w.slots}" for w in stats],
            **(
                {
                    "scheduled": [w.scheduled for w in stats],
                    "reserved": [w.reserved for w in stats],
                }
                if going
                else {}
            ),
            "processed": [w.received for w in stats],
            "succeeded": [w.succeeded for w in stats],
            "failed": [w.failed for w in stats],
            "retried": [w.retried for w in stats],
            "cut short": [w.interrupted for w in stats],
            "utilisation": [f"{w.utilization:.0%}" for w in stats],
        },
        hide_index=True,
        placeholder=EMPTY,
        key="live-worker-table",
    )
    cut = not going and (session.stop.is_set() or session.lost)
    so_far = " so far" if going else ""  # a finished run's counts are its whole
    st.caption(
        f"*Processed*: tasks delivered to the worker{so_far}, as Flower counts them (a retry or "
        f"a redelivery again). The other counts are executions that have ended{so_far}; *cut "
        "short*: executions a dying worker never finished"
        + (", or that were running when the run was cut short" if cut else "")
        + f". Utilisation is busy slot-seconds over the slot-seconds the worker had{so_far}: "
        "its concurrency's until the last task on its pool's queues ended (as the pool's "
        "utilisation), or under --autoscale its pool processes', as sampled."
        + (
            " *Scheduled* and *reserved*: the messages it holds now, as the Queues table below."
            if going
            else ""
        )
    )


def queues(session: LiveSession, trace: Trace, times: monitor.TaskTimes, held: np.ndarray) -> None:
    """Flower's Broker page while the run goes: each queue's tasks now, by where they are
    (``held``: the messages held for a retry's countdown), the oldest one's wait and the nodes
    online that consume it (with several pools, a queue's own backlog, which the queue-length
    chart shows only as a line among others)."""
    st.subheader("Queues")
    up = session.nodes_up()
    stats = queue_stats(trace, times, held)
    consumers = {
        q.name: [name for name, pool in session.scenario.nodes if q.name in pool.queues]
        for q in stats
    }
    st.dataframe(
        {
            "queue": [q.name for q in stats],
            "waiting": [q.waiting for q in stats],
            "oldest wait (s)": [
                None if q.oldest_wait is None else round(q.oldest_wait, 3) for q in stats
            ],
            "scheduled": [q.scheduled for q in stats],
            "reserved": [q.reserved for q in stats],
            "running": [q.running for q in stats],
            "consumers online": [
                f"{sum(up.get(n, False) for n in consumers[q.name])} of {len(consumers[q.name])}"
                for q in stats
            ],
        },
        hide_index=True,
        placeholder=EMPTY,
        key="live-queue-table",
    )
    st.caption(
        "As Flower's Broker page, now: *waiting* in the queue's Redis list (Flower's Ready; a "
        "retried task waits again), for as long as *oldest wait* says of the longest; "
        "*scheduled*: a retry a worker took and holds until its countdown is over (Flower's "
        "Scheduled); *reserved*: prefetched by a worker, free to run, waiting for a slot "
        "(Flower's Reserved); *running*. *Consumers online*: the worker nodes consuming the "
        "queue that are up."
    )


def where_time_went(trace: Trace) -> go.Figure:
    """Broker wait, prefetch wait and runtime apart, a row per task type where there are
    several: Flower shows a task's runtime only."""
    st.subheader("Where the time went")
    split = wait_split_by_type(trace)
    marks = {
        kind: {name: quantiles(v) for name, v in samples.items()} for kind, samples in split.items()
    }
    fig = charts.histograms(split, marks, "Wait split")
    st.plotly_chart(fig, key="live-chart-split")
    st.caption(
        "Broker wait: sent until a worker reserved it (PENDING → RECEIVED). Prefetch wait: "
        "reserved until a slot ran it (RECEIVED → STARTED), long when the prefetch multiplier "
        "holds tasks behind slow ones. Waits are each task's first delivery."
    )
    return fig


def stuck(trace: Trace, times: monitor.TaskTimes) -> None:
    """A warning with the count of tasks open far longer than finished ones of their type took,
    and the list."""
    factor = st.session_state.get("live-stuck-factor", STUCK_FACTOR)
    found = stuck_tasks(trace, times, factor, TABLE_ROWS)
    names = monitor.type_names(trace)
    several = len(names) > 1
    limits = ", ".join(
        seconds(limit) + (f" for a {name}" if several else "")
        for name, limit in found.thresholds.items()
    )
    if found.count:
        st.warning(
            f"{counted(found.count, 'task')} stuck: no end after {limits} ({factor:g} × the p99 "
            f"sojourn of finished tasks{' of its type' if several else ''})."
        )
    with st.expander(f"Stuck tasks ({found.count})"):
        st.number_input(
            "Flag a task open longer than this many × the p99 finished sojourn",
            min_value=1.0,
            max_value=100.0,
            value=STUCK_FACTOR,
            step=0.5,
            key="live-stuck-factor",
        )
        if found.count:
            st.dataframe(found.columns, hide_index=True, placeholder=EMPTY, key="live-stuck-table")
            st.caption("Age: seconds since the task was sent, as of the latest event.")
        elif found.thresholds:
            st.caption(f"None open longer than {limits}.")
        if waiting := [name for name in names if name not in found.thresholds]:
            st.caption(
                f"Not judged until {STUCK_FINISHED} "
                + (
                    f"of its type have finished: {', '.join(waiting)}"
                    if several
                    else "tasks have finished"
                )
                + ". The first tasks to finish are the shortest, and so is their p99."
            )


def sizing(
    session: LiveSession, trace: Trace, times: monitor.TaskTimes, summary: Summary | None
) -> None:
    """Little's law on the live figures, and the fewest workers the simulator says would meet
    a target p95 sojourn at this scenario's load, beside the run's own p95 (once the run is
    over: its ``summary``)."""
    st.subheader("Sizing")
    law = little(trace, times)
    little_metrics(
        law.arrival_rate,
        law.sojourn_mean,
        law.in_system_mean,
        rate_said="tasks sent per s, the run so far",
    )
    st.caption(
        "Little's law: L = λW on a complete run; while tasks are open L runs ahead of λW. "
        "L tasks in the system on average is the backlog the workers and Redis hold."
    )
    if summary is None:
        st.caption("The worker-count sweep comes when the run is over.")
        return
    sc = session.scenario
    if not sc.run.duration and sc.run.tasks < SWEEP_TASKS:
        st.caption(
            f"The sweep sizes this run, {sc.run.tasks} tasks, beside its own p95: a short run's "
            "p95 is mostly its start, so size a deployment on Explore "
            f"(up to {SWEEP_TASKS:,} tasks a run) or with `queuelab sweep`."
        )
    stopped = session.stop.is_set()  # a cut-short run's p95 is not the scenario's
    how_many_workers(sc, sc, page="live", live=None if stopped else summary)


TABLE_ROWS = 200  # a big run's table shows its most recently active tasks


def tasks(trace: Trace, times: monitor.TaskTimes) -> None:
    """Flower's task list, with the times Flower leaves out, and one task's whole story."""
    st.subheader("Tasks")
    names = monitor.type_names(trace)
    cols = st.columns(3 if len(names) > 1 else 2)
    states = cols[0].multiselect("State", NAMES, key="live-filter-state", placeholder="any state")
    workers = cols[1].multiselect(
        "Worker", trace.workers, key="live-filter-worker", placeholder="any worker"
    )
    types = (
        cols[2].multiselect("Type", names, key="live-filter-type", placeholder="any type")
        if len(names) > 1
        else []
    )
    columns, matched = monitor.task_table(
        trace, times, tuple(states), tuple(workers), TABLE_ROWS, tuple(types)
    )
    st.dataframe(columns, hide_index=True, placeholder=EMPTY, height=300, key="live-task-table")
    shown = len(columns["task"])
    st.caption(
        f"{shown} of {matched} matching tasks, most recently active first"
        + (" (the latest only: filter to find others)" if shown < matched else "")
        + ". Times are seconds of scenario time; click a column to sort."
    )
    picked = st.selectbox(
        "A task's history: every row of its trace",
        columns["task"],
        index=None,
        key="live-task-pick",
        placeholder="pick or type a task id",
        accept_new_options=True,
    )
    if picked is not None:
        history = monitor.task_trace(trace, picked)
        if history["state"]:
            if len(trace.types) > 1:
                name, queue = monitor.task_kind(trace, picked)
                st.caption(f"Task {picked}: {name}, routed to queue {queue}.")
            st.dataframe(history, hide_index=True, placeholder=EMPTY, key="live-task-history")
        else:
            st.info(f"No task {picked!r} in this run.")
