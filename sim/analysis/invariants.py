"""What every trace must satisfy, whichever engine wrote it: the checker behind ``queuelab check``.

Per task: submitted once (PENDING first); every STARTED follows a RECEIVED of the same attempt on
the same worker, and every RETRY/SUCCESS/FAILURE ends a STARTED; attempt ``k > 0`` only after a
RETRY of attempt ``k − 1``; one terminal state, last. A redelivered message (visibility timeout or
a dead worker) repeats RECEIVED/STARTED with the same attempt, and then a task may really run
twice and end twice, as Celery does: such duplicates are counted, not called illegal — but a
redelivery must come at least a visibility timeout after the delivery before it. Given the
scenario, also: at most ``max_retries + 1`` attempts, each retry starts no earlier than its drawn
countdown after the RETRY, and no task is lost under late acknowledgement (one retried for ever
and still retrying when the run ended is not lost). Globally: time never runs backwards, and
Little's law holds on a complete run.

A lost task (submitted, never terminal) is reported in every ack mode, but is a violation only
under late ack: with early ack Celery acks before running, so a worker that dies mid-task loses
it, as documented. ``mismatch`` first says whether a trace can come from the scenario at all:
a trace checked against the wrong scenario breaks rules for reasons that are not bugs.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sim import costs
from sim.analysis import runs
from sim.analysis.metrics import last_terminal, latest_rows, lost_tasks, step_counts
from sim.engine.draws import Draws
from sim.rules import ack, retry
from sim.rules.states import NAMES, PENDING, RECEIVED, RETRY, STARTED, legal_next
from sim.scenario import Scenario
from sim.trace import ONE_TYPE, Trace
from sim.words import counted

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
    max_retries = _max_retries(trace, scenario)
    redelivery = redelivery_delay(scenario) - _delivery_slack(trace, scenario, seed)
    order = np.argsort(trace.task, kind="stable")
    bounds = np.flatnonzero(np.diff(trace.task[order])) + 1
    columns = [c[order].tolist() for c in (trace.attempt, trace.state, trace.t, trace.worker)]
    start = 0
    for end in [*bounds.tolist(), len(order)] if len(order) else []:
        task = int(trace.task[order[start]])
        rows = list(zip(*(c[start:end] for c in columns), strict=True))
        delay = delays(task) if delays else None
        retries = max_retries(task) if max_retries else None
        task_id = _task_id(trace, task)
        _TaskCheck(report, task_id, scenario, retries, delay, slack, redelivery).check(rows)
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
    """Tasks that never ended, less those still retrying (``_retrying_for_ever``) and those a
    killed node may have taken with it.

    A node killed while its BRPOP waited keeps its connection for ``kill_linger`` and Redis
    hands that BRPOP the next message it gets, whether newly published (the task's latest row
    is then PENDING or RETRY) or restored after a visibility timeout (its latest row is then at
    least a timeout before the run's end). Late ack promises at-least-once for the rest.
    """
    _, end_state = last_terminal(trace)
    lost = (end_state < 0) & ~_retrying_for_ever(trace, scenario)
    f = scenario.failures
    lingers = any(p.workers.kill_linger > 0 for p in scenario.worker_pools)
    if f.crash_probability > 0 and f.crash_kind == "node" and lingers:
        last = latest_rows(trace)
        published = np.isin(trace.state[last], [PENDING, RETRY])
        restored = trace.t[last] + scenario.ack.visibility_timeout <= trace.t.max()
        lost[trace.task[last[published | restored]]] = False
    return np.flatnonzero(lost)


def _retrying_for_ever(trace: Trace, scenario: Scenario) -> np.ndarray:
    """Per task, whether its latest row is a RETRY and its type retries for ever
    (``max_retries = inf``): Celery would run it again, so it is still retrying when the run
    ended (the simulator's after ``retry.FOLLOWED`` retries; a live one's at its drain), not
    lost."""
    of_type = np.array(_type_max_retries(trace, scenario)) == retry.FOREVER
    forever = of_type[trace.task_types()]
    last = latest_rows(trace)
    retrying = np.zeros(trace.n_tasks, bool)
    retrying[trace.task[last]] = trace.state[last] == RETRY
    return retrying & forever


class _TaskCheck:
    """One task's rows, replayed in order against the per-task rules; what it finds goes into
    the report. Copies of a redelivered message interleave, so they are tracked as counters per
    (attempt, worker) rather than as one sequence of states."""

    def __init__(
        self,
        report: Report,
        task_id: str,
        scenario: Scenario | None,
        max_retries: float | None,
        delay,
        slack: float,
        redelivery: float,
    ) -> None:
        self.report, self.task_id, self.scenario = report, task_id, scenario
        self.max_retries = max_retries  # of its task type
        self.delay, self.slack = delay, slack  # attempt → its drawn countdown; clock slack
        self.redelivery = redelivery  # least time between two RECEIVED rows of one message
        self.waiting: Counter = Counter()  # (attempt, worker) received, not yet started
        self.running: Counter = Counter()  # (attempt, worker) started, not yet ended
        self.last_received: dict[int, float] = {}
        self.received: Counter = Counter()  # attempt → RECEIVED rows
        self.retried_at: dict[int, float] = {}  # attempt → its first RETRY
        self.retries: Counter = Counter()  # attempt → RETRY rows: each duplicate run retries
        self.terminals = 0
        self.redelivered = False
        self.previous: int | None = None

    def bad(self, rule: str, detail: str) -> None:
        self.report.violations.append(Violation(rule, self.task_id, detail))

    def check(self, rows: list[tuple]) -> None:
        for attempt, state, t, worker in rows:
            if state == RECEIVED:
                self.on_received(attempt, t, worker)
            elif state == STARTED:
                self.on_started(attempt, t, worker)
            elif state != PENDING:
                self.on_ended(attempt, state, t, worker)
            self.check_transition(attempt, state)
        if self.terminals > 1 and self.redelivered:
            self.report.duplicate_terminals += self.terminals - 1
        self.check_attempts(max(r[0] for r in rows) + 1)

    def on_received(self, attempt: int, t: float, worker: int) -> None:
        """Attempt ``k > 0`` only after a RETRY of ``k − 1``; a redelivery not too soon."""
        if attempt > 0 and attempt - 1 not in self.retried_at:
            self.bad(
                "attempt-after-retry", f"attempt {attempt} without a RETRY of attempt {attempt - 1}"
            )
        self.received[attempt] += 1
        if self.received[attempt] > (self.retries[attempt - 1] if attempt else 1):
            self.redelivered = True
            self.report.redeliveries += 1
            self.check_redelivery(attempt, t)
        self.last_received[attempt] = t
        self.waiting[attempt, worker] += 1

    def check_redelivery(self, attempt: int, t: float) -> None:
        """A message delivered again comes a visibility timeout after its last delivery at the
        earliest (unless it may be given back at once); with several RETRY copies of the
        previous attempt, which delivery came before is unknown."""
        if attempt > 0 and self.retries[attempt - 1] != 1:
            return
        last = self.last_received[attempt]
        if t < last + self.redelivery * (1 - 1e-9) - self.slack:
            self.bad(
                "redelivery-before-timeout",
                f"attempt {attempt} received again {t - last:.3f}s after the last delivery, "
                f"before the visibility timeout {redelivery_delay(self.scenario):g}s",
            )

    def on_started(self, attempt: int, t: float, worker: int) -> None:
        """STARTED follows a RECEIVED on the same worker, and a retry's countdown."""
        if self.waiting[attempt, worker] <= 0:
            self.bad(
                "started-without-received",
                f"attempt {attempt} STARTED on a worker that did not receive it",
            )
        self.waiting[attempt, worker] -= 1
        self.running[attempt, worker] += 1
        if self.delay is not None and attempt > 0 and attempt - 1 in self.retried_at:
            due = self.retried_at[attempt - 1] + self.delay(attempt - 1)
            if t < due - self.slack:
                self.bad(
                    "retry-before-countdown",
                    f"attempt {attempt} STARTED at {t:.6f}, before countdown end {due:.6f}",
                )

    def on_ended(self, attempt: int, state: int, t: float, worker: int) -> None:
        """RETRY, SUCCESS and FAILURE end a STARTED on the same worker."""
        if self.running[attempt, worker] <= 0:
            self.bad(
                "ended-without-start",
                f"{NAMES[state]} of attempt {attempt} that never STARTED there",
            )
        self.running[attempt, worker] -= 1
        if state == RETRY:
            self.retried_at.setdefault(attempt, t)
            self.retries[attempt] += 1
        else:
            self.terminals += 1

    def check_transition(self, attempt: int, state: int) -> None:
        """A legal move from the previous state, until a redelivery interleaves copies (the
        counters check those)."""
        if not self.redelivered and state not in legal_next(self.previous):
            was = NAMES[self.previous] if self.previous is not None else "nothing"
            self.bad("transition", f"{was} → {NAMES[state]} (attempt {attempt})")
        self.previous = state

    def check_attempts(self, attempts: int) -> None:
        """At most ``max_retries + 1`` attempts (its task type's ``max_retries``)."""
        if self.max_retries is not None and attempts > self.max_retries + 1:
            allowed = self.max_retries + 1
            self.bad("max-retries", f"{attempts} attempts > max_retries + 1 = {allowed}")


def _max_retries(trace: Trace, scenario: Scenario | None) -> Callable[[int], float] | None:
    """Per task index, its type's ``max_retries`` (a type the scenario lacks: the scenario's)."""
    if scenario is None:
        return None
    of_type = _type_max_retries(trace, scenario)
    kinds = trace.task_types()
    return lambda task: of_type[kinds[task]]


def _type_max_retries(trace: Trace, scenario: Scenario) -> list[float]:
    """Per type of the trace, its ``max_retries`` (a type the scenario lacks: the scenario's)."""
    by_name = {t.name: t.retry.max_retries for t in scenario.task_types}
    return [by_name.get(name, scenario.retry.max_retries) for name, _ in trace.types]


def redelivery_delay(scenario: Scenario | None) -> float:
    """The least time between two deliveries of one message: the visibility timeout, or none
    when a dead pool child's task may be requeued at once (``ack.requeues_lost_child``) or a
    deploy's or a node autoscaler's warm shutdown gives reserved messages back."""
    if scenario is None:
        return 0.0
    a = scenario.ack
    shuts_down = any(
        p.workers.node_autoscaled or p.workers.deploy_every > 0 for p in scenario.worker_pools
    )
    requeues = shuts_down or (
        scenario.failures.crash_kind == "child"
        and ack.requeues_lost_child(a.late, a.reject_on_worker_lost, scenario.retry.on_worker_lost)
    )
    return 0.0 if requeues else a.visibility_timeout


def _delivery_slack(trace: Trace, scenario: Scenario | None, seed: int | None) -> float:
    """How much later than Redis handed it out a message's RECEIVED row can be beyond the
    least delivery: the Celery model's drawn delivery, or the one before it on the node, which
    it cannot pass (at most the longest drawn). A visibility timeout runs from the hand-out."""
    least, spread = costs.delivery(scenario) if scenario is not None else (0.0, 0.0)
    if not spread or not len(trace):
        return 0.0
    draws = Draws(scenario, seed)
    return (
        max(float(draws.deliveries(k).max()) for k in range(int(trace.attempt.max()) + 1)) - least
    )


def _retry_delays(trace: Trace, scenario: Scenario | None, seed: int | None):
    """Per task index, a function attempt → least countdown before its retry; None when it
    cannot be known.

    Needs the scenario and task ids that are task indices (as both engines write them).
    """
    index = trace.task_numbers()
    if scenario is None or index is None:
        return None
    draws = Draws(scenario, seed)

    def for_task(task: int):
        n = int(index[task])
        # a retry may be a lost child's, which waits its own countdown, not the drawn one
        policy = draws.task_type(n).retry
        lost = retry.retries_lost_child(policy, scenario.failures)
        floor = retry.lost_child_countdown(policy) if lost else float("inf")
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
    workers w1…wN, a node autoscaler's on from there (workers that joined a live run from
    elsewhere have other names).
    """
    n_tasks = Draws(scenario, seed).n_tasks
    if trace.n_tasks != n_tasks:
        return f"the trace holds {counted(trace.n_tasks, 'task')}, the scenario submits {n_tasks}"
    numbers = trace.task_numbers()
    if numbers is not None and (past := numbers >= n_tasks).any():
        task = trace.task_ids[int(np.argmax(past))]  # only ids read from a file can be past
        return f"task {task} is past the scenario's task indices 0…{n_tasks - 1}"
    if trace.types != ONE_TYPE and (why := _unknown_type(trace, scenario)):
        return why
    nodes = [name for name, _ in scenario.nodes]
    shapes = [re.sub(r"\d+$", "", name) for name in nodes]
    for name in trace.workers:
        added = runs.added_to(name, scenario) is not None  # by a node autoscaler
        if name not in nodes and not added and re.sub(r"\d+$", "", name) in shapes:
            count = len(nodes)
            return (
                f"worker {name} is not one of the scenario's {count} workers {nodes[0]}…{nodes[-1]}"
            )
    return None


def _unknown_type(trace: Trace, scenario: Scenario) -> str | None:
    """A task type (or its queue) of ``trace`` that ``scenario`` does not have: a type the
    scenario lacks is checked by the scenario-level rules, so a trace of another scenario, or
    one whose ``task_name`` was edited (``reprot``), passed as a run of this one. A trace of
    one type on ``celery`` (a file without those columns) is every scenario's."""
    kinds = {(t.name, t.queue) for t in scenario.task_types}
    for name, queue in trace.types:
        if (name, queue) not in kinds:
            known = ", ".join(f"{n} on {q}" for n, q in sorted(kinds))
            return f"task type {name} on queue {queue} is not one of the scenario's: {known}"
    return None


def _id_order(task_id: str) -> tuple[int, int, str]:
    """Task indices in number order (9 before 10), other ids after them as text."""
    return (0, int(task_id), "") if task_id.isdigit() else (1, 0, task_id)


def _task_id(trace: Trace, task: int) -> str:
    return str(trace.task_ids[task]) if trace.task_ids is not None else str(task)
