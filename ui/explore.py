"""The Explore page: run a scenario, see its distributions over time, size the worker pool, or
each pool against the p95 of the task types it serves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from sim import scenario
from sim.analysis import analytic, rate_over_time, sizing
from sim.analysis.metrics import Summary, busy_slots, queue_length, sojourns, waits
from sim.analysis.mix import queue_lengths, sojourns_by_type
from sim.analysis.runs import NO_TASKS, endless, summarize, unfinished
from sim.analysis.sweep import Estimate, SweepPoint, capped, sweep
from sim.engine import budget
from sim.engine.distributions import (
    is_exponential,
    of_gaps,
    of_service,
    service_cv,
    service_mean,
)
from sim.engine.model import simulate
from sim.rules import routing
from sim.scenario import FIELD_BY_KEY, Scenario, ScenarioError
from sim.trace import Trace
from sim.words import counted, seconds, sentence
from ui import autoscale, charts, pool_charts
from ui.scenario_input import (
    IN_ADDRESS,
    cache_key,
    pick,
    tune,
    widget_prefix,
    workers_label,
)
from ui.widgets import (
    EMPTY,
    Progress,
    download_figure,
    export_trace,
    progress_bar,
    share,
)

SWEEP_TASKS = 5000
SWEEP_REPS = 3


@st.cache_data(show_spinner=False, max_entries=16)
def run(text: str, _progress: Progress | None = None) -> Trace:
    """Simulate a scenario given by its ``cache_key`` (``_progress`` is not in the key): the
    Live page's trace of the simulated run beside its own (Explore keeps ``view``s instead)."""
    return simulate(scenario.loads(text), progress=_progress)


def simulated(text: str) -> Trace:
    """``run`` with a progress bar while it simulates."""
    with progress_bar("Simulating: tasks finished") as report:
        return run(text, report)


NEIGHBOURS = 4  # worker counts made ahead of the slider: two steps either way


@dataclass(frozen=True)
class RunView:
    """What Explore draws of one run: its summary and its two charts, not its trace (~0.2 MB
    in memory at any task count, where a 100k-task trace takes 10 MB)."""

    summary: Summary
    cdf: go.Figure
    timeline: go.Figure
    arrivals: go.Figure | None  # a rate that varies over time: the rate set and the drawn
    processes: go.Figure | None  # a pool that follows its load: processes or nodes, queue


@st.cache_resource(show_spinner=False, max_entries=64)
def view(text: str, _progress: Progress | None = None) -> RunView:
    """A scenario's run (its ``cache_key``, TOML text) as Explore draws it. A resource, not
    data: a hit returns the frozen view itself, where ``st.cache_data`` would unpickle and
    revalidate its figures on every rerun."""
    sc = scenario.loads(text)
    trace = simulate(sc, progress=_progress)
    return RunView(
        summarize(trace, sc),
        *figures(trace, per_type=several(sc)),
        arrival_rate(sc, trace),
        autoscale.capacity_chart(sc, trace),
    )


def viewed(text: str) -> RunView:
    """``view`` with a progress bar while it simulates."""
    with progress_bar("Simulating: tasks finished") as report:
        return view(text, report)


@st.cache_data(show_spinner=False, max_entries=16)
def run_sweep(
    text: str, workers: tuple[int, ...], _progress: Progress | None = None
) -> list[SweepPoint]:
    # in-process: worker processes would re-import the app script as their __main__
    return sweep(
        scenario.loads(text), list(workers), reps=SWEEP_REPS, processes=1, progress=_progress
    )


@st.cache_data(show_spinner=False, max_entries=32)
def run_curve(
    text: str, pool: str, counts: tuple[int, ...], _progress: Progress | None = None
) -> sizing.PoolCurve:
    sc = scenario.loads(text)
    return sizing.pool_curve(sc, pool, counts, SWEEP_REPS, processes=1, progress=_progress)


@st.cache_data(show_spinner=False, max_entries=256)
def run_counts(text: str, at: tuple[tuple[str, int], ...], figure: str) -> dict[str, float]:
    return sizing.mean_figure(scenario.loads(text), dict(at), figure, reps=SWEEP_REPS)


def several(sc: Scenario) -> bool:
    """A scenario of ``[[tasks]]`` or ``[[pools]]``: shown per task type, sized per pool."""
    return bool(sc.tasks or sc.pools)


def worker_range(sc: Scenario, pool: str | None = None) -> tuple[int, ...]:
    """About nine worker counts of ``pool`` (default: the first) from the fewest that keep up
    (1 where no rate says) to twice the scenario's, its own count among them (descriptions say
    "try workers.count=2×"), in place of the even step's count within half a step of it: each
    count is a tick on the trade-off's axis, and 100 beside 104 on an axis of 8 to 200 printed
    one over the other (and swept nearly the same run twice). An own count too few to keep up
    is left out, and the counts reach twice the fewest that do: mmc's 4 workers at 100 tasks a
    second were swept as 4 and 101 to 105, five labels printed over each other far from a
    lone 4 whose p95 of thousands of seconds flattened the rest, and the answer read "the
    sweep steps from 4 to 101: a count between may meet it", every count between overloaded."""
    own = sizing.counts(sc)[pool or sc.worker_pools[0].name]
    most = FIELD_BY_KEY["workers.count"].max  # a pool's count is declared as workers.count
    least = min(analytic.workers_to_keep_up(sc, pool) or 1, most)
    top = min(max(least + 4, 2 * max(own, least)), most)
    spread = np.linspace(least, top, 9)
    if own < least:
        return tuple(sorted(set(spread.round().astype(int).tolist())))
    apart = np.abs(spread - own) >= (top - least) / 16  # half of the step of 8
    return tuple(sorted({*spread[apart].round().astype(int).tolist(), own}))


def page() -> None:
    st.header("Explore")
    base = pick("explore")
    if base is None:
        return
    sc = tune(base, "explore")
    if sc is None:
        return
    if base.description:
        st.caption(base.description)
    if (never := endless(sc)) and not simulate_endless(sc, never, widget_prefix(base, "explore")):
        return
    if said := budget.large(sc):  # a pasted run of 1e8 tasks took 20 GB without a word
        st.warning(f"{said[0].upper()}{said[1:]}: lower `run.tasks` for a quicker answer.")
    try:
        shown = viewed(cache_key(sc))
    except ScenarioError as err:  # e.g. a runaway redelivery loop: say what to change
        st.error(str(err))
        return
    if not shown.summary.tasks_submitted:
        st.warning(sentence(NO_TASKS))
        return
    if said := unfinished(shown.summary, sc):  # its sojourns those of the tasks that ended
        st.warning(sentence(said))
    headline(sc, shown.summary)
    if several(sc):
        figures_per_type(shown.summary)
        if said := formula_pool_waits(sc, shown.summary):
            st.caption(said)
    distributions(shown)
    if shown.arrivals is not None:
        st.plotly_chart(shown.arrivals, key="arrival-rate")
        download_figure(shown.arrivals, "arrival-rate")
    if not never:  # each of its runs as long as the page's
        autoscale.section(sc, shown.processes, widget_prefix(base, "explore"))
    st.subheader("How many workers?")
    how_many_workers(sc, base)
    st.subheader("Export")
    export_trace(lambda: simulate(sc), sc.name)
    st.download_button("Scenario (TOML)", scenario.dumps(sc), f"{sc.name}.toml")
    if not never:
        prepare_counts(sc, base)


def simulate_endless(sc: Scenario, said: str, prefix: str) -> bool:
    """Whether to simulate a scenario of which no task ever ends (``said``, ``runs.endless``,
    the CLI's warning too, with the executions it costs): only when asked. Each task runs
    ``retry.FOLLOWED`` + 1 times, so mmc's 10,000 tasks took three minutes, and the page then
    swept nine worker counts of such runs and made four more, most of an hour, to size a pool
    by sojourns no task had; asked, the run alone is shown (``how_many_workers`` sizes none,
    on the Live page too)."""
    st.warning(
        f"This scenario has {said}. Lower failures.probability (or the outage's) below 1 or "
        "give retry.max_retries a number: no worker count makes these tasks end, so the page "
        "sizes none."
    )
    return st.checkbox("Simulate it anyway", key=f"{prefix}-endless")


def prepare_counts(sc: Scenario, base: Scenario) -> None:
    """The page's run at the ``NEIGHBOURS`` swept counts nearest the slider's, once the page is
    drawn: a worker-slider step then finds its run made and simulates nothing. Only the nearest:
    every count would cost each page view a whole sweep at full size. A widget change meanwhile
    stops this at its next progress report (Streamlit interrupts a script at its next element),
    so the user never waits for it. Not for a run that holds over ``budget.WARN_BYTES``: a
    pasted 1e8 tasks (a run of over ten minutes and 20 GB) kept the page running for four such
    runs more after it was drawn."""
    if several(sc) or sc.workers.node_autoscaled or budget.large(sc):
        return
    now = sc.workers.count
    others = sorted((n for n in sweep_plan(sc, base)[1] if n != now), key=lambda n: abs(n - now))
    others = others[:NEIGHBOURS]
    with progress_bar("Preparing the other worker counts: tasks finished") as report:
        for i, count in enumerate(others):
            try:
                view(
                    cache_key(sc.replace(**{"workers.count": count})),
                    share(report, i, len(others)),
                )
            except ScenarioError:  # that count's own error is shown if the slider goes there
                continue


def headline(sc: Scenario, s: Summary) -> None:
    """The figures a reader checks first, and what queueing theory expects of them."""
    cols = st.columns(5)
    cols[0].metric("p95 wait", seconds(s.wait_p95))
    cols[1].metric("p95 sojourn", seconds(s.sojourn_p95))
    cols[2].metric("utilisation", f"{s.utilization:.1%}")
    cols[3].metric("throughput", f"{s.throughput:.3g}/s")
    cols[4].metric("lost · failed", f"{s.tasks_lost} · {s.tasks_failed}")
    for idle in routing.idle_queues(sc):
        st.warning(sentence(idle))
    overloaded = analytic.overload_warning(sc)
    if overloaded:
        st.warning(overloaded)
    elif fixed_pool(sc) and (arrival_cv := analytic.arrival_cv(sc)) is not None:
        st.caption(formula_wait(sc, arrival_cv, s.wait_mean))


def fixed_pool(sc: Scenario) -> bool:
    """Whether the textbook's G/G/c wait describes ``sc``: one pool of one task type with a
    fixed node count. A node autoscaler's ``workers.count`` only starts its run, and the
    overload check weighs the pool at ``max_nodes``: 5 starting nodes short of the load under
    a ceiling of 100 put Erlang C at ρ > 1 and the page raised UnstableError."""
    return not several(sc) and not sc.workers.node_autoscaled


def formula_wait(sc: Scenario, arrival_cv: float, simulated: float) -> str:
    """The textbook's mean wait beside the simulated one: Erlang C, exact, for Poisson arrivals
    and exponential service (Allen–Cunneen's factor is then 1); else Allen–Cunneen's G/G/c
    approximation. Neither has prefetch, retries, crashes or Celery's own per-task costs.
    Exact by the shapes, not by their cvs (flaky_api's lognormal service of cv 1 was called
    "this M/M/c queue"), and for a fixed number of servers."""
    cv = service_cv(sc.service)
    approx = analytic.allen_cunneen(
        sc.arrivals.rate, service_mean(sc.service), sc.workers.slots, arrival_cv, cv
    )
    poisson = sc.arrivals.process in ("poisson", "renewal") and is_exponential(of_gaps(sc.arrivals))
    if poisson and not sc.workers.processes_vary and is_exponential(of_service(sc.service)):
        return (
            f"Erlang C (exact for this M/M/c queue) puts the mean wait at {seconds(approx)} "
            f"(simulated: {seconds(simulated)}); it has no {not_in_formulas(sc)}."
        )
    return (
        f"Allen–Cunneen's G/G/c approximation puts the mean wait at {seconds(approx)} "
        f"(simulated: {seconds(simulated)}); it ignores {not_in_formulas(sc)}, "
        "and is rough at low load."
    )


def formula_pool_waits(sc: Scenario, s: Summary) -> str | None:
    """Each pool's textbook mean wait (``analytic.pool_waits``) beside its simulated one, the
    mean over the queues it serves weighted by their tasks; None where no pool has one."""
    formula = analytic.pool_waits(sc)
    if not formula:
        return None
    said = []
    for pool in sc.worker_pools:
        if pool.name in formula:
            queues = [s.by_queue[q] for q in pool.queues if q in s.by_queue]
            tasks = sum(q["tasks"] for q in queues)
            simulated = sum(q["tasks"] * q["wait_mean"] for q in queues) / tasks if tasks else 0
            said.append(
                f"{pool.name} {seconds(formula[pool.name])} (simulated: {seconds(simulated)})"
            )
    return (
        "The textbook's mean wait per pool, for Poisson arrivals and the mix of services each "
        f"pool runs (Allen–Cunneen; Erlang C where the mix is exponential): {'; '.join(said)}. "
        f"It has no {not_in_formulas(sc)}."
    )


def not_in_formulas(sc: Scenario) -> str:
    """What the queueing formulas leave out of ``sc``, said beside their figures: processes
    sharing fewer cores run slower together (16 on 8 cores: the formula's mean wait was under
    1 ms beside a simulated 0.15 s, and said to be exact), which no formula here has."""
    costs = ", Celery's per-task costs" if sc.overhead.model == "celery" else ""
    shared = [p.workers for p in sc.worker_pools if p.workers.cores]
    if any(w.cores < w.processes for w in shared):
        costs += ", processes sharing fewer CPU cores (workers.cores)"
    if any(p.workers.processes_vary for p in sc.worker_pools):
        costs += ", a pool that grows and shrinks (--autoscale)"
    return f"prefetch, retries, crashes{costs}"


def figures(trace: Trace, per_type: bool = False) -> tuple[go.Figure, go.Figure]:
    """Wait and sojourn as CDFs, and the queue and busy slots over time; ``per_type``: the
    sojourn of each task type, and the length of each queue."""
    if per_type:
        return (
            charts.cdf(sojourns_by_type(trace), "Sojourn per task type (CDF)", apart=True),
            charts.steps(queue_lengths(trace), "Queue length per queue", "tasks"),
        )
    return (
        charts.cdf({"wait": waits(trace), "sojourn": sojourns(trace)}, "Wait and sojourn (CDF)"),
        charts.steps(
            {"queued": queue_length(trace), "busy slots": busy_slots(trace)},
            "Queue length and busy slots",
            "tasks",
        ),
    )


def distributions(shown: RunView) -> None:
    """The run's two charts side by side, each with its download."""
    pairs = zip(st.columns(2), (shown.cdf, shown.timeline), ("cdf", "timeline"), strict=True)
    for column, fig, name in pairs:
        with column:
            st.plotly_chart(fig, key=name)
            download_figure(fig, name)


def arrival_rate(sc: Scenario, trace: Trace) -> go.Figure | None:
    """A rate that varies over time (piecewise, cycle): the rate set and the arrivals drawn;
    None for a steady rate."""
    end = rate_over_time.run_end(sc, trace)
    curve = rate_over_time.set_rate(sc, end)
    return (
        None if curve is None else charts.arrival_rate(curve, rate_over_time.drawn_rate(trace, end))
    )


def sweep_plan(
    sc: Scenario, base: Scenario, pool: str | None = None
) -> tuple[Scenario, tuple[int, ...]]:
    """The scenario ``pool``'s trade-off sweep runs and its worker counts, both anchored at
    ``base``'s count (the file's, not the slider's): the sweep sets every count itself, so
    moving the slider within the range reuses the cached sweep instead of running it again.
    Pools that share no queue do not change each other's figures, so the others are anchored
    at ``base``'s counts too; pools that share one keep their sliders' counts."""
    pool = pool or sc.worker_pools[0].name
    fixed = [pool] if sizing.coupled(sc) else list(sizing.counts(sc))
    own = sizing.counts(base)
    anchored = sc.replace(**{sc.pool_field(p, "count"): own[p] for p in fixed})
    counts = worker_range(anchored, pool)
    if not counts[0] <= sizing.counts(sc)[pool] <= counts[-1]:
        anchored = sc.replace(**{sc.pool_field(p, "count"): own[p] for p in fixed if p != pool})
        counts = worker_range(anchored, pool)
    return capped(anchored, SWEEP_TASKS), counts


NO_COUNT_ENDS = (
    "No worker count makes a task end that retries for ever and always fails, so no count is "
    "swept: lower failures.probability below 1 or give retry.max_retries a number."
)

NODES_FOLLOW = (
    "A node autoscaler adds and removes this pool's nodes as the queue moves: its count is only "
    "where the run starts, so no count is swept here. The table above sets static node counts "
    "against the autoscaler on the same arrivals."
)


def how_many_workers(
    sc: Scenario, base: Scenario, page: str = "explore", live: Summary | None = None
) -> None:
    """The worker-count trade-off against a target p95 sojourn, and the fewest that meet it, per
    pool and task type where the scenario has several; Explore and the Live page (``page``, the
    widgets' key prefix) both ask this question, the Live page beside its ``live`` run's own
    figures."""
    if endless(sc):  # each swept run 1,001 times as long, its sojourns of no finished task
        st.info(NO_COUNT_ENDS)
        return
    if several(sc):
        size_pools(sc, base, page, live)
        return
    live_p95 = live.sojourn_p95 if live is not None else None
    if sc.workers.node_autoscaled:
        st.info(NODES_FOLLOW)
        return
    target = st.number_input(
        "Target p95 sojourn (s)",
        min_value=0.01,
        value=round(max(4 * service_mean(sc.service), 0.1), 2),
        key=f"{widget_prefix(base, page)}-target",  # each scenario its own, as its sliders
        bind=IN_ADDRESS,
    )
    swept, counts = sweep_plan(sc, base)
    try:
        with progress_bar("Sweeping worker counts: runs done") as report:
            points = run_sweep(cache_key(swept), counts, report)
    except ScenarioError as err:
        st.error(f"The sweep stopped: {err}")
        return
    erlang = analytic.mmc_sojourn_quantiles(sc, counts)
    fig = charts.tradeoff(points, target, erlang, current=sc.workers.count)
    st.plotly_chart(fig, key=f"{page}-tradeoff")
    download_figure(fig, f"{page}-tradeoff")
    best = charts.smallest_meeting(points, target)
    said = workers_verdict(best, target, counts[-1], sc.workers.count, live_p95)
    if best is None:
        said += f" {none_meets(points, slider=page == 'explore')}"
    if best is not None and (i := counts.index(best)) and best - counts[i - 1] > 1:
        said += f" The sweep steps from {counts[i - 1]} to {best}: a count between may meet it."
    rho = (
        None if best is None else analytic.traffic_intensity(sc.replace(**{"workers.count": best}))
    )
    said += steady_state_said(erlang, best, target, swept.run.tasks, rho)
    if live_p95 is not None and live_p95 > target:
        st.warning(said)
    else:
        (st.info if best is None else st.success)(said)
    st.caption(
        f"Simulated: {len(counts)} worker counts × {SWEEP_REPS} seeds × {swept.run.tasks} tasks "
        "of this scenario; the band is the 95 % confidence interval over seeds."
    )


def workers_verdict(
    best: int | None, target: float, top: int, own: int, live_p95: float | None = None
) -> str:
    """The sweep's answer: the fewest workers (of those swept, up to ``top``) whose simulated
    p95 sojourn meets ``target``. Beside a live run's own p95 (the Live page) it is said as the
    simulation's prediction, and whether the live run's own p95 met the target is said next to
    it: "4 workers meet 4 s" under a live p95 of 4.16 s read as a contradiction, and a run
    that met the target beside a prediction of more workers as one too."""
    if live_p95 is None:
        if best is None:
            return f"No worker count up to {top} meets a p95 sojourn of {target:g} s."
        return (
            f"Smallest worker count whose simulated p95 sojourn is ≤ {target:g} s: **{best}** "
            f"(this scenario has {own})."
        )
    if best is None:
        said = f"Simulation's prediction: no worker count up to {top} meets {target:g} s."
    else:
        said = (
            f"Simulation's prediction: **{best}** workers are the fewest whose p95 sojourn is "
            f"≤ {target:g} s (this run had {own})."
        )
    met = "misses" if live_p95 > target else "meets"
    return f"{said} This live run's own p95 sojourn, {seconds(live_p95)}, {met} the target."


NEAR_SATURATION = 0.9  # ρ from which a swept run, starting empty, reads its p95 below the steady


def steady_state_said(
    erlang: dict[int, float] | None,
    best: int | None,
    target: float,
    tasks: int,
    rho: float | None = None,
) -> str:
    """Erlang C's fewest workers, where it describes the scenario and differs from the sweep's
    answer, with why they can differ. mmc at 60 tasks a second: the sweep said 61 workers (ρ
    0.98) meet a p95 sojourn of 4 s, its runs of 5,000 tasks (83 s) starting with an empty
    queue, beside an Erlang C line at 4.6 s there, whose fewest is 69. Where no Erlang line
    checks it, the same caution wherever the chosen count's ``rho`` is ``NEAR_SATURATION`` or
    more, with the longer run that tells: such scenarios got no word."""
    empty = (
        f"each swept run of {tasks:,} tasks starts with an empty queue, which near ρ = 1 has not "
        "settled by its end"
    )
    if erlang is None:
        if best is None or rho is None or rho < NEAR_SATURATION:
            return ""
        return (
            f" At {best} workers ρ is {rho:.2f}: {empty}, so its p95 there reads below the "
            "steady state's. A longer run tells: `queuelab sweep` with more tasks (`--set "
            "run.tasks=…`), or `run.warmup` to leave the first tasks out."
        )
    steady = min((count for count, p95 in erlang.items() if p95 <= target), default=None)
    if steady == best:
        return ""
    where = f"at **{steady}**" if steady is not None else "at none of these counts"
    return (
        f" Erlang C, this M/M/c queue's steady state, puts the fewest {where}: {empty}, and its "
        "p95 scatters over seeds."
    )


def none_meets(points: list[SweepPoint], slider: bool = False) -> str:
    """What to do when no swept count meets the target, as a pool's ``unmet_said`` says it:
    sweep further where the p95 was still falling (on Explore, ``slider``, by moving the
    Workers slider past the sweep's top: ``sweep_plan`` then sweeps to twice its count), else
    set a target above the time a task takes itself. The bare "no worker count up to 12 meets
    4 s" left the reader to guess."""
    means = [p.sojourn_p95.mean for p in points]
    if sizing.still_falling(means):
        top = points[-1].workers
        further = (
            further_by_slider("Workers", top)
            if slider
            else "`queuelab sweep SCENARIO --workers …` with more workers tells where it meets it"
        )
        return (
            f"Its p95 sojourn was still falling at {counted(top, 'worker')} "
            f"({seconds(means[-1])}): {further}."
        )
    least = min(means)
    at = counted(points[means.index(least)].workers, "worker")
    return (
        f"More workers no longer lower it (at best {seconds(least)}, at {at}): the time a task "
        "takes itself (its service, and any retries with their countdowns) sets it; set a "
        "target above it."
    )


def further_by_slider(label: str, top: int) -> str:
    """How Explore sweeps past a sweep's ``top`` count: by the worker-count slider (``label``)
    moved past it, as ``sweep_plan`` sweeps to twice the slider's count. Said in place of a
    ``queuelab sweep`` command, which the page's own slider does without a terminal."""
    return f"move the {label} slider past {top}: the sweep then reaches twice its count"


# the per-type figures Explore shows, each under a header with its unit
TYPE_COLUMNS = {
    "tasks": "tasks",
    "wait_p95": "p95 wait (s)",
    "sojourn_p50": "p50 sojourn (s)",
    "sojourn_p95": "p95 sojourn (s)",
    "throughput": "throughput (/s)",
}


def figures_per_type(s: Summary) -> None:
    """Each task type's and pool's figures, the summary's ``by_task`` and ``by_pool``."""
    left, right = st.columns([3, 2])
    left.dataframe(
        [
            {"task type": name, **{h: round(f[k], 3) for k, h in TYPE_COLUMNS.items()}}
            for name, f in s.by_task.items()
        ],
        hide_index=True,
        placeholder=EMPTY,
    )
    right.dataframe(
        [
            {
                "pool": name,
                "slots": f["slots"],
                "executions": f["executions"],
                "utilisation": f"{f['utilization']:.1%}",
                "worker-seconds": round(f["worker_seconds"]),
            }
            for name, f in s.by_pool.items()
        ],
        hide_index=True,
        placeholder=EMPTY,
    )


# a pool sizing target's default: its task type's mean service time × this
TARGET_TIMES = {"sojourn_p95": 4, "wait_p95": 1}


def size_pools(sc: Scenario, base: Scenario, page: str, live: Summary | None = None) -> None:
    """Each pool's worker-count trade-off against the p95 of the task types it serves, and the
    fewest workers in all that meet a target per task type (``sizing.size``); beside a ``live``
    run, whether its own figure met each type's target."""
    figure = st.radio(
        "Target on each task type's",
        sizing.FIGURES,
        format_func=pool_charts.FIGURE_TITLES.get,
        horizontal=True,
        key=f"{page}-figure",
        bind=IN_ADDRESS,
    )
    # each figure its own targets, in the address as the single pool's: a sojourn target kept
    # as a wait target (15 s for 5 s reports) asked for another queue
    times = TARGET_TIMES[figure]
    targets = {
        t.name: col.number_input(
            f"{t.name}: target {pool_charts.FIGURE_TITLES[figure]} (s)",
            min_value=0.01,
            value=round(max(times * service_mean(t.service), 0.1), 2),
            key=f"{widget_prefix(base, page)}-target-{figure}-{t.name}",
            bind=IN_ADDRESS,
        )
        for t, col in zip(sc.task_types, st.columns(len(sc.task_types)), strict=True)
    }
    curves, plans = {}, {}
    served = sizing.serves(sc)
    idle = [p.name for p in sc.worker_pools if not served[p.name]]
    if idle:  # an empty chart, and a count in the total that no target asks for
        st.caption(f"No task type is routed to pool {', '.join(idle)}: it is left out here.")
    # as NODES_FOLLOW: a count only starts the run (and a sweep past max_nodes stopped the
    # sizing of every pool)
    follow = [p.name for p in sc.worker_pools if served[p.name] and p.workers.node_autoscaled]
    if follow:
        st.caption(
            f"A node autoscaler adds and removes the nodes of pool {', '.join(follow)} as the "
            "queue moves: its count is only where the run starts, so it is left out here."
        )
    sized = [p for p in sc.worker_pools if served[p.name] and p.name not in follow]
    if not sized:
        return
    for pool in sized:
        plans[pool.name] = sweep_plan(sc, base, pool.name)
        swept, values = plans[pool.name]
        try:  # a bar, where a spinner said nothing of how long; each report also lets a
            # widget change stop the sweep (Streamlit interrupts a script at its next element)
            with progress_bar(f"Sweeping pool {pool.name}'s worker count: runs done") as report:
                curves[pool.name] = run_curve(cache_key(swept), pool.name, values, report)
        except ScenarioError as err:
            st.error(f"The sweep of pool {pool.name} stopped: {err}")
            return
    now = sizing.counts(sc)
    columns = st.columns(min(len(curves), 2))
    for i, (name, curve) in enumerate(curves.items()):
        with columns[i % len(columns)]:
            fig = pool_charts.pool_tradeoff(curve, figure, targets, now[name])
            st.plotly_chart(fig, key=f"{page}-tradeoff-{name}")
            download_figure(fig, f"{page}-tradeoff-{name}")
    capped = next(iter(plans.values()))[0]  # the sweeps' task count, for a greedy search
    text = cache_key(capped)
    with progress_bar(GREEDY) as report:  # as the sweeps' bars: a widget change stops it
        found = sizing.size(
            sc,
            curves,
            targets,
            figure,
            lambda at: run_counts(text, tuple(at.items()), figure),
            report,
        )
    sizing_verdict(sc, found, curves, figure, capped.run.tasks, targets, page == "explore")
    if found.counts is not None and found.search == "per pool":
        close = sizing.too_close(curves, found.counts, targets, figure)
        close_calls(sc, close, targets, figure)
    if live is not None:
        live_against(live, targets, figure)


# pools sharing a queue: ``sizing.greedy``'s counts tried, against the most it can try
GREEDY = (
    "Searching pool sizes one worker at a time (it stops once every target is met): pool "
    "counts tried"
)


def live_against(live: Summary, targets: dict[str, float], figure: str) -> None:
    """A live run's own figure of each task type against its target, beside the simulation's
    sizing (as the single pool's verdict says its p95)."""
    said = pool_charts.FIGURE_TITLES[figure]
    each = [
        (kind, live.by_task[kind][figure], target)
        for kind, target in targets.items()
        if kind in live.by_task
    ]
    text = "; ".join(
        f"{kind} {seconds(value)} {'misses' if value > target else 'meets'} {target:g} s"
        for kind, value, target in each
    )
    missed = any(value > target for _, value, target in each)
    (st.warning if missed else st.info)(f"This live run's own {said}: {text}.")


def close_calls(
    sc: Scenario,
    close: list[tuple[str, str, int, Estimate]],
    targets: dict[str, float],
    figure: str,
) -> None:
    """Where the answer rests on the seeds drawn: a target inside its interval at the count
    found (a report's 14.3 s p95 against 15 s, its interval 10.2-18.3 s)."""
    if not close:
        return
    said = pool_charts.FIGURE_TITLES[figure]
    each = "; ".join(
        f"{kind}'s {said} at {pool} {count} is {seconds(e.mean)}, its 95 % interval "
        f"{seconds(e.low)} to {seconds(e.high)} holds the {targets[kind]:g} s target"
        for pool, kind, count, e in close
    )
    pools = dict.fromkeys(pool for pool, *_ in close)  # each pool's own sweep, once
    more = (
        ", ".join(f"`queuelab sweep SCENARIO --pool {pool} --reps 10`" for pool in pools)
        + ", or `simulate --reps`"
        if sc.pools
        else f"`queuelab simulate SCENARIO --set workers.count={close[0][2]} --reps 10`"
    )
    st.warning(
        f"Close call: {each}. One worker more or fewer could be the answer; more seeds tell "
        f"({more})."
    )


def unmet_said(
    sc: Scenario,
    u: sizing.Unmet,
    targets: dict[str, float],
    said: str,
    slider_past: int | None = None,
) -> str:
    """Why a type's target is not met and what to do: sweep further where its p95 was still
    falling, else a target above the time the type takes itself (its service, and any retries
    with their countdowns, which no worker shortens). On Explore (``slider_past``: the pool's
    sweep's last count) the pool's slider sweeps further; elsewhere a command does, which
    names a [[pools]] pool; of a scenario of task types without them (a lesson's),
    ``sweep --pool workers`` is refused and ``sweep`` prints no task type's p95, so it is
    ``simulate --reps`` at a count."""
    at = f"{u.pool} {u.count}" if sc.pools else counted(u.count, "worker")  # as the tops
    head = (
        f"{u.kind}'s {said} is {seconds(u.best)} at best ({at}), over its "
        f"{targets[u.kind]:g} s target"
    )
    if u.falling and slider_past is not None:
        further = further_by_slider(workers_label(sc, u.pool), slider_past)
        return f"{head}, and still falling at the sweep's last count: {further}."
    if u.falling:
        further = (
            f"`queuelab sweep SCENARIO --pool {u.pool} --workers …` with more workers"
            if sc.pools
            else "`queuelab simulate SCENARIO --set workers.count=… --reps 5` at more workers"
        )
        return (
            f"{head}, and still falling at the sweep's last count: {further} tells where it "
            "meets it."
        )
    return (
        f"{head}, and more workers no longer lower it: the time {u.kind} takes itself (its "
        "service, and any retries with their countdowns) sets it; set a target above it."
    )


def sizing_verdict(
    sc: Scenario,
    found: sizing.Sizing,
    curves: dict[str, sizing.PoolCurve],
    figure: str,
    tasks: int,
    targets: dict[str, float],
    slider: bool = False,
) -> None:
    """The smallest total that meets every target, per pool, and how it was searched; an
    unmet target's way further by the page's pool sliders where it has them (``slider``)."""
    now, said = sizing.counts(sc), pool_charts.FIGURE_TITLES[figure]
    if found.counts is None:
        tops = ", ".join(  # the one pool of task types without [[pools]] is no name to say
            f"{p} {c.counts[-1]}" if sc.pools else str(c.counts[-1]) for p, c in curves.items()
        )
        unmet = sizing.unmet(curves, targets, figure)
        why = " ".join(
            unmet_said(sc, u, targets, said, curves[u.pool].counts[-1] if slider else None)
            for u in unmet
        )
        st.warning(f"No worker counts up to {tops} meet every task type's target. {why}")
    else:
        each = ", ".join(f"{p} **{c}** (now {now[p]})" for p, c in found.counts.items())
        st.success(
            f"Smallest total worker count meeting every task type's {said} "
            f"target: **{found.total}** ({each}; this scenario has "
            f"{sum(now[p] for p in found.counts)})."  # in those pools: others are left out
        )
    if len(curves) == 1:
        how = ""
    elif found.search == "per pool":
        how = (
            "The pools share no queue, so one pool's count leaves the others' tasks as they "
            "were: each pool is sized alone on its own sweep and the total is the sum. "
        )
    else:
        how = (
            "Some pools share a queue, so their counts trade off: a greedy search adds one "
            "worker at a time to the pool that brings the worst task type closest to its target. "
        )
    st.caption(
        f"{how}Each pool's sweep varies its count with the others fixed, {SWEEP_REPS} seeds × "
        f"{tasks} tasks per count; the band is the 95 % confidence interval over seeds."
    )
