"""Little's law on a run so far: L measured beside λ·W, which meet once every task has ended."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.analysis.metrics import step_counts
from sim.analysis.monitor import TaskTimes, now
from sim.trace import Trace


@dataclass(frozen=True)
class Little:
    """Little's law on the run so far: L measured beside λ·W."""

    arrival_rate: float  # λ: tasks sent per second of the run so far
    sojourn_mean: float  # W: mean sojourn of the finished
    in_system_mean: float  # L: time-average of tasks sent and not yet ended

    @property
    def predicted(self) -> float:
        """λ·W, which L equals on a complete run of a stable queue."""
        return self.arrival_rate * self.sojourn_mean


def little(trace: Trace, times: TaskTimes) -> Little:
    """λ, W and L of the run so far: an open task counts in L until now and not in W, so the two
    sides meet once every task has ended."""
    span = now(trace)
    sent = times.sent[~np.isnan(times.sent)]
    done = ~np.isnan(times.finished)
    if span <= 0 or not done.any():
        return Little(0.0, 0.0, 0.0)
    t, level = step_counts(sent, times.finished[done])
    area = float((level[:-1] * np.diff(t)).sum() + level[-1] * (span - t[-1]))
    sojourn = times.finished[done] - times.sent[done]
    return Little(len(sent) / span, float(sojourn.mean()), area / span)
