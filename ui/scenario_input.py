"""Choosing a scenario in the app: a shipped one, an uploaded one or pasted TOML, then sliders."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from sim import scenario
from sim.distributions import service_mean
from sim.scenario import Scenario, ScenarioError

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def shipped() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SCENARIOS.glob("*.toml"))}


def parse(text: str) -> Scenario:
    """A scenario from TOML text; ScenarioError with the field and range when it is not valid.
    The CLI's own reader, so a file the CLI runs (a lesson too) runs here."""
    return scenario.loads(text)


def pick(key: str = "explore") -> Scenario | None:
    """Sidebar widgets that choose a base scenario; None (with an error shown) when invalid."""
    files = shipped()
    source = st.sidebar.radio("Scenario source", ["shipped", "upload or paste"], key=f"{key}-src")
    if source == "shipped":
        name = st.sidebar.selectbox(
            "Scenario",
            list(files),
            key=f"{key}-name",
            index=list(files).index("mmc") if "mmc" in files else 0,
        )
        return scenario.load(files[name])
    uploaded = st.sidebar.file_uploader("Scenario file (.toml)", type=["toml"], key=f"{key}-file")
    if uploaded is not None:
        text = uploaded.getvalue().decode("utf-8", "replace")
    else:
        text = st.sidebar.text_area(
            "…or paste TOML", "[workers]\ncount = 8\n", key=f"{key}-toml", height=160
        )
    try:
        return parse(text)
    except ScenarioError as err:
        st.error(f"This scenario is not valid: {err}")
        return None


TASK_CHOICES = (1000, 2000, 5000, 10000, 20000, 50000, 100000)
MEAN_DRIVEN = ("exponential", "lognormal", "constant")  # service dists a mean alone sets


def tune(base: Scenario, key: str = "explore") -> Scenario:
    """Sliders for the knobs that matter; returns the scenario with them applied.

    The widget keys carry the scenario's name, so choosing another scenario starts its sliders
    from that scenario's own values.
    """
    s = st.sidebar
    key = f"{key}-{base.name}"
    s.markdown("**Load**")
    tasks = s.select_slider(
        "Tasks",
        sorted({*TASK_CHOICES, base.run.tasks}),  # the scenario's own count is always a stop
        value=base.run.tasks,
        key=f"{key}-tasks",
    )
    rate = s.slider(
        "Arrival rate (tasks/s)",
        0.1,
        100.0,
        float(min(base.arrivals.rate, 100.0)),
        0.1,
        key=f"{key}-rate",
    )
    changes: dict = {}
    if base.service.dist in MEAN_DRIVEN:
        changes["service.mean"] = s.slider(
            "Service mean (s)",
            0.05,
            10.0,
            float(min(base.service.mean, 10.0)),
            0.05,
            key=f"{key}-mean",
        )
    else:  # uniform bounds or an empirical sample: a mean slider would drive nothing
        s.caption(
            f"Service: {base.service.dist}, mean {service_mean(base.service):.3g} s "
            "(set by the scenario's TOML)"
        )
    if base.service.dist == "lognormal":
        changes["service.cv"] = s.slider(
            "Service spread (cv, lognormal)",
            0.1,
            5.0,
            float(min(base.service.cv, 5.0)),
            0.1,
            key=f"{key}-cv",
        )
    s.markdown("**Workers**")
    workers = s.slider("Workers", 1, 64, min(base.workers.count, 64), key=f"{key}-workers")
    concurrency = s.slider(
        "Concurrency per worker", 1, 16, min(base.workers.concurrency, 16), key=f"{key}-conc"
    )
    prefetch = s.slider(
        "Prefetch multiplier",
        0,
        16,
        min(base.workers.prefetch_multiplier, 16),
        key=f"{key}-prefetch",
        help="0 = no limit",
    )
    cores = s.slider(
        "CPU cores per worker machine",
        0,
        64,
        min(base.workers.cores, 64),
        key=f"{key}-cores",
        help="0 = a core per slot; fewer cores than busy slots slow every task down",
    )
    late = s.checkbox("acks_late", base.ack.late, key=f"{key}-late")
    s.markdown("**Failures and retries**")
    failure = s.slider(
        "Failure probability",
        0.0,
        0.9,
        float(min(base.failures.probability, 0.9)),
        0.01,
        key=f"{key}-fail",
    )
    max_retries = s.slider(
        "max_retries", 0, 10, min(base.retry.max_retries, 10), key=f"{key}-retries"
    )
    backoff = s.slider(
        "retry_backoff (s, 0 = countdown)",
        0.0,
        60.0,
        float(min(base.retry.backoff, 60.0)),
        0.5,
        key=f"{key}-backoff",
    )
    changes |= {
        "run.tasks": tasks,
        "arrivals.rate": rate,
        "workers.count": workers,
        "workers.concurrency": concurrency,
        "workers.prefetch_multiplier": prefetch,
        "workers.cores": cores,
        "ack.late": late,
        "failures.probability": failure,
        "retry.max_retries": max_retries,
        "retry.backoff": backoff,
    }
    return base.replace(**changes)
