"""Explore's "Autoscale or a fixed pool?" section: a scenario whose pool autoscales, run again on
the same arrivals (same seed) as a fixed pool at its MAX and with other keepalives, p95 against
what each pays in worker-seconds, and its pool processes over time against the queue."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from sim import scenario
from sim.analysis.cost import processes_over_time
from sim.analysis.metrics import queue_length
from sim.analysis.runs import summarize
from sim.engine.model import simulate
from sim.scenario import Scenario, ScenarioError
from sim.trace import Trace
from ui import charts
from ui.scenario_input import parse
from ui.widgets import Progress, download_figure, progress_bar, share

KEEPALIVES = (10.0, 30.0, 120.0)  # s: reacting fast, Celery's default, holding on


def autoscales(sc: Scenario) -> bool:
    """Some pool of ``sc`` runs ``--autoscale`` (autoscale_max > 0)."""
    return any(p.workers.autoscale_max > 0 for p in sc.worker_pools)


def policies(sc: Scenario) -> dict[str, dict[str, float]]:
    """The pools compared, each a name and the [workers] fields it changes: the fixed pool at
    the autoscale MAX (``--concurrency MAX``), then ``--autoscale MAX,MIN`` at each of
    ``KEEPALIVES`` and the scenario's own keepalive."""
    w = sc.workers
    top, low = w.autoscale_max, w.autoscale_min
    fixed = {"workers.autoscale_max": 0, "workers.autoscale_min": 0, "workers.concurrency": top}
    scaled = {
        f"--autoscale {top},{low}, keepalive {k:g} s": {"workers.autoscale_keepalive": k}
        for k in sorted({*KEEPALIVES, w.autoscale_keepalive})
    }
    return {f"fixed --concurrency {top}": fixed, **scaled}


@st.cache_data(show_spinner=False, max_entries=16)
def compare(text: str, _progress: Progress | None = None) -> list[dict[str, object]]:
    """Each of ``policies`` run at the scenario's seed (TOML text, the cache key): a table row
    of its p95 sojourn and wait and what it paid."""
    sc = parse(text)
    plans = policies(sc)
    rows = []
    for i, (name, changes) in enumerate(plans.items()):
        at = sc.replace(**changes)
        s = summarize(simulate(at, progress=share(_progress, i, len(plans))), at)
        rows.append(
            {
                "pool": name,
                "p95 sojourn (s)": round(s.sojourn_p95, 3),
                "p95 wait (s)": round(s.wait_p95, 3),
                "worker-seconds": round(s.worker_seconds),
                "node-seconds": round(s.node_seconds),
            }
        )
    return rows


def processes_chart(sc: Scenario, trace: Trace) -> go.Figure | None:
    """The run's pool processes over time against its queue; None where no pool autoscales
    (its processes are a flat line)."""
    if not autoscales(sc):
        return None
    queued = queue_length(trace)
    end = float(queued[0][-1]) if len(queued[0]) else None
    return charts.processes_and_queue(processes_over_time(trace.capacity, end), queued)


def section(sc: Scenario, processes: go.Figure | None) -> None:
    """The table of ``policies`` and the run's processes over time. Only for a scenario that
    autoscales, so a worker-slider move of any other scenario runs nothing new here."""
    if processes is None:
        return
    st.subheader("Autoscale or a fixed pool?")
    if sc.pools:
        st.caption("Compared only for a scenario without [[pools]] (each pool scales alone).")
    else:
        try:
            with progress_bar("Running the fixed pool and the keepalives: tasks finished") as bar:
                rows = compare(scenario.dumps(sc), bar)
        except ScenarioError as err:
            st.error(f"The comparison stopped: {err}")
        else:
            st.dataframe(rows, hide_index=True)
            st.caption(
                f"The same arrivals (seed {sc.seed}) for each pool; "
                "worker-seconds: pool processes of up nodes × time, what the pool pays for."
            )
    st.plotly_chart(processes, key="processes")
    download_figure(processes, "processes")
