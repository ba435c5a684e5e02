"""The collector: every recorded state change of a run, in scenario time, as a trace.

Rows come from where they happened: the producer's send times (PENDING) and the worker signals'
Redis list (RECEIVED, STARTED, RETRY, SUCCESS, FAILURE). Times become scenario seconds since the
start (``live.clock``); ties are ordered by attempt, then state.
"""

from __future__ import annotations

import redis

from live import events, joined_capacity, node_decisions
from live.capacity import Sample
from live.celery_app import LiveConfig
from live.clock import Clock
from sim.engine.draws import Draws
from sim.rules.node_autoscale import Decision
from sim.rules.states import ENDS_EXECUTION, PENDING, RECEIVED, RETRY, STARTED, TERMINAL
from sim.trace import Recorder, Trace


class RowsLost(redis.RedisError):
    """Redis holds fewer of the run's rows than were read: it restarted without its data, or
    was flushed, mid-run (rows written since, read from where the last read ended, were rows
    of the new list's: the run skipped them and ended well, exit 0, its tasks counted lost)."""


def read_events(client: redis.Redis, config: LiveConfig, start: int = 0) -> list[events.Event]:
    """Worker-side rows (task, attempt, state, wall time, worker name) from index ``start`` on;
    raises ``RowsLost`` when Redis no longer holds the ``start`` rows read before."""
    key = config.key("events")
    with client.pipeline() as pipe:  # one transaction: the length the rows are read at
        held, raw = pipe.llen(key).lrange(key, start, -1).execute()
    if held < start:
        raise RowsLost(
            f"Redis holds {held} of the run's {start} event rows read: restarted without its "
            "data, or flushed"
        )
    return [events.decode(row) for row in raw]


def finished_tasks(rows: list[tuple]) -> set[int]:
    return {row[0] for row in rows if row[2] in TERMINAL}


def causal_retries(rows: list[tuple]) -> list[tuple]:
    """RETRY rows no later than the first RECEIVED of the attempt they published.

    Celery publishes a retry before it reports it (``task_retry`` fires after ``apply_async``,
    as in a retry after a lost pool child), so the report can be stamped after the next attempt
    was already received; the decision itself came first, and the row is moved to just before.
    """
    received: dict[tuple[int, int], float] = {}
    for task, attempt, state, t, _ in rows:
        if state == RECEIVED:
            received[task, attempt] = min(t, received.get((task, attempt), t))
    out = []
    for task, attempt, state, t, worker in rows:
        nxt = received.get((task, attempt + 1))
        if state == RETRY and nxt is not None and t >= nxt:
            t = nxt - 1e-6
        out.append((task, attempt, state, t, worker))
    return out


def to_trace(
    pending: list[tuple[int, float]],
    rows: list[tuple],
    workers: list[str],
    clock: Clock,
    draws: Draws | None = None,
    decisions: tuple[Decision, ...] = (),
) -> Trace:
    """Merge producer and worker rows into a trace in scenario time; ``draws`` (the run's)
    give each task its type; the node autoscalers' ``decisions`` go with it.

    ``workers`` are the run's own nodes; nodes that joined from elsewhere (``queuelab worker``)
    are added after them.
    """
    workers = workers + sorted({row[4] for row in rows} - set(workers))
    index = {name: i for i, name in enumerate(workers)}
    merged = [(task, 0, PENDING, t, "") for task, t in pending] + causal_retries(rows)
    merged.sort(key=lambda r: (r[3], r[1], r[2]))
    kinds = draws.trace_types() if draws else {}
    if kinds.get("type_of") is not None:  # per task of the trace: a run stopped early sent fewer
        kinds["type_of"] = kinds["type_of"][: 1 + max((r[0] for r in merged), default=-1)]
    recorder = Recorder(tuple(workers), **kinds)
    recorder.decisions += decisions
    for task, attempt, state, t, worker in merged:
        recorder.add(task, attempt, state, max(0.0, clock.scenario(t)), index.get(worker, -1))
    return recorder.trace()


class Collector:
    """Gathers a run's rows while it goes: the producer appends to ``pending``, ``poll`` reads
    the workers' new rows, the new capacity samples of nodes that joined (``joined``, in
    their wall time: ``live.joined_capacity``) and the node autoscalers' new ``decisions``
    (``live.node_decisions``), ``trace`` is everything so far."""

    def __init__(
        self,
        client: redis.Redis,
        config: LiveConfig,
        workers: list[str],
        clock: Clock,
        draws: Draws | None = None,
    ):
        self.client, self.config, self.workers, self.clock = client, config, workers, clock
        self.draws = draws
        self.pending: list[tuple[int, float]] = []
        self.rows: list[tuple] = []
        self.done: set[int] = set()
        self.running: dict[tuple[int, int, str], float] = {}  # (task, attempt, node) → started
        self.joined: list[Sample] = []
        self.decisions: list[Decision] = []

    def poll(self) -> None:
        self.joined += joined_capacity.read(self.client, self.config, len(self.joined))
        self.decisions += node_decisions.read(self.client, self.config, len(self.decisions))
        new = read_events(self.client, self.config, len(self.rows))
        self.rows += new
        self.done |= finished_tasks(new)
        for task, attempt, state, t, worker in new:
            if state == STARTED:
                self.running[task, attempt, worker] = t
            elif state in ENDS_EXECUTION:
                self.running.pop((task, attempt, worker), None)

    def still_running(self, died: dict[str, float]) -> bool:
        """Whether an execution may still end: started on a node that has not died since."""
        running = list(self.running.items())  # one copy: ``poll`` may run in another thread
        return any(t > died.get(node, -1.0) for (_, _, node), t in running)

    def trace(self) -> Trace:
        return to_trace(
            list(self.pending),
            list(self.rows),
            self.workers,
            self.clock,
            self.draws,
            tuple(self.decisions),
        )
