"""The Live page's run to start: its size, the time scale this host carries, Celery's costs, and
whether it can run live at all."""

from __future__ import annotations

import math

import streamlit as st

from live import host_cpu
from sim.analysis.analytic import arrival_rate
from sim.analysis.compare import SATURATED
from sim.analysis.runs import endless
from sim.analysis.sweep import capped
from sim.scenario import Scenario, ScenarioError
from sim.words import seconds, sentence
from ui.scenario_input import IN_ADDRESS, widget_prefix, workers_label

SCALES = (0.01, 0.02, 0.05, 0.1, 0.5, 1.0)  # wall seconds a scenario second, the slider's steps


def host_load(rate: float, time_scale: float, cores: int) -> None:
    """What the run will ask of this host's CPUs: past ``compare.SATURATED`` its timings are
    the host's, not the scenario's. At the slider's slowest scale the remedy is not on this
    page: "raise the time scale" stood beside a slider already at its top (200 tasks a second
    on 2 cores ask 100 % of them at 1)."""
    share = host_cpu.demand(rate, time_scale, cores)
    text = sentence(host_cpu.load_note(rate, time_scale, cores))
    if share < SATURATED:
        st.caption(text)
        return
    remedy = "raise the time scale."
    if time_scale >= max(SCALES):
        slower = math.ceil(host_cpu.lightest_scale(rate, cores) * 10) / 10
        remedy = (
            f"this page's slowest time scale, {time_scale:g}, is too fast for this rate. "
            f"`queuelab live SCENARIO --time-scale {slower:g}` keeps it to "
            f"{host_cpu.LIGHT:.0%} of the CPUs, or lower arrivals.rate in a pasted scenario."
        )
    st.warning(
        f"{text} From {SATURATED:.0%} on, Celery's own work queues for the cores and the live "
        f"run measures the host, not the scenario: {remedy}"
    )


def long_run(sc: Scenario, time_scale: float) -> None:
    """How long the run's arrivals alone take, past ``live.run.LONG_WALL``, as the CLI warns:
    300 tasks a quarter of an hour apart at 0.01 started 45 minutes of "Sending and running"
    without a word of it; and a retry's wait that long (``live.run.long_retry``)."""
    from live.run import LONG_WALL, arrivals_wall, long_retry

    wall = arrivals_wall(sc, None, time_scale)
    if wall > LONG_WALL:
        st.warning(
            f"The arrivals alone take about {wall / 60:,.0f} minutes of wall time at time "
            f"scale {time_scale:g}: fewer tasks or a smaller time scale shorten the run (Stop "
            "ends it and keeps what ran)."
        )
    if said := long_retry(sc, time_scale, f"time scale {time_scale:g}"):
        st.warning(sentence(f"{said}: Stop ends it and keeps what ran"))


def never_ends(sc: Scenario, time_scale: float) -> None:
    """A task type that always fails and is retried for ever (``runs.endless``), as the CLI's
    `live` and Explore say it, with how long the run then drains (``default_drain``, its outer
    bound, which such tasks reach): 40 of them at time scale 0.5 drained for 25 hours, started
    without a word, the progress reading "Draining: 0 of 40 tasks ended" until Stop."""
    from live.clock import Clock
    from live.run import default_drain

    said = endless(sc)
    if not said:
        return
    drain = default_drain(sc, Clock(None, time_scale))
    length = f"{drain / 3600:,.0f} hours" if drain >= 7200 else f"{drain / 60:,.0f} minutes"
    st.warning(
        f"This scenario has {said}. A live run of it drains for about {length} at time scale "
        f"{time_scale:g} before it ends: lower failures.probability below 1 or give "
        "retry.max_retries a number in a pasted scenario (Stop ends a run and keeps what ran)."
    )


def late_nodes(sc: Scenario, time_scale: float) -> None:
    """A node autoscaler's ``node_start`` shorter than a real node's boot, as the CLI warns:
    its added nodes consume later than simulated."""
    from live.node_autoscaler import start_note

    if note := start_note(sc, time_scale):
        st.warning(sentence(note))


def refusal(sc: Scenario, time_scale: float) -> str | None:
    """Why ``sc`` cannot run live (what only the simulator models, and the field to change;
    a wait past what Python, Celery or Redis can wait at ``time_scale``, by the CLI's rule,
    ``live.waits``), and what to do here; None when it can: said before Start, not after."""
    from live.run import check_live

    try:
        check_live(sc)
    except ScenarioError as err:
        return (
            f"{err} (This page has no control for it: paste the scenario with that change "
            "under the sidebar's 'upload or paste'; Explore's 'Scenario (TOML)' button gives "
            "its text.)"
        )
    try:
        check_live(sc, time_scale=time_scale)
    except ScenarioError as err:
        return f"{err} (the time scale above sets it)"
    return None


def run_to_start(base: Scenario) -> tuple[Scenario, float, bool, str | None]:
    """The controls above the Start button: the scenario the run replays (and Compare
    simulates), its time scale, starting where this host's CPUs carry it, whether to measure
    this host's Celery costs first, and why it cannot start (``refusal``). What the run asks of
    the host, and whether to measure it first, are asked only of a run that can start."""
    c1, c2, c3 = st.columns(3)
    # keyed by scenario, as Explore's sliders: another scenario's Tasks and Workers start at
    # its own values (4 workers of mmc stayed for autoscale_burst, whose own is 1)
    prefix = widget_prefix(base, "live")
    tasks = c1.number_input(  # a pasted scenario of 1 to 9 tasks starts at the least, 10
        "Tasks",
        10,
        5000,
        min(max(base.run.tasks, 10), 300),
        key=f"{prefix}-tasks",
        bind=IN_ADDRESS,
    )
    if base.run.duration:  # run.tasks takes the place of run.duration: said, not silent
        c1.caption(
            f"It runs by run.duration ({seconds(base.run.duration)} of arrivals); a live run "
            f"sends its first {int(tasks):,} tasks."
        )
    counts = {  # [workers].count reaches no [[pools]] pool: one count each, as Explore has
        base.pool_field(p.name, "count"): c2.number_input(
            workers_label(base, p.name),
            1,
            8,
            min(p.workers.count, 4),
            key=f"{prefix}-workers-{p.name}" if base.pools else f"{prefix}-workers",
            bind=IN_ADDRESS,
        )
        for p in base.worker_pools
    }
    rate, cores = arrival_rate(base, peak=True), host_cpu.cores()
    carried = host_cpu.carried_time_scale(rate, SCALES, cores) if rate else 0.1
    if st.session_state.get("live-scale-rate", rate) != rate:  # another scenario's rate
        st.session_state["live-scale"] = carried
    st.session_state["live-scale-rate"] = rate
    scale = c3.select_slider(
        "Time scale (wall s per scenario s)",
        SCALES,
        # always this rate's carried scale, also where it is set above: the address leaves out
        # a value equal to the default, and a reload takes a missing one as ``carried``. Left
        # out whenever the key held a value, the default became the first step, and a return
        # from another page dropped a scale of 0.01 from the address (its reload ran at 0.1)
        value=carried,
        key="live-scale",
        bind=IN_ADDRESS,
        help="A smaller time scale runs faster but asks more of this host's CPUs.",
    )
    sized = {"run.tasks": int(tasks), **{k: int(n) for k, n in counts.items()}}
    try:  # fewer tasks than the file's cut its warm-up by the same share, as Explore's sweep
        run = capped(base, int(tasks)).replace(**sized)
    except ScenarioError as err:  # a warm-up past the run's arrivals, of a run by duration
        return base, scale, False, str(err)
    refused = refusal(run, scale)
    if refused is not None:
        return run, scale, False, refused
    if rate:
        host_load(rate, scale, cores)
    long_run(run, scale)
    never_ends(run, scale)
    late_nodes(run, scale)
    own = "none: the textbook queue" if base.overhead.model == "none" else "as the scenario sets"
    probe = st.radio(
        "Celery's own costs in the simulation",
        (True, False),
        format_func=lambda on: "measured on this host first (a few seconds)" if on else own,
        key="live-probe",
        bind=IN_ADDRESS,
        horizontal=True,
        help="A live run pays Celery's per-task costs (the hand-over between tasks, the "
        "delivery, the result's write), and on this host they can be several times the "
        "defaults measured elsewhere. Measured first, as many workers as the run's take a short "
        "probe at its rate before it, and this page and Compare simulate the run paying what "
        "the probe measured.",
    )
    return run, scale, probe, None
