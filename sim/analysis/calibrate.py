"""Fit the simulator's overheads to a live trace of the same scenario and draws.

The live run replayed the simulator's draws, so each execution's drawn service time is known
exactly; what the trace adds on top is overhead:

- ``overhead.record``: an execution's span (STARTED to its ending row) minus its drawn service
  time is its result-backend writes in the model (the end, and STARTED when tracked);
- ``overhead.delivery`` and ``delivery_spread``: for tasks that found a worker idle, the time
  from PENDING to STARTED is the broker round trip and Celery's hand-over to a pool process,
  which the model charges once per delivery as a least time plus an exponential wait (measured
  so: ``delivery_fit``). Tasks that waited for a slot are excluded (``slot_waits``);
- ``overhead.handover`` (``handover_late`` under late ack): for tasks that waited for a slot,
  the time from that slot's last end to their start (``slot_waits``), which the model
  charges between back-to-back tasks. It grows with the host's load, so the fit is this host's
  now.

The delivery and the hand-over are Celery's costs, so a calibrated file has them in its model
(``overhead.model = "celery"``) and no ``overhead.dispatch`` (the delivery holds it). The
delivery comes from quantiles and record is a median, so a few slow outliers (a worker
restart, a GC pause) do not move them. The hand-over is the mean gap: it is paid once per
task by a busy slot, so its mean sets the pool's capacity, and its spread is wide (measured:
median 6-9 ms, mean 7-12 ms).

The calibrated file is the user's scenario as given with only the fitted fields set: the
``--set`` overrides that shaped the calibration run (a task count, a worker count) are not
carried into it.
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sim import scenario_io
from sim.analysis.metrics import execution_spans, first_time
from sim.engine.draws import Draws
from sim.rules.states import PENDING
from sim.scenario import Scenario
from sim.trace import Trace

MIN_IDLE = 5  # executions that found a slot idle, the delivery is fitted from
MIN_STARTS = 10  # starts a hand-over (or a recorded delivery) is measured from; fewer: not
LOW = 0.05  # the low quantile a delivery's least time is read at
EXP_LOW, EXP_MEDIAN = -math.log(1 - LOW), math.log(2)  # those quantiles of a unit exponential


@dataclass(frozen=True)
class Fit:
    delivery: float
    delivery_spread: float
    record: float
    executions_used: int
    tasks_used: int
    handover: float | None = None  # None: too few tasks waited for a slot to fit it
    handover_field: str = "handover"  # or "handover_late": the field of the run's ack mode
    handovers_used: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def fitted(self) -> dict[str, float]:
        """The scenario fields it fitted (wall seconds)."""
        fitted = {
            "overhead.delivery": self.delivery,
            "overhead.delivery_spread": self.delivery_spread,
            "overhead.record": self.record,
        }
        if self.handover is not None:
            fitted[f"overhead.{self.handover_field}"] = self.handover
        return fitted

    def describe(self) -> str:
        """The fitted costs in wall milliseconds, for a person: the delivery as its least time
        and the mean on top ("delivery 2.3 ms + 1.2 ms on average" read as two deliveries)."""
        handover = "not fitted" if self.handover is None else f"{self.handover * 1000:.1f} ms"
        return (
            f"delivery at least {self.delivery * 1000:.1f} ms and "
            f"{self.delivery_spread * 1000:.1f} ms more on average, record "
            f"{self.record * 1000:.1f} ms, hand-over {handover}"
        )

    def fields(self) -> dict[str, float | str]:
        """What a calibrated scenario sets: the fitted fields, with Celery's costs in the model
        and no dispatch on top (the fitted delivery holds it)."""
        return {"overhead.model": "celery", "overhead.dispatch": 0.0, **self.fitted()}


def delivery_fit(lags: np.ndarray) -> tuple[float, float]:
    """(least time, mean of the exponential on top) of deliveries that took ``lags``: the
    model's form, a shifted exponential, matched at its 5th percentile and median (a few slow
    outliers move neither). Measured on Celery 5.7 the form holds to the 99th percentile."""
    low, median = np.quantile(lags, [LOW, 0.5])
    spread = max(0.0, float(median - low) / (EXP_MEDIAN - EXP_LOW))
    return max(0.0, float(low) - spread * EXP_LOW), spread


class CalibrationError(ValueError):
    """The trace has too little in it to fit from; the message says what to run instead."""


def fit_overheads(
    trace: Trace, scenario: Scenario, seed: int | None = None, time_scale: float = 1.0
) -> Fit:
    """Estimate Celery's delivery, ``overhead.record`` and the hand-over from a live run at
    ``time_scale``, in wall seconds as the fields state them (the trace's scenario seconds ×
    time scale), so the calibrated scenario predicts a run at any time scale."""
    extra, gaps, lag = overheads(trace, scenario, seed)
    record = max(0.0, float(np.median(extra)) / scenario.results.writes_per_execution)
    if len(lag) < MIN_IDLE:
        raise CalibrationError(  # a 10-task live run's: it named neither the count nor tasks
            f"{len(lag)} of {len(extra)} executions found an idle worker, and the delivery is "
            f"fitted from at least {MIN_IDLE}: calibrate with more tasks (run.tasks), at a "
            "lower arrival rate or with more workers"
        )
    least, spread = delivery_fit(lag)
    handover = float(np.mean(gaps)) * time_scale if len(gaps) >= MIN_STARTS else None
    return Fit(
        least * time_scale,
        spread * time_scale,
        record * time_scale,
        len(extra),
        int(len(lag)),
        handover,
        "handover_late" if scenario.ack.late else "handover",
        len(gaps),
    )


def overheads(
    trace: Trace, scenario: Scenario, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a live run of ``scenario`` adds to its draws, in the trace's seconds: per finished
    execution, its span less its drawn service time (the record); of first attempts, the
    hand-overs of those that waited for a slot and the deliveries of those that found one idle
    (``slot_waits``)."""
    draws = Draws(scenario, seed)
    spans = execution_spans(trace)
    ids = trace.task_numbers()
    if ids is None:
        raise CalibrationError("the trace's task ids are not task numbers: fit a run queuelab made")
    service = np.array(
        [
            draws.service(int(ids[t]), int(a))
            for t, a in zip(spans["task"], spans["attempt"], strict=True)
        ]
    )
    extra = spans["end"] - spans["start"] - service
    if len(extra) < 10:
        raise CalibrationError("fewer than 10 finished executions: run more tasks to calibrate")
    pending = first_time(trace, PENDING)
    first = spans["attempt"] == 0  # a retry's message waits out its countdown: not ready
    ready = np.where(first, pending[spans["task"]], np.nan)
    gaps, lag = slot_waits(spans["worker"], spans["start"], spans["end"], ready)
    return extra, gaps[~np.isnan(gaps)], lag[~np.isnan(lag)]


def slot_waits(
    node: np.ndarray, start: np.ndarray, end: np.ndarray, ready: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per execution (NaN where it does not apply): the hand-over, from its slot's end to its
    start when its message waited for that slot (result back, ack, the next job to the pool
    process), and the dispatch, from its message being ready to its start when it found the
    slot idle (the broker's delivery and the hand to a pool process).

    Per execution its ``node``, ``start``, ``end`` and when its message was ready (NaN:
    unknown, neither). Neither a trace nor Celery's events name a node's slots, so each node's
    ends are matched to its starts first in, first out: with hand-overs of about one length,
    the slot that freed first starts again first. A start with no end before it took a slot
    idle since the node began."""
    handover, dispatch = np.full(len(start), np.nan), np.full(len(start), np.nan)
    for n in np.unique(node):
        mine = np.flatnonzero(node == n)
        ends = np.sort(end[mine])
        free: deque[float] = deque()
        taken = 0
        for i in mine[np.argsort(start[mine], kind="stable")].tolist():
            while taken < len(ends) and ends[taken] <= start[i]:
                free.append(float(ends[taken]))
                taken += 1
            freed = free.popleft() if free else -np.inf
            if ready[i] <= freed:
                handover[i] = start[i] - freed
            elif ready[i] <= start[i]:
                dispatch[i] = start[i] - ready[i]
    return handover, dispatch


# the [overhead] fields a calibrated file sets whatever the scenario's were (``Fit.fields``)
REPLACED = ("delivery", "delivery_spread", "record", "handover", "handover_late", "dispatch")


def replaced(scenario: str | Path) -> list[str]:
    """The costs the ``scenario`` file states that its calibration replaces with this host's:
    a file `queuelab record` wrote states its deployment's own nodes' costs, and calibrating it
    on queuelab's workers here made its prediction of that deployment worse."""
    overhead = scenario_io.read_toml(scenario).get("overhead", {})
    return [f"overhead.{name}" for name in REPLACED if name in overhead]


def calibrated_text(scenario: str | Path, fit: Fit, out: Path, how: str) -> str:
    """TOML for ``out``: the tables of the ``scenario`` file with the fitted overheads set, its
    data files still found from ``out``'s folder; ``how`` says what run they were fitted on.
    Its description says so in place of the file's, which may describe other costs (a textbook
    scenario's "without Celery's own per-task costs")."""
    tables = scenario_io.read_toml(scenario)
    tables["description"] = (
        f"{tables.get('name', Path(scenario).stem)} with Celery's costs fitted by queuelab "
        f"calibrate on {how}: {fit.describe()}."
    )
    for table in scenario_io.tables_in(tables):
        if table.get("file"):
            table["file"] = os.path.relpath(Path(table["file"]).resolve(), out.resolve().parent)
    overhead = tables.setdefault("overhead", {})
    fields = fit.fields()
    overhead.update({name.split(".", 1)[1]: value for name, value in fields.items()})
    fitted = ", ".join(fit.fitted())
    return (
        f"# {scenario} with {fitted} fitted by queuelab calibrate\n"
        f"# on {how}\n\n{scenario_io.dumps(tables)}"
    )
