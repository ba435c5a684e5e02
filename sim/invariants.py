"""What every trace must satisfy, whichever engine wrote it: the checker behind ``queuelab check``.

Per task: submitted once (PENDING first); every STARTED follows a RECEIVED of the same attempt on
the same worker, and every RETRY/SUCCESS/FAILURE ends a STARTED; attempt ``k > 0`` only after a
RETRY of attempt ``k − 1``; one terminal state, last. A redelivered message (visibility timeout or
a dead worker) repeats RECEIVED/STARTED with the same attempt, and then a task may really run
twice and end twice, as Celery does: such duplicates are counted, not called illegal — but a
redelivery must come at least a visibility timeout after the delivery before it. Given the
scenario, also: at most ``max_retries + 1`` attempts, each retry starts no earlier than its drawn
countdown after the RETRY, and no task is lost under late acknowledgement. Globally: time never
runs backwards, and Little's law holds on a complete run.

A lost task (submitted, never terminal) is reported in every ack mode, but is a violation only
under late ack: with early ack Celery acks before running, so a worker that dies mid-task loses
it, as documented. ``mismatch`` first says whether a trace can come from the scenario at all:
a trace checked against the wrong scenario breaks rules for reasons that are not bugs.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from sim.draws import Draws
from sim.metrics import last_terminal, latest_rows, lost_tasks, step_counts
from sim.scenario import Scenario
from sim.states import NAMES, PENDING, RECEIVED, RETRY, STARTED, legal_next
from sim.trace import Trace

# Slack for clocks: live timestamps come from different processes.
TIME_SLACK = 1e-6
LITTLE_TOLERANCE = 0.02  # relative gap allowed between L and λW on a complete run


@dataclass(frozen=True)
class Violation:
    rule: str
    task_id: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: task {self.task_id}: {self.detail}"


@dataclass
class Report:
    """The violations found, plus the duplicates and losses Celery is allowed to produce."""

    violations: list[Violation] = field(default_factory=list)
    duplicate_terminals: int = 0
    redeliveries: int = 0
    lost: list[str] = field(default_factory=list)  # ids of tasks submitted, never terminal

    @property
    def ok(self) -> bool:
        return not self.violations

    def rules(self) -> set[str]:
        return {v.rule for v in self.violations}


def check(
    trace: Trace,
    scenario: Scenario | None = None,
    seed: int | None = None,
    slack: float = TIME_SLACK,
    complete: bool = True,
) -> Report:
    """Check ``trace``; with its ``scenario`` (and seed) also the scenario-specific rules.

    ``complete=False`` checks a run still in progress: unfinished tasks are not called lost.
    """
    report = Report()
    if len(trace) and (np.any(np.diff(trace.t) < -slack) or trace.t.min() < -slack):
        bad = int(np.argmax(np.diff(trace.t) < -slack)) + 1 if len(trace) > 1 else 0
        report.violations.append(
            Violation(
                "time-order", _task_id(trace, int(trace.task[bad])), f"row {bad} goes back in time"
            )
        )
    delays = _retry_delays(trace, scenario, seed)
    order = np.argsort(trace.task, kind="stable")
    bounds = np.flatnonzero(np.diff(trace.task[order])) + 1
    columns = [c[order].tolist() for c in (trace.attempt, trace.state, trace.t, trace.worker)]
    start = 0
    for end in [*bounds.tolist(), len(order)] if len(order) else []:
        task = int(trace.task[order[start]])
        rows = list(zip(*(c[start:end] for c in columns), strict=True))
        _check_task(
            report, _task_id(trace, task), rows, scenario, delays(task) if delays else None, slack
        )
        start = end
    if complete:
        lost = (task_id for ids in lost_tasks(trace).values() for task_id in ids)
        report.lost = sorted(lost, key=_id_order)
        if scenario is not None and scenario.ack.late:
            report.violations += [
                Violation(
                    "lost-under-late-ack", _task_id(trace, task), "never reached a terminal state"
                )
                for task in _lost_after_receipt(trace, scenario).tolist()
            ]
    gap = littles_law_gap(trace) if complete else None
    if gap is not None and gap > LITTLE_TOLERANCE:
        report.violations.append(
            Violation(
                "littles-law", "*", f"L and λW differ by {gap:.1%} (> {LITTLE_TOLERANCE:.0%})"
            )
        )
    return report


def _lost_after_receipt(trace: Trace, scenario: Scenario) -> np.ndarray:
    """Tasks that never ended, less those a killed node may have taken with it.

    A node killed while its BRPOP waited keeps its connection for ``kill_linger`` and Redis
    hands that BRPOP the next message it gets, whether newly published (the task's latest row
    is then PENDING or RETRY) or restored after a visibility timeout (its latest row is then at
    least a timeout before the run's end). Late ack promises at-least-once for the rest.
    """
    _, end_state = last_terminal(trace)
    lost = end_state < 0
    f = scenario.failures
    if f.crash_probability > 0 and f.crash_kind == "node" and scenario.workers.kill_linger > 0:
        last = latest_rows(trace)
        published = np.isin(trace.state[last], [PENDING, RETRY])
        restored = trace.t[last] + scenario.ack.visibility_timeout <= trace.t.max()
        lost[trace.task[last[published | restored]]] = False
    return np.flatnonzero(lost)


def _check_task(
    report: Report, task_id: str, rows: list[tuple], scenario: Scenario | None, delay, slack: float
) -> None:
    def bad(rule: str, detail: str) -> None:
        report.violations.append(Violation(rule, task_id, detail))

    waiting: Counter = Counter()  # (attempt, worker) received, not yet started
    running: Counter = Counter()  # (attempt, worker) started, not yet ended
    last_received: dict[int, float] = {}
    received: Counter = Counter()  # attempt → RECEIVED rows
    retried_at: dict[int, float] = {}  # attempt → its first RETRY
    retries: Counter = Counter()  # attempt → RETRY rows: each duplicate run publishes its own retry
    terminals = 0
    redelivered = False
    previous = None
    for attempt, state, t, worker in rows:
        key = (attempt, worker)
        if state == RECEIVED:
            if attempt > 0 and attempt - 1 not in retried_at:
                bad(
                    "attempt-after-retry",
                    f"attempt {attempt} without a RETRY of attempt {attempt - 1}",
                )
            received[attempt] += 1
            if received[attempt] > (retries[attempt - 1] if attempt else 1):
                redelivered = True
                report.redeliveries += 1
                timeout = redelivery_delay(scenario)
                one_message = attempt == 0 or retries[attempt - 1] == 1
                if one_message and t < last_received[attempt] + timeout * (1 - 1e-9) - slack:
                    bad(
                        "redelivery-before-timeout",
                        f"attempt {attempt} received again {t - last_received[attempt]:.3f}s after "
                        f"the last delivery, before the visibility timeout {timeout:g}s",
                    )
            last_received[attempt] = t
            waiting[key] += 1
        elif state == STARTED:
            if waiting[key] <= 0:
                bad(
                    "started-without-received",
                    f"attempt {attempt} STARTED on a worker that did not receive it",
                )
            waiting[key] -= 1
            running[key] += 1
            if delay is not None and attempt > 0 and attempt - 1 in retried_at:
                due = retried_at[attempt - 1] + delay(attempt - 1)
                if t < due - slack:
                    bad(
                        "retry-before-countdown",
                        f"attempt {attempt} STARTED at {t:.6f}, before countdown end {due:.6f}",
                    )
        elif state != PENDING:
            if running[key] <= 0:
                bad(
                    "ended-without-start",
                    f"{NAMES[state]} of attempt {attempt} that never STARTED there",
                )
            running[key] -= 1
            if state == RETRY:
                retried_at.setdefault(attempt, t)
                retries[attempt] += 1
            else:
                terminals += 1
        # interleaved copies of a redelivered message are checked by the counters above
        if not redelivered and state not in legal_next(previous):
            was = NAMES[previous] if previous is not None else "nothing"
            bad("transition", f"{was} → {NAMES[state]} (attempt {attempt})")
        previous = state
    if terminals > 1 and redelivered:
        report.duplicate_terminals += terminals - 1
    if scenario is not None:
        attempts = max(r[0] for r in rows) + 1
        if attempts > scenario.retry.max_retries + 1:
            bad(
                "max-retries",
                f"{attempts} attempts > max_retries + 1 = {scenario.retry.max_retries + 1}",
            )


def redelivery_delay(scenario: Scenario | None) -> float:
    """The least time between two deliveries of one message: the visibility timeout, or none
    when a lost pool child's task is requeued at once (late ack + reject_on_worker_lost) or a
    deploy's warm shutdown gives reserved messages back."""
    if scenario is None:
        return 0.0
    requeues = scenario.workers.deploy_every > 0 or (
        scenario.failures.crash_kind == "child"
        and scenario.ack.late
        and scenario.ack.reject_on_worker_lost
    )
    return 0.0 if requeues else scenario.ack.visibility_timeout


def _retry_delays(trace: Trace, scenario: Scenario | None, seed: int | None):
    """Per task index, a function attempt → drawn countdown; None when it cannot be known.

    Needs the scenario and task ids that are task indices (as both engines write them).
    """
    if (
        scenario is None
        or trace.task_ids is not None
        and not all(s.isdigit() for s in trace.task_ids.tolist())
    ):
        return None
    draws = Draws(scenario, seed)
    index = np.arange(trace.n_tasks) if trace.task_ids is None else trace.task_ids.astype(np.int64)

    # a retry after a lost pool child waits default_retry_delay, not the drawn backoff
    lost_retry = scenario.failures.crash_kind == "child" and scenario.retry.on_worker_lost
    floor = scenario.retry.countdown if lost_retry else float("inf")

    def for_task(task: int):
        n = int(index[task])
        return lambda attempt: min(draws.countdown(n, attempt), floor)

    return for_task if len(index) == 0 or index.max() < draws.n_tasks else None


def littles_law_gap(trace: Trace) -> float | None:
    """Relative gap between L (time-average tasks in system, integrated step by step) and λW.

    None when the run is too short to say (under 1000 tasks) or left tasks unfinished, where
    Little's law does not apply to the window.
    """
    pending = np.flatnonzero(trace.state == PENDING)
    end, _ = last_terminal(trace)
    if len(pending) < 1000 or np.isnan(end).any():
        return None
    start = np.full(trace.n_tasks, np.nan)
    start[trace.task[pending]] = trace.t[pending]
    times, in_system = step_counts(start, end)
    horizon = times.max() - times.min()
    l_mean = float((in_system[:-1] * np.diff(times)).sum() / horizon)
    lam = len(start) / horizon
    w_mean = float((end - start).mean())
    return abs(l_mean - lam * w_mean) / max(lam * w_mean, 1e-12)


def mismatch(trace: Trace, scenario: Scenario, seed: int | None = None) -> str | None:
    """Why ``trace`` cannot be a run of ``scenario`` with ``seed``, or None when it can be.

    Both engines submit every task of the scenario with its index as id and name the run's own
    workers w1…wN (workers that joined a live run from elsewhere have other names).
    """
    n_tasks = Draws(scenario, seed).n_tasks
    if trace.n_tasks != n_tasks:
        return f"the trace holds {trace.n_tasks} tasks, the scenario submits {n_tasks}"
    ids = trace.task_ids
    if ids is not None and all(s.isdigit() for s in ids.tolist()):
        past = [s for s in ids.tolist() if int(s) >= n_tasks]
        if past:
            return f"task {past[0]} is past the scenario's task indices 0…{n_tasks - 1}"
    count = scenario.workers.count
    for name in trace.workers:
        own = re.fullmatch(r"w(\d+)", name)
        if own and not 1 <= int(own[1]) <= count:
            return f"worker {name} is not one of the scenario's {count} workers w1…w{count}"
    return None


def _id_order(task_id: str) -> tuple[int, int, str]:
    """Task indices in number order (9 before 10), other ids after them as text."""
    return (0, int(task_id), "") if task_id.isdigit() else (1, 0, task_id)


def _task_id(trace: Trace, task: int) -> str:
    return str(trace.task_ids[task]) if trace.task_ids is not None else str(task)
