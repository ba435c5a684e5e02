"""Explore's "Autoscale or a fixed pool?" section, for a scenario with a pool whose capacity
follows its load (Celery's ``--autoscale`` or a node autoscaler, in [workers] or a [[pools]]
pool): the pool run again on the same arrivals (same seed) as a fixed pool and with other
settings, p95 against what each pays, its capacity over time against the queue, and a cost/p95
frontier over a sweep of its policy settings."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import streamlit as st

from sim import scenario
from sim.analysis import analytic, frontier
from sim.analysis.cost import nodes_over_time, processes_over_time
from sim.analysis.metrics import queue_length
from sim.analysis.mix import queued_on
from sim.analysis.runs import capacity_rows, capacity_varies, simulated
from sim.analysis.sweep import capped
from sim.scenario import Scenario, ScenarioError
from sim.sections import Pool
from sim.trace import Trace
from sim.words import counted, seconds
from ui import charts, pool_charts
from ui.scenario_input import IN_ADDRESS, cache_key
from ui.widgets import EMPTY, Progress, download_figure, progress_bar, share

FRONTIER_TASKS = 2000  # tasks per frontier point (of a scenario run by task count)


def autoscales(sc: Scenario) -> bool:
    """Some pool of ``sc`` follows its load (``--autoscale`` or a node autoscaler)."""
    return frontier.varying_pool(sc) is not None


def _key(sc: Scenario, pool: Pool):
    return lambda name: sc.pool_field(pool.name, name)


def policies(sc: Scenario) -> dict[str, dict[str, float]]:
    """The pools compared, each a name and the fields it changes on the first pool that
    follows its load. ``--autoscale``: the fixed pool at MAX (``--concurrency MAX``), then each
    of ``frontier.KEEPALIVES`` and the scenario's own. A node autoscaler: static at
    ``max_nodes`` and at the fewest nodes that keep up with the mean rate, then the autoscaler
    as set and with a 60 s cooldown."""
    pool = frontier.varying_pool(sc)
    key, w = _key(sc, pool), pool.workers
    if w.node_autoscaled:
        mean = analytic.workers_to_keep_up(sc, pool.name) or w.count
        static = {
            f"static {counted(n, 'node')}": {key("node_autoscaler"): "none", key("count"): n}
            for n in sorted({min(mean, w.max_nodes), w.max_nodes})
        }
        scaled = {
            f"autoscaler, cooldown {c:g} s": {key("node_cooldown"): c}
            for c in sorted({60.0, w.node_cooldown})
        }
        return {**static, **scaled}
    top, low = w.autoscale_max, w.autoscale_min
    fixed = {key("autoscale_max"): 0, key("autoscale_min"): 0, key("concurrency"): top}
    scaled = {
        f"--autoscale {top},{low}, keepalive {k:g} s": {key("autoscale_keepalive"): k}
        for k in sorted({*frontier.KEEPALIVES, w.autoscale_keepalive})
    }
    return {f"fixed --concurrency {top}": fixed, **scaled}


@st.cache_data(show_spinner=False, max_entries=16)
def compare(text: str, _progress: Progress | None = None) -> list[dict[str, object]]:
    """Each of ``policies`` run at the scenario's seed (TOML text, the cache key): a table row
    of the p95 sojourn and wait of the tasks the pool serves and what the pool paid (with
    several pools, its own: ``frontier.own_p95``, the summary's ``by_pool``)."""
    sc = scenario.loads(text)
    pool = frontier.varying_pool(sc)
    plans = policies(sc)
    rows = []
    for i, (name, changes) in enumerate(plans.items()):
        at = sc.replace(**changes)
        s = simulated(at, progress=share(_progress, i, len(plans)))
        cost = s.by_pool[pool.name]
        rows.append(
            {
                "pool": name,
                "p95 sojourn (s)": round(frontier.own_p95(s, at, pool), 3),
                "p95 wait (s)": round(frontier.own_p95(s, at, pool, "wait"), 3),
                "worker-seconds": round(cost["worker_seconds"]),
                "node-seconds": round(cost["node_seconds"]),
            }
        )
    return rows


@st.cache_data(show_spinner=False, max_entries=16)
def sweep_frontier(text: str, _progress: Progress | None = None) -> list[frontier.FrontierPoint]:
    """``frontier.frontier`` of a scenario (TOML text, the cache key), in this process."""
    return frontier.frontier(scenario.loads(text), processes=1, progress=_progress)


def capacity_chart(sc: Scenario, trace: Trace) -> go.Figure | None:
    """Each pool that follows its load, its pool processes (``--autoscale``) or its nodes (a
    node autoscaler) over time, against the queues those pools consume (with several pools,
    not the others' queues, whose backlog would dwarf theirs); None where no pool does (its
    capacity is a flat line)."""
    if not autoscales(sc):
        return None
    varying = list(filter(capacity_varies, sc.worker_pools))
    queues = {q for p in varying for q in p.queues}
    every = queues >= {q for _, q in trace.types}
    queued = queued_on(trace, queues)
    whole = queued if every else queue_length(trace)  # the lines reach the run's last start
    end = float(whole[0][-1]) if len(whole[0]) else None
    own = capacity_rows(trace, sc)
    series = {}
    for p in varying:
        nodes = p.workers.node_autoscaled
        rows = own[p.name]
        label = ("nodes" if nodes else "pool processes") + (f" ({p.name})" if sc.pools else "")
        series[label] = (nodes_over_time if nodes else processes_over_time)(rows, end)
    label = "queued" if every else f"queued on {', '.join(sorted(queues))}"  # as the Live page's
    return charts.processes_and_queue(series, {label: queued})


def section(sc: Scenario, capacity: go.Figure | None, key: str) -> None:
    """The table of ``policies``, the run's capacity over time and, on request, the frontier.
    Only for a scenario that autoscales, so a worker-slider move of any other scenario runs
    nothing new here. ``key`` starts the keys of its inputs that belong to one scenario
    (``scenario_input.widget_prefix``)."""
    if capacity is None:
        return
    st.subheader("Autoscale or a fixed pool?")
    pool = frontier.varying_pool(sc)
    try:
        with progress_bar("Running the fixed pool and the other settings: tasks finished") as bar:
            rows = compare(cache_key(sc), bar)
    except ScenarioError as err:
        st.error(f"The comparison stopped: {err}")
    else:
        st.dataframe(rows, hide_index=True, placeholder=EMPTY)
        where = (
            f"pool {pool.name}'s settings, the other pools as they are; the p95s are of the "
            f"tasks on its queues ({', '.join(pool.queues)}; the worst of them), the costs its "
            "own; "
            if len(sc.worker_pools) > 1
            else ""
        )
        st.caption(
            f"The same arrivals (seed {sc.seed}) for each; {where}worker-seconds: pool "
            "processes of up nodes × time, node-seconds: up nodes × time, what is paid for."
        )
    st.plotly_chart(capacity, key="processes")
    download_figure(capacity, "processes")
    frontier_section(sc, pool, key)


def first_target(points: list[frontier.FrontierPoint]) -> float:
    """The target p95 the frontier starts at: within 10 % of the fastest point's, rounded up
    to a tenth of a second, so the fastest always meets it. Rounded to the nearest, a p95 under
    45 ms made it 0.0, below the input's least (Streamlit raised), and 0.13 s made it 0.1."""
    return math.ceil(11 * min(p.p95 for p in points)) / 10


def frontier_section(sc: Scenario, pool: Pool, key: str) -> None:
    """On request (it runs a dozen simulations), cost against p95 over a sweep of the pool's
    policy settings and static sizes, the frontier joined, and the cheapest that meets a p95:
    its target is each scenario's own (``key``), as Explore's other targets are: one key for
    all kept autoscale_burst's 53.9 s for node_autoscale_cycle, whose own is 8.5 s."""
    plans = frontier.plans(sc, pool)
    count = sum(len(p) for p in plans.values())
    if not st.toggle(f"Sweep policy settings: cost against p95 ({count} runs)", key="frontier"):
        return
    swept = capped(sc, FRONTIER_TASKS)
    try:
        with progress_bar("Sweeping policy settings: runs done") as bar:
            points = sweep_frontier(cache_key(swept), bar)
    except ScenarioError as err:
        st.error(f"The sweep stopped: {err}")
        return
    target = st.number_input(
        "Target p95 sojourn (s)",
        min_value=0.01,
        value=first_target(points),
        key=f"{key}-frontier-target",
        bind=IN_ADDRESS,
    )
    unit = frontier.cost_unit(pool)
    fig = pool_charts.cost_frontier(points, unit, target)
    st.plotly_chart(fig, key="frontier-chart")
    download_figure(fig, "frontier")
    meeting = [p for p in points if p.p95 <= target]
    if meeting:
        best = min(meeting, key=lambda p: p.cost)
        st.success(
            f"Cheapest setting with a p95 sojourn ≤ {target:g} s: **{best.label}** "
            f"({best.cost:,.0f} {unit.replace('_', '-')}, p95 {seconds(best.p95)})."
        )
    else:  # the fastest is what to aim at: the bare "no setting meets" left one to guess
        fastest = min(points, key=lambda p: p.p95)
        st.info(
            f"No swept setting meets a p95 sojourn of {target:g} s: the fastest, "
            f"{fastest.label}, has {seconds(fastest.p95)}; set a target at or above it."
        )
    st.caption(
        f"One run per point at seed {sc.seed} (the same arrivals for all), "
        f"{'the whole run' if sc.run.duration else f'{swept.run.tasks} tasks'} each; the line "
        "joins the points no other beats on both cost and p95."
    )
