"""How long a live execution held its slot against a simulated one: the machine's own per-task
cost, which makes a live queue busier than the scenario it runs."""

from __future__ import annotations

import dataclasses

import numpy as np

from sim.analysis.metrics import execution_spans, queue_length
from sim.analysis.wait_split import wait_split
from sim.trace import Trace

STRETCHED = 1.25  # live slots held this many times as long as simulated: another queue
BACKLOG_ENDS = 20  # executions ending while tasks queued, fewer of which say nothing


def held_slot(trace: Trace, slots: int) -> float | None:
    """Slot-seconds each execution cost while some task waited to start: its runtime plus the
    idle gap before its slot's next task (Celery's own per-task cost, which the model leaves out
    unless ``overhead`` says). While tasks queue no slot should idle for want of work, so the
    backlog's slot-time over the executions that ended in it is that cost; None with fewer than
    ``BACKLOG_ENDS`` such executions."""
    t, level = queue_length(trace)
    if len(t) < 2:
        return None
    backlog = level[:-1] > 0  # level[i] holds from t[i] until t[i + 1]
    ends = execution_spans(trace)["end"]
    step = np.searchsorted(t, ends, side="left") - 1  # the end that starts the last queued
    # task closes its backlog at that very time: it belongs to the backlog it ends
    inside = (step >= 0) & (step < len(backlog))
    n = int(backlog[step[inside]].sum())
    if n < BACKLOG_ENDS:
        return None
    return float(slots * np.diff(t)[backlog].sum() / n)


def same_tasks(simulated: Trace, live: Trace) -> Trace:
    """The simulated run's rows of the tasks the live run sent, its first ``live.n_tasks`` (a
    producer sends in task order): a run stopped before its last send, set against the whole
    simulated run, was its first tasks against all of them, and on the same draws mmc's first
    20 of 100 read 1.34× as long held."""
    sent, keep = live.n_tasks, simulated.task < live.n_tasks
    columns = {c: getattr(simulated, c)[keep] for c in ("task", "attempt", "state", "t", "worker")}
    type_of = None if simulated.type_of is None else simulated.type_of[:sent]  # as the collector's
    return dataclasses.replace(simulated, type_of=type_of, **columns)


def slot_stretch(live: Trace, simulated: Trace, slots: int) -> float | None:
    """How many times as long a live execution held its slot as a simulated one of the same
    tasks (``same_tasks``): while tasks queued where both runs had such a backlog, else by mean
    runtime (None without executions). Above ``STRETCHED`` the machine's own per-task cost
    (Celery's, at a small time scale or on a busy host) made the live queue busier than the one
    simulated: its waits are not the scenario's."""
    simulated = same_tasks(simulated, live)
    held = held_slot(live, slots), held_slot(simulated, slots)
    if None not in held:
        return held[0] / held[1] if held[1] > 0 else None
    live_runs, simulated_runs = (wait_split(trace)["runtime"] for trace in (live, simulated))
    if not len(live_runs) or not len(simulated_runs) or simulated_runs.mean() <= 0:
        return None
    return float(live_runs.mean() / simulated_runs.mean())
