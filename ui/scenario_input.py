"""Choosing a scenario in the app: a shipped one, an uploaded one or pasted TOML, then sliders."""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import streamlit as st

from sim import data_files, scenario
from sim.engine.distributions import service_mean
from sim.fields import Field
from sim.scenario import (
    DEPLOYMENT_WIDE,
    FIELD_BY_KEY,
    SERVICE_DISTS,
    TASK_SECTIONS,
    Scenario,
    ScenarioError,
)
from sim.scenario_io import parse, text_of
from sim.shapes import DIST_READS, GAP_DISTS
from sim.words import seconds, workers_said

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

# The app's server, shared, reads the data files a scenario given to it names (pasted or
# uploaded: ``file = ...``) only in this folder, the shipped scenarios' unless set
DATA_ENV = "QUEUELAB_APP_DATA"


def data_folder() -> Path:
    """Where a given scenario's data files are read (``scenario_io.confined``)."""
    return Path(os.environ.get(DATA_ENV) or SCENARIOS)


# Widgets keep their values in the page's address (Streamlit's bind): a reload or a shared link
# comes back to the same scenario and sliders. Pasted TOML and uploads are not kept (too long).
IN_ADDRESS = "query-params"


def shipped() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SCENARIOS.glob("*.toml"))}


@cache
def shipped_scenarios() -> dict[str, Scenario]:
    """The shipped scenarios by their own names (``autoscale-burst``, not the file's stem)."""
    return {sc.name: sc for sc in map(scenario.load, shipped().values())}


def pick(key: str = "explore") -> Scenario | None:
    """Sidebar widgets that choose a base scenario; None (with an error shown) when invalid."""
    files = shipped()
    source = st.sidebar.radio(
        "Scenario source", ["shipped", "upload or paste"], key=f"{key}-src", bind=IN_ADDRESS
    )
    if source == "shipped":
        name = st.sidebar.selectbox(
            "Scenario",
            list(files),
            key=f"{key}-name",
            index=list(files).index("mmc") if "mmc" in files else 0,
            bind=IN_ADDRESS,
        )
        return scenario.load(files[name])
    uploaded = st.sidebar.file_uploader("Scenario file (.toml)", type=["toml"], key=f"{key}-file")
    if uploaded is None:
        text = st.sidebar.text_area(
            "…or paste TOML", "[workers]\ncount = 8\n", key=f"{key}-toml", height=160
        )
        st.sidebar.caption("Pasted text is not kept in the page's address: a reload starts again.")
    st.sidebar.caption(f"Data files (`file = ...`) are read from `{data_folder()}` only.")
    try:
        if uploaded is not None:
            text = text_of(uploaded.getvalue(), uploaded.name)
        pasted = scenario.loads(text, data_folder())
    except ScenarioError as err:
        st.error(f"This scenario is not valid: {err}")
        return None
    if not parse(text):  # as the CLI warns of a file that sets nothing: an emptied box ran
        st.info(  # the defaults without a word
            f"The {'uploaded file' if uploaded is not None else 'pasted text'} sets no field, "
            f"so every field takes its default ({workers_said(pasted)}, "
            f"{pasted.arrivals.rate:g} tasks a second): "
            "paste a scenario's TOML, or start from a shipped one's (Explore's 'Scenario "
            "(TOML)' button)."
        )
    return pasted


MEAN_DRIVEN = GAP_DISTS  # service dists a mean sets
# a cv slider for the dists that read one, but erlang: its cv is 1/√k, which most steps miss
CV_DRIVEN = tuple(d for d in MEAN_DRIVEN if "cv" in DIST_READS[d] and d != "erlang")


@dataclass(frozen=True)
class Knob:
    """A sidebar control for one declared field. Its kind, help text and bottom come from the
    declaration; its top is a choice here, as a field's own range is far wider than a useful
    slider."""

    key: str  # the dotted field
    label: str
    widget: str  # widget key suffix: the key is "{page}-{scenario name}-{widget}"
    top: float = 1
    step: float = 1
    dists: tuple[str, ...] = SERVICE_DISTS  # the service distributions it drives
    stops: tuple[int, ...] = ()  # a select slider's stops instead of a range
    declared: str = ""  # the declared field when ``key`` names a pool's: "pools.fast.count"

    @property
    def field(self) -> Field:
        return FIELD_BY_KEY[self.declared or self.key]

    @property
    def bottom(self) -> float:
        """The least multiple of the step the field allows: 0.1 for a rate that must be > 0."""
        lower = self.field.min if self.field.min is not None else self.field.above
        n = math.ceil(lower / self.step)
        return n * self.step if self.field.within(n * self.step) else (n + 1) * self.step

    def ends(self, base: Scenario) -> tuple[float, float]:
        """The slider's usual range in ``base``: a node autoscaler's starting count lies within
        its ``min_nodes`` and ``max_nodes`` (any other count is refused), else the knob's own."""
        pool = self.key.rpartition(".")[0]  # "workers" or "pools.fast"
        counts = (self.declared or self.key) == "workers.count"
        if counts and base.get(f"{pool}.node_autoscaler") != "none":
            return base.get(f"{pool}.min_nodes"), base.get(f"{pool}.max_nodes")
        return self.bottom, self.top

    def show(self, base: Scenario, key: str) -> Any:
        """The widget, starting from the scenario's own value: a value past the slider's usual
        range widens it, so a file is simulated as written. A range of one value is said, not
        drawn (Streamlit refuses a slider whose ends meet)."""
        value, key = base.get(self.key), f"{key}-{self.widget}"
        shared = {"key": key, "help": self.field.meaning, "bind": IN_ADDRESS}
        if self.field.type is bool:
            return st.sidebar.checkbox(self.label, value, **shared)
        if self.stops:  # the scenario's own value is always a stop
            return st.sidebar.select_slider(
                self.label, sorted({*self.stops, value}), value, **shared
            )
        if self.field.forever:
            endless = st.sidebar.checkbox(
                f"{self.label}: for ever (inf)",
                value == math.inf,
                key=f"{key}-forever",
                help="Celery's None: every failure is retried, never FAILURE",
                bind=IN_ADDRESS,
            )
            if endless:
                return math.inf
            value = self.field.default if value == math.inf else value  # the slider's start
        value = self.field.type(value)
        low, high = self.ends(base)
        bottom, top = min(low, value), max(high, value)
        if bottom == top:
            st.sidebar.caption(f"{self.label}: {value:g} (min_nodes = max_nodes)")
            return value
        return st.sidebar.slider(self.label, bottom, top, value, self.step, **shared)


KNOBS = {
    "Load": (
        Knob("run.tasks", "Tasks", "tasks", stops=(1000, 2000, 5000, 10000, 20000, 50000, 100000)),
        Knob("arrivals.rate", "Arrival rate (tasks/s)", "rate", 100.0, 0.1),
        Knob("service.mean", "Service mean (s)", "mean", 10.0, 0.05, dists=MEAN_DRIVEN),
        Knob("service.cv", "Service spread (cv)", "cv", 5.0, 0.1, dists=CV_DRIVEN),
    ),
    "Workers": (
        Knob("workers.count", "Workers", "workers", 64),
        Knob("workers.concurrency", "Concurrency per worker", "conc", 16),
        Knob(
            "workers.autoscale_max", "--autoscale MAX (processes)", "asmax", stops=(2, 4, 8, 16, 32)
        ),
        Knob("workers.autoscale_min", "--autoscale MIN (processes)", "asmin", 32),
        Knob("workers.autoscale_keepalive", "Autoscale keepalive (s)", "keepalive", 300.0, 5.0),
        Knob("workers.prefetch_multiplier", "Prefetch multiplier", "prefetch", 16),
        Knob("workers.cores", "CPU cores per worker machine", "cores", 64),
        Knob("ack.late", "acks_late", "late"),
    ),
    "Failures and retries": (
        Knob("failures.probability", "Failure probability", "fail", 0.9, 0.01),
        Knob("retry.max_retries", "max_retries", "retries", 10),
        Knob("retry.backoff", "retry_backoff (s, 0 = countdown)", "backoff", 60.0, 0.5),
    ),
}


def idle_rate(sc: Scenario, tasks: int) -> str | None:
    """Why the arrival rate sets nothing in ``sc`` run by ``tasks`` (None when it does): every
    task in one burst at t = 0, or arrival times replayed from a file. (The tasks are chosen
    first, so more tasks than one burst brings the rate back: it spaces the bursts.)"""
    a = sc.arrivals
    if a.process == "trace":
        return f"Arrivals: replayed from `{a.file}`, so there is no arrival rate to set."
    if a.process == "burst" and not sc.run.duration and a.burst_size >= tasks:
        return (
            f"Arrivals: all {tasks:,} tasks at t = 0 in one burst, so there is no "
            f"arrival rate to set (more tasks than the burst's {a.burst_size:,} make more "
            "bursts, spaced by the rate)."
        )
    return None


def drives(key: str, sc: Scenario) -> bool:
    """Whether the scenario-level field ``key`` reaches the run: [service], [failures] and
    [retry] were completed into every ``[[tasks]]`` type, and [workers] into every
    ``[[pools]]`` pool, when the file was read, so a slider on them would move nothing."""
    section = key.partition(".")[0]
    if key == "run.tasks" and sc.run.duration:
        return False  # setting run.tasks would end a run.duration run at that many tasks
    if section == "arrivals":  # the shared stream, unless every type has its own arrivals
        return not sc.tasks or not all(t.arrivals for t in sc.tasks)
    if sc.tasks and section in TASK_SECTIONS and key not in DEPLOYMENT_WIDE:
        return False
    if key == "workers.concurrency" and sc.workers.autoscale_max:
        return False  # --autoscale sets the pool's processes; --concurrency is ignored
    if key.startswith("workers.autoscale_") and not sc.workers.autoscale_max:
        return False
    return not (sc.pools and section == "workers")


def workers_label(sc: Scenario, pool: str) -> str:
    """The label of ``pool``'s worker count on a page: [workers]' one where there are no
    ``[[pools]]`` (a scenario of task types without them has one pool, "workers")."""
    return f"Workers in pool {pool}" if sc.pools else "Workers"


def pool_knobs(sc: Scenario) -> tuple[Knob, ...]:
    """One worker-count slider per ``[[pools]]`` pool, in place of [workers]' one."""
    return tuple(
        Knob(
            f"pools.{p.name}.count",
            workers_label(sc, p.name),
            f"workers-{p.name}",
            64,
            declared="workers.count",
        )
        for p in sc.pools
    )


def set_in_tables(base: Scenario, heading: str) -> str | None:
    """What a heading's hidden sliders would have set, said where the scenario sets it."""
    if heading == "Load" and base.tasks:
        means = ", ".join(f"{t.name} {seconds(service_mean(t.service))}" for t in base.tasks)
        return f"Service: each task type's own, set in its [[tasks]] table (mean {means})"
    if heading == "Load" and base.service.dist not in MEAN_DRIVEN:
        # uniform bounds or an empirical sample: a mean slider would drive nothing
        return (
            f"Service: {base.service.dist}, mean {seconds(service_mean(base.service))} "
            "(set by the scenario's TOML)"
        )
    if heading == "Load" and base.run.duration:
        return f"Run: {base.run.duration:g} s of arrivals (run.duration, set by the scenario)"
    if heading == "Workers" and base.pools:
        each = ", ".join(
            f"{p.name} concurrency {p.workers.concurrency}, prefetch "
            f"{p.workers.prefetch_multiplier}"
            for p in base.pools
        )
        return f"Each pool's other [workers] fields are set in its [[pools]] table: {each}"
    if heading == "Workers" and base.workers.node_autoscaled:
        w = base.workers
        return (
            f"Workers is the node count a run starts with: the node autoscaler then keeps "
            f"{w.min_nodes} to {w.max_nodes} nodes as the queue moves"
        )
    if heading == "Failures and retries" and base.tasks:
        return "Failures and retries: each task type's own, set in its [[tasks]] table"
    return None


MAX = "workers.autoscale_max"


def widget_prefix(base: Scenario, page: str) -> str:
    """The start of a scenario's slider keys on ``page``: a shipped scenario's name, so a shared
    link keeps its sliders; a pasted or uploaded one's name and a digest of its values, since
    every unnamed paste has one name and an edited paste keeps its own."""
    if shipped_scenarios().get(base.name) == base:
        return f"{page}-{base.name}"
    return f"{page}-{base.name}-{hashlib.sha256(repr(base).encode()).hexdigest()[:12]}"


def cache_key(sc: Scenario) -> str:
    """``sc`` as TOML text, the key of a page's cached run of it, with each data file it names
    stamped as its load read it, in comments that ``scenario.loads`` skips: keyed by the text
    alone, which names a file by its path, an edited CSV ran its old numbers until the app's
    server was restarted."""
    stamped = "".join(f"# {path!r}: {at}\n" for path, at in data_files.stamps(sc))
    return scenario.dumps(sc) + stamped


def tune(base: Scenario, key: str = "explore") -> Scenario | None:
    """Sliders for the knobs that drive this scenario; returns the scenario with them applied,
    or None (with an error shown) when together they break one of its rules. A knob that would
    move nothing (see ``drives``) is left out and its heading says where the scenario sets that
    instead.

    The widget keys carry the scenario (``widget_prefix``), so choosing another scenario, or
    editing a pasted one, starts its sliders from that scenario's own values.
    """
    key = widget_prefix(base, key)
    changes: dict[str, Any] = {}
    for heading, knobs in KNOBS.items():
        st.sidebar.markdown(f"**{heading}**")
        shown = [k for k in knobs if base.service.dist in k.dists and drives(k.key, base)]
        if heading == "Workers":
            shown = [*pool_knobs(base), *shown]
        for knob in shown:
            tasks = changes.get("run.tasks", base.run.tasks)  # the Tasks slider comes first
            idle = idle_rate(base, tasks) if knob.key == "arrivals.rate" else None
            if idle:
                st.sidebar.caption(idle)
            else:
                changes[knob.key] = knob.show(base, key)
            if knob.key == "workers.autoscale_min" and changes[knob.key] > changes[MAX]:
                st.sidebar.caption(f"MIN above MAX: runs at MIN = MAX = {changes[MAX]}")
                changes[knob.key] = changes[MAX]
        if said := set_in_tables(base, heading):
            st.sidebar.caption(said)
    try:
        return base.replace(**changes)
    except ScenarioError as err:  # a rule of several fields: a warm-up past fewer tasks' arrivals
        st.error(f"These settings cannot run together: {err}")
        return None
