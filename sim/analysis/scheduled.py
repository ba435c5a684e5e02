"""Which reserved messages are scheduled: a retry a worker holds until its countdown is over
(Flower's "Scheduled"), apart from the messages it prefetched that wait for a free slot (its
"Reserved").

Celery publishes a retry at once with an ETA, and a worker takes it and holds it in memory until
then. The trace records that RECEIVED, not the ETA; the run's draws give it: the retry of
attempt ``a`` is due its countdown after its RETRY row, the countdown the draws give that
attempt (``Draws.countdown``), or ``default_retry_delay`` (``retry.lost_child_countdown``) when
that attempt's execution died in a child crash (drawn, and before its time limit: one drawn
after it raised SoftTimeLimitExceeded first). Both engines publish the retry with that very
countdown (the live task stamps its RETRY row just before ``Task.retry`` publishes it), so one
rule reads a simulated and a live trace, and no trace needs a column more.
"""

from __future__ import annotations

import numpy as np

from sim.analysis.metrics import latest_rows
from sim.engine.draws import Draws
from sim.rules import fate
from sim.rules.limits import dies_first, time_limited
from sim.rules.retry import lost_child_countdown
from sim.rules.states import RECEIVED, RETRY, STARTED
from sim.scenario import Scenario
from sim.trace import Trace


def scheduled(trace: Trace, scenario: Scenario, seed: int | None = None) -> np.ndarray:
    """Per task index, whether its message is held for a retry's countdown now (at the
    trace's latest event): its latest row is the RECEIVED of a retried attempt not yet due.
    All False where the trace's task ids are not its run's task numbers (a file's own ids)."""
    held = np.zeros(trace.n_tasks, bool)
    numbers = trace.task_numbers()
    if not len(trace) or numbers is None:
        return held
    latest = latest_rows(trace)
    latest = latest[(trace.state[latest] == RECEIVED) & (trace.attempt[latest] > 0)]
    if not len(latest):
        return held
    draws, now = Draws(scenario, seed), float(trace.t.max())
    retried = {int(trace.task[r]): int(trace.attempt[r]) - 1 for r in latest.tolist()}
    rows = np.flatnonzero(np.isin(trace.task, list(retried)) & (trace.state != RECEIVED))
    for task, attempt in retried.items():
        mine = rows[(trace.task[rows] == task) & (trace.attempt[rows] == attempt)]
        retries = mine[trace.state[mine] == RETRY]
        if not len(retries):
            continue  # its RETRY row not read yet (live): not known to be held
        at = retries[-1]
        execution = int(np.count_nonzero(trace.state[mine[mine < at]] == STARTED)) - 1
        due = float(trace.t[at]) + countdown(draws, int(numbers[task]), attempt, execution)
        held[task] = now < due
    return held


def countdown(draws: Draws, task: int, attempt: int, execution: int) -> float:
    """The countdown the retry of ``attempt`` of ``task`` (its number in the run) waited, when
    execution ``execution`` of it (0 = the first) ended in that RETRY: a pool child's death
    retries after ``default_retry_delay``, a raised failure after the drawn countdown. A child
    drawn to die after its type's time limit never died: the soft limit raised first
    (``limits.dies_first``). That reads the drawn work, as a live task runs it; a simulated
    node with fewer ``workers.cores`` than busy slots stretches an execution's work, and so its
    drawn death, past the limit where the draws put it before, which this does not see."""
    kind = draws.task_type(task)
    died = False
    if draws.scenario.failures.crash_kind == "child" and execution >= 0:
        plan = fate.work(draws, task, attempt, execution)
        cut, _ = time_limited(plan.service, kind.soft_time_limit, kind.time_limit)
        died = plan.crash_at is not None and dies_first(plan.service, plan.crash_at, cut)
    return lost_child_countdown(kind.retry) if died else draws.countdown(task, attempt)
