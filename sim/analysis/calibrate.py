"""Fit the simulator's overheads to a live trace of the same scenario and draws.

The live run replayed the simulator's draws, so each execution's drawn service time is known
exactly; what the trace adds on top is overhead:

- ``overhead.record``: an execution's span (STARTED to its ending row) minus its drawn service
  time is its result-backend writes in the model (the end, and STARTED when tracked);
- ``overhead.dispatch``: for tasks that found a worker idle, the time from PENDING to STARTED
  is the broker round trip and Celery's hand-over to a pool process, which the model charges
  once per delivery. Tasks that found every slot busy are excluded: the delivered message
  counts as "found idle" when its worker had a free slot at PENDING time;
- ``overhead.handover`` (``handover_late`` under late ack): for tasks that waited for a slot,
  the time from that slot's last end to their start (``handover_gaps``), which the model
  charges between back-to-back tasks. It grows with the host's load, so the fit is this host's
  now, and it puts Celery's costs in the model (``overhead.model = "celery"``).

Dispatch and record are medians, so a few slow outliers (a worker restart, a GC pause) do not
move them. The hand-over is the mean gap: it is paid once per task by a busy slot, so its mean
sets the pool's capacity, and its spread is wide (measured: median 6-9 ms, mean 7-12 ms).

The calibrated file is the user's scenario as given with only the fitted fields set: the
``--set`` overrides that shaped the calibration run (a task count, a worker count) are not
carried into it.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sim import scenario_io
from sim.analysis.metrics import execution_spans, first_time
from sim.engine.draws import Draws
from sim.rules.states import PENDING, STARTED
from sim.scenario import Scenario
from sim.trace import Trace

MIN_HANDOVERS = 10  # back-to-back starts a hand-over is fitted from; fewer: not fitted


@dataclass(frozen=True)
class Fit:
    dispatch: float
    record: float
    executions_used: int
    tasks_used: int
    handover: float | None = None  # None: too few tasks waited for a slot to fit it
    handover_field: str = "handover"  # or "handover_late": the field of the run's ack mode
    handovers_used: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class CalibrationError(ValueError):
    """The trace has too little in it to fit from; the message says what to run instead."""


def fit_overheads(
    trace: Trace, scenario: Scenario, seed: int | None = None, time_scale: float = 1.0
) -> Fit:
    """Estimate ``overhead.dispatch`` and ``overhead.record`` from a live run at
    ``time_scale``, in wall seconds as the fields state them (the trace's scenario seconds ×
    time scale), so the calibrated scenario predicts a run at any time scale."""
    draws = Draws(scenario, seed)
    spans = execution_spans(trace)
    ids = _task_indices(trace)
    service = np.array(
        [
            draws.service(int(ids[t]), int(a))
            for t, a in zip(spans["task"], spans["attempt"], strict=True)
        ]
    )
    extra = spans["end"] - spans["start"] - service
    if len(extra) < 10:
        raise CalibrationError("fewer than 10 finished executions: run more tasks to calibrate")
    record = max(0.0, float(np.median(extra)) / scenario.results.writes_per_execution)

    pending, started = first_time(trace, PENDING), first_time(trace, STARTED)
    found_idle = _found_idle(trace, spans, pending, started, scenario.workers.concurrency)
    lag = (started - pending)[found_idle]
    if len(lag) < 5:
        raise CalibrationError(
            "too few tasks found an idle worker: calibrate at a lower arrival "
            "rate or with more workers"
        )
    dispatch = max(0.0, float(np.median(lag)))
    first = spans["attempt"] == 0  # a retry's message waits out its countdown: not ready
    ready = np.where(first, pending[spans["task"]], np.nan)
    gaps = handover_gaps(spans["worker"], spans["start"], spans["end"], ready)
    handover = float(np.mean(gaps)) * time_scale if len(gaps) >= MIN_HANDOVERS else None
    return Fit(
        dispatch * time_scale,
        record * time_scale,
        len(extra),
        int(len(lag)),
        handover,
        "handover_late" if scenario.ack.late else "handover",
        len(gaps),
    )


def handover_gaps(
    node: np.ndarray, start: np.ndarray, end: np.ndarray, ready: np.ndarray
) -> np.ndarray:
    """Per execution that waited for a slot, the time from that slot's end to its start:
    Celery's hand-over (result back, ack, the next job to the pool process).

    Per execution its ``node``, ``start``, ``end`` and when its message was ready (NaN:
    unknown, never a wait). Neither a trace nor Celery's events name a node's slots, so each
    node's ends are matched to its starts first in, first out: with hand-overs of about one
    length, the slot that freed first starts again first. A start whose message came after
    its matched end found that slot idle, and gives no gap."""
    gaps = []
    for n in np.unique(node):
        mine = node == n
        ends = np.sort(end[mine])
        order = np.argsort(start[mine], kind="stable")
        free: deque[float] = deque()
        taken = 0
        for s, r in zip(start[mine][order].tolist(), ready[mine][order].tolist(), strict=True):
            while taken < len(ends) and ends[taken] <= s:
                free.append(float(ends[taken]))
                taken += 1
            if not free:
                continue  # a slot idle since the node began
            freed = free.popleft()
            if r <= freed:
                gaps.append(s - freed)
    return np.array(gaps)


def calibrated_text(scenario: str | Path, fit: Fit, out: Path, how: str) -> str:
    """TOML for ``out``: the tables of the ``scenario`` file with the fitted overheads set, its
    data files still found from ``out``'s folder; ``how`` says what run they were fitted on."""
    tables = scenario_io.read_toml(scenario)
    for table in scenario_io.tables_in(tables):
        if table.get("file"):
            table["file"] = os.path.relpath(Path(table["file"]).resolve(), out.resolve().parent)
    overhead = tables.setdefault("overhead", {})
    overhead.update(dispatch=fit.dispatch, record=fit.record)
    fitted = "overhead.dispatch and overhead.record"
    if fit.handover is not None:
        overhead.update({"model": "celery", fit.handover_field: fit.handover})
        fitted = f"overhead.dispatch, overhead.record and overhead.{fit.handover_field}"
    return (
        f"# {scenario} with {fitted} fitted by queuelab calibrate\n"
        f"# on {how}\n\n{scenario_io.dumps(tables)}"
    )


def _task_indices(trace: Trace) -> np.ndarray:
    if trace.task_ids is None:
        return np.arange(trace.n_tasks)
    return trace.task_ids.astype(np.int64)


def _found_idle(
    trace: Trace, spans, pending: np.ndarray, started: np.ndarray, concurrency: int
) -> np.ndarray:
    """Per task: started on a worker that had a free slot when the task was submitted."""
    rows = np.flatnonzero(trace.state == STARTED)
    tasks, first = np.unique(trace.task[rows], return_index=True)
    worker = np.full(trace.n_tasks, -1)
    worker[tasks] = trace.worker[rows[first]]
    idle = np.zeros(trace.n_tasks, dtype=bool)
    for task in tasks.tolist():
        on_worker = (spans["worker"] == worker[task]) & (spans["task"] != task)
        busy = (spans["start"][on_worker] <= pending[task]) & (
            spans["end"][on_worker] > pending[task]
        )
        idle[task] = busy.sum() < concurrency and not np.isnan(started[task])
    return idle
