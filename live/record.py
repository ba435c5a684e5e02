"""Record a real Celery deployment's events into a scenario the simulator replays.

Listens the way Flower does — an event receiver on the broker, workers started with ``-E`` — and
only reads events, then asks the nodes for their settings (``live.worker_settings``): it never
sends, consumes or deletes a message of the deployment's task queues. From what it hears it
writes the arrival times (a trace file), the service times of every attempt (an empirical file),
the failure and retry rates and the retry countdown; with several task names, one task type
each and the nodes' pools (``live.recorded_types``). The file says which fields it observed
(``live.recorded_file``).

An arrival is the producer's ``task-sent`` event when the app sends it
(``task_send_sent_event = True``); otherwise the worker's ``task-received``, which comes only
when a worker reserves the message, so the time it waited in Redis beyond the prefetch window
is missing, and the recording says so.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import redis
from celery import Celery
from kombu.exceptions import OperationalError

from live import redis_server
from live.broker_wait import QueueSampler
from live.recorded_file import scenario_text
from live.recorded_types import (
    NameSeen,
    countdown_note,
    failure_fields,
    median,
    pool_tables,
    queue_names,
    renamed_note,
    scenario_names,
    task_tables,
)
from live.redis_server import GIVE_UP
from live.worker_settings import WorkerSettings, inspect_workers
from sim import scenario as scenario_module
from sim.analysis.calibrate import MIN_STARTS, delivery_fit, slot_waits
from sim.saving import Saved, save
from sim.scenario import Scenario
from sim.words import counted

# what a task-failed event's exception starts with when a time limit ended the attempt
TIME_LIMITS = ("SoftTimeLimitExceeded", "TimeLimitExceeded")
# the event receiver's connection name, by which Redis's CLIENT LIST shows it subscribed
RECEIVER_NAME = f"queuelab-record-{os.getpid()}"
# [workers] fields the recorded pools set for themselves
POOL_HELD = ("workers.count", "workers.concurrency", "workers.prefetch_multiplier")


def data_files(out: Path) -> tuple[Path, Path]:
    """The arrival and service files written beside the scenario ``out``."""
    stem = out.with_suffix("")
    return stem.with_name(stem.name + "-arrivals.csv"), stem.with_name(stem.name + "-service.csv")


def type_service_file(out: Path, name: str) -> Path:
    """The service file of task type ``name``, beside the scenario ``out``."""
    stem = out.with_suffix("")
    return stem.with_name(f"{stem.name}-service-{name}.csv")


@dataclass(frozen=True)
class Recorded:
    """The written scenario, and what the user should be told about how it was recorded."""

    scenario: Scenario
    arrivals_from: str  # "task-sent", "task-received" or "both"
    warnings: tuple[str, ...]
    lost: str = ""  # the broker went away while listening: what was heard until then is written


class Recording:
    """Events of one listening session, folded per task id."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}  # uuid → time of its first send
        self.received: dict[tuple[str, int], float] = {}  # (uuid, retries) → time
        self.names: dict[str, str] = {}  # uuid → task name
        self.queues: dict[str, str] = {}  # uuid → the queue its task-sent named
        self.hosts: set[str] = set()  # worker nodes heard from (heartbeats too)
        self.task_events = 0  # task events from workers: none when they run without -E
        self.processed: dict[str, tuple[int, int]] = {}  # node → first, last heartbeat's count
        self.started: dict[str, tuple[float, str]] = {}  # uuid → (time, hostname) of the run
        self.ended: list[tuple[str, str, float | None, str]] = []  # uuid, kind, runtime, host
        self.runs: list[tuple[str, float, float, str]] = []  # host, start, end event, uuid
        self.retried_at: dict[str, list[float]] = defaultdict(list)  # uuid → its task-retried
        self.timed_out: Counter[str] = Counter()  # uuid → its attempts a time limit failed
        self.etas: dict[tuple[str, int], float] = {}  # (uuid, retries) → the ETA it was sent with
        self.running: dict[str, int] = defaultdict(int)
        self.concurrency: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def on_event(self, event: dict) -> None:
        kind, uuid, t = event.get("type", ""), event.get("uuid"), float(event.get("timestamp", 0))
        with self.lock:
            if kind != "task-sent" and event.get("hostname"):
                self.hosts.add(event["hostname"])  # task-sent comes from the producer
            if kind.startswith("task-") and kind != "task-sent":
                self.task_events += 1
            elif kind == "worker-heartbeat" and event.get("hostname"):
                self._heartbeat(event["hostname"], event)
            if not uuid:
                return
            if kind == "task-sent":
                self._sent(event, uuid, t)
            elif kind == "task-received":
                self._received(event, uuid, t)
            elif kind == "task-started":
                host = event.get("hostname", "")
                self.started[uuid] = (t, host)
                self.running[host] += 1
                self.concurrency[host] = max(self.concurrency[host], self.running[host])
            elif kind in ("task-succeeded", "task-failed", "task-retried"):
                self._ended(kind, uuid, t, float(event.get("runtime") or 0.0))
                if str(event.get("exception", "")).startswith(TIME_LIMITS):
                    self.timed_out[uuid] += 1

    def _heartbeat(self, host: str, event: dict) -> None:
        """A node's count of tasks it has taken, which it sends with or without -E; one
        running counts as taken."""
        count = int(event.get("processed") or 0) + int(event.get("active") or 0)
        first, _ = self.processed.get(host, (count, count))
        self.processed[host] = (first, count)

    def _sent(self, event: dict, uuid: str, t: float) -> None:
        self.names[uuid] = event.get("name") or "?"
        if queue := event.get("queue") or event.get("routing_key"):
            self.queues.setdefault(uuid, queue)
        if not int(event.get("retries") or 0):
            self.sent.setdefault(uuid, t)

    def _received(self, event: dict, uuid: str, t: float) -> None:
        retries = int(event.get("retries") or 0)
        self.received.setdefault((uuid, retries), t)
        self.names[uuid] = event.get("name") or "?"
        if event.get("eta") and retries:
            self.etas[(uuid, retries)] = datetime.fromisoformat(event["eta"]).timestamp()

    def _ended(self, kind: str, uuid: str, t: float, runtime: float) -> None:
        if kind == "task-retried":
            self.retried_at[uuid].append(t)
        if uuid not in self.started:  # started before the listening: its runtime is unknown
            self.ended.append((uuid, kind, None, ""))
            return
        began, host = self.started.pop(uuid)
        self.running[host] -= 1
        self.ended.append((uuid, kind, runtime or t - began, host))
        self.runs.append((host, began, t, uuid))

    def busy_nodes(self) -> list[str]:
        """The nodes whose heartbeats say they took a task while listening (a node started
        without -E sends its heartbeats, with that count, all the same)."""
        with self.lock:  # the listener's thread adds nodes
            return sorted(host for host, (first, last) in self.processed.items() if last > first)

    def deaf(self) -> str:
        """Tasks sent (task-sent) or taken (heartbeats) with no task event from a worker: the
        workers run without task events, said with the remedy; else ""."""
        busy = self.busy_nodes()
        if self.task_events or not (self.sent or busy):
            return ""
        heard = [counted(len(self.sent), "task") + " sent"] if self.sent else []
        if busy:
            heard.append(f"heartbeats saying {', '.join(busy)} took tasks")
        return (
            f"heard {' and '.join(heard)} but no task event from a worker: the workers run "
            "without task events. Start them with -E, as Flower needs, or turn events on while "
            "they run: celery -A YOUR_APP control enable_events"
        )

    def too_little(self, tasks: int, ends: int) -> str:
        """Why a recording of ``tasks`` arrivals and ``ends`` attempts cannot be written, and
        what to do: a deployment without task events (``deaf``), which "record for longer"
        would not mend; no event at all; or too short a recording."""
        if deaf := self.deaf():
            return deaf
        if not self.hosts:
            return (
                "heard no Celery event: no worker runs on this broker, or it is not your app's "
                "(check the --redis-url's host, port and database number against its broker URL)"
            )
        return (
            f"heard {counted(tasks, 'task')} arrive and {counted(ends, 'attempt')} end on "
            f"{', '.join(sorted(self.hosts))}: too few to write a scenario (two tasks and an "
            "attempt); record for longer, while the app is sending tasks"
        )

    def countdowns(self) -> list[tuple[str, int, float]]:
        """(uuid, n, countdown) of each retry seen: the ETA its n-th retry was received with
        after its n-th task-retried (the worker may reserve the retry before it sends
        task-retried)."""
        return [
            (uuid, retries, max(0.0, eta - self.retried_at[uuid][retries - 1]))
            for (uuid, retries), eta in self.etas.items()
            if len(self.retried_at.get(uuid, ())) >= retries
        ]

    def first_arrivals(self) -> tuple[dict[str, float], int]:
        """Each task's first arrival by id: its send when heard, else its first reservation;
        and how many are reservations."""
        first_received = {uuid: t for (uuid, retries), t in self.received.items() if not retries}
        return {**first_received, **self.sent}, len(set(first_received) - set(self.sent))

    def reservations(self) -> tuple[list[str], list[str]]:
        """The tasks whose arrival is a reservation (no ``task-sent`` heard), in two: those in
        flight when listening began, reserved before the first task whose send was heard (a
        Redis list is first in, first out, so a task sent before listening is reserved before
        any sent after it); and the rest, from a producer that sends no ``task-sent`` (all of
        them when no send was heard), whose wait in Redis is missing from the recording."""
        first = {uuid: t for (uuid, retries), t in self.received.items() if not retries}
        cut = min((t for uuid, t in first.items() if uuid in self.sent), default=-np.inf)
        reserved = sorted((t, uuid) for uuid, t in first.items() if uuid not in self.sent)
        return [u for t, u in reserved if t < cut], [u for t, u in reserved if t >= cut]

    def arrivals(self) -> tuple[list[float], int]:
        """The first arrivals, sorted, and how many are reservations."""
        first, reserved = self.first_arrivals()
        return sorted(first.values()), reserved

    def seen(self, name: str | None, arrived: Iterable[str]) -> NameSeen:
        """What was heard of task ``name`` (of every name: None); ``arrived``: the task ids."""

        def mine(uuid: str) -> bool:
            return name is None or self.names.get(uuid, "?") == name

        ended = [(kind, runtime, host) for uuid, kind, runtime, host in self.ended if mine(uuid)]
        return NameSeen(
            name=name or "every task",
            arrivals=sum(map(mine, arrived)),
            queues=Counter(queue for uuid, queue in self.queues.items() if mine(uuid)),
            runtimes=tuple(runtime for _, runtime, _ in ended if runtime is not None),
            attempts=len(ended),
            failed=sum(kind != "task-succeeded" for kind, _, _ in ended),
            timed_out=sum(n for uuid, n in self.timed_out.items() if mine(uuid)),
            max_retries=max((r for uuid, r in self.received if mine(uuid)), default=0),
            countdowns=tuple(c for uuid, _, c in self.countdowns() if mine(uuid)),
            by_retry=tuple((n, c) for uuid, n, c in self.countdowns() if mine(uuid)),
            hosts=frozenset(host for _, _, host in ended if host),
        )

    def slot_waits(
        self, arrived: dict[str, float], held: Iterable[str] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """Celery's costs on these nodes (``calibrate.slot_waits``), each where it was seen:
        the hand-over, from a slot's end (its task-succeeded, -failed or -retried) to the start
        of a task that had arrived by then: both stamped by the node's main process, in the order
        it handled them (a start + runtime can land after the next start, and then first in,
        first out matching loses step); the dispatch, from a send to the start of a task
        that found its slot idle (send times only: a reservation is already on the node).
        Only a task's first run: a retry waits out its countdown, not for a slot; and no task
        name in ``held``, whose start waits for its rate limit's token (read as a hand-over, a
        4/s limit made it 272 ms where its neighbours' was 10 ms)."""
        if not self.runs:
            return np.zeros(0), np.zeros(0)
        host, start, end, uuids = zip(*sorted(self.runs, key=lambda run: run[1]), strict=True)
        node = {name: i for i, name in enumerate(sorted(set(host)))}
        seen, held = set(), set(held)
        ready = []
        for uuid in uuids:
            waits = uuid in seen or self.names.get(uuid) in held
            ready.append(np.nan if waits else arrived.get(uuid, np.nan))
            seen.add(uuid)
        handover, dispatch = slot_waits(
            np.array([node[name] for name in host]), np.array(start), np.array(end), np.array(ready)
        )
        sent = np.array([uuid in self.sent for uuid in uuids])
        return handover[~np.isnan(handover)], dispatch[sent & ~np.isnan(dispatch)]

    def observed(self, arrived: dict[str, float], settings: WorkerSettings) -> dict[str, Any]:
        """The scenario fields the events and the nodes showed (dotted key → value)."""
        by_name = [self.seen(name, arrived) for name in sorted(set(self.names.values()))]
        names = ", ".join(
            f"{s.name}: {len(s.runtimes)} runs, median {median(s.runtimes):.3g}s"
            for s in by_name
            if s.runtimes
        )
        fields = {
            "name": "recorded",
            "description": f"Recorded from a live deployment: {len(arrived)} tasks. {names}.",
            "run.tasks": len(arrived),
            "arrivals.process": "trace",
            "service.dist": "empirical",
            "workers.count": max(1, len(self.concurrency)),
            "workers.concurrency": max(self.concurrency.values(), default=1),
            **settings.fields,
            **failure_fields(self.seen(None, arrived)),
        }
        if fields.get("workers.autoscale_max"):  # --autoscale sized the pool: none is read
            del fields["workers.concurrency"]
        return fields

    def write(self, out: Path, settings: WorkerSettings, sampler: QueueSampler) -> Recorded:
        """Write the arrival and service files beside ``out``, then ``out`` itself; the sampled
        queue lengths estimate the wait in Redis when the arrivals are reservations."""
        arrived, _ = self.first_arrivals()
        arrivals = sorted(arrived.values())
        everything = self.seen(None, arrived)
        if len(arrivals) < 2 or not everything.runtimes:
            raise ValueError(self.too_little(len(arrivals), len(everything.runtimes)))
        arrivals_file, service_file = data_files(out)
        write_column(arrivals_file, "t", [t - arrivals[0] for t in arrivals])
        write_column(service_file, "seconds", everything.runtimes)
        fields = self.observed(arrived, settings)
        fields["arrivals.file"], fields["service.file"] = arrivals_file.name, service_file.name
        limited = [name for name, limits in settings.limits.items() if limits.get("rate_limit")]
        gaps, lags = self.slot_waits(arrived, limited)
        if len(gaps) >= MIN_STARTS:
            late = "_late" if fields.get("ack.late") else ""
            fields[f"overhead.handover{late}"] = round(float(gaps.mean()), 6)
        if len(lags) >= MIN_STARTS:
            least, spread = delivery_fit(lags)
            fields["overhead.delivery"] = round(least, 6)
            fields["overhead.delivery_spread"] = round(spread, 6)
        names = sorted({self.names[uuid] for uuid in arrived})
        several = len(names) > 1 or any(name in settings.limits for name in names)
        type_notes = self.task_types(out, names, arrived, settings, fields) if several else []
        span = max(arrivals[-1] - arrivals[0], 1e-6)  # all at one instant: a burst
        rate = (len(arrivals) - 1) / span
        in_flight, unsent = self.reservations()
        unseen = unseen_wait(sampler, sorted(arrived[u] for u in unsent), arrivals, rate)
        source, warnings = arrival_source(len(in_flight), len(unsent), len(arrivals), unseen)
        notes = [
            load_note(rate, span, everything.runtimes, fields),
            costs_note(gaps, lags),
            *warnings,
            *in_flight_note(len(in_flight)),
            *settings.notes,
            *filter(None, (countdown_note(self.seen(name, arrived)) for name in names)),
        ]
        if settings.mixed and "pools" not in fields:  # pools give each their own concurrency
            notes.append(settings.mixed)
        out.write_text(scenario_text(fields, [*notes, *type_notes]))
        return Recorded(scenario_module.load(out), source, warnings)

    def task_types(
        self,
        out: Path,
        names: list[str],
        arrived: dict[str, float],
        settings: WorkerSettings,
        fields: dict[str, Any],
    ) -> list[str]:
        """Several task names, or one with a rate or time limit: set ``fields``' task types, one
        a name with its own service file beside ``out`` and limits, and the nodes' pools, which
        then hold the node counts; the notes."""
        by_name = [self.seen(name, arrived) for name in names]
        renamed = scenario_names(names)
        files = {s.name: type_service_file(out, renamed[s.name]) for s in by_name if s.runtimes}
        for seen in by_name:
            if seen.name in files:
                write_column(files[seen.name], "seconds", seen.runtimes)
        queues = queue_names(by_name, settings.node_queues, settings.pools)
        fields["tasks"], notes = task_tables(
            by_name,
            settings.node_queues,
            {name: file.name for name, file in files.items()},
            queues,
            settings.limits,
        )
        pools, pool_notes = pool_tables(settings.pools, fields["tasks"], queues)
        if pools:
            fields["pools"] = pools
            for key in POOL_HELD:
                fields.pop(key, None)
        return [*notes, *renamed_note(queues, "queue"), *pool_notes]


def write_column(path: Path, header: str, values: Iterable[float]) -> None:
    """One number a line under a header: the data files the scenario names."""
    path.write_text(header + "\n" + "".join(f"{v:.6f}\n" for v in values))


def load_note(rate: float, span: float, runtimes: Sequence[float], fields: dict[str, Any]) -> str:
    """The observed rate and how busy it kept the nodes: what the recording is a sample of."""
    service = sum(runtimes) / len(runtimes)
    pools = fields.get("pools") or [
        {k.removeprefix("workers."): v for k, v in fields.items() if k.startswith("workers.")}
    ]
    slots = sum(
        pool["count"] * (pool.get("autoscale_max") or pool["concurrency"]) for pool in pools
    )
    return (
        f"observed: {rate:.4g} tasks/s over {span:.4g} s, mean service {service:.4g} s, "
        f"so the {slots} slots were {rate * service / slots:.0%} busy"
    )


def costs_note(gaps: np.ndarray, lags: np.ndarray) -> str:
    """What Celery's costs were measured from, or why they were not."""
    if len(gaps) < MIN_STARTS:
        handover = (
            f"hand-over: {len(gaps)} tasks waited for a slot, too few to measure Celery's cost "
            "between back-to-back tasks: its default is assumed"
        )
    else:
        handover = (
            f"hand-over: a slot started a waiting task a mean {gaps.mean() * 1000:.3g} ms (median "
            f"{np.median(gaps) * 1000:.3g} ms) after its last one ended, over {len(gaps)} "
            "back-to-back starts: Celery's own cost, which grows with the host's load"
        )
    if len(lags) < MIN_STARTS:
        return (
            f"{handover}; delivery: {len(lags)} sent tasks found a slot idle, too few to "
            "measure it: its default is assumed"
        )
    least, spread = delivery_fit(lags)
    return (
        f"{handover}; delivery: a sent task that found a slot idle started a median "
        f"{np.median(lags) * 1000:.3g} ms after its send ({len(lags)} tasks), read as "
        f"{least * 1000:.3g} ms plus an exponential wait of mean {spread * 1000:.3g} ms"
    )


def unseen_wait(
    sampler: QueueSampler, unsent: list[float], arrivals: list[float], rate: float
) -> str:
    """The wait in Redis missing from the ``unsent`` arrivals (reservations of tasks whose send
    was not heard), in words: the queue lengths sampled while they arrived, over the rate of
    every arrival then, as the lists held every task's message (Little's law); "" when there
    are none. The tasks whose send was heard have that wait in their arrival already."""
    if not unsent:
        return ""
    start, end = unsent[0], unsent[-1]
    during = sum(start <= t <= end for t in arrivals)
    if end > start and during > 1:
        rate = (during - 1) / (end - start)
    return sampler.estimate(start, end, rate)


def arrival_source(
    in_flight: int, unsent: int, tasks: int, unseen: str
) -> tuple[str, tuple[str, ...]]:
    """Where the ``tasks`` arrival times came from, and the warning when ``unsent`` of them
    are reservations of tasks whose producer sends no ``task-sent``; ``unseen`` estimates the
    wait in Redis that is missing from those. The ``in_flight`` ones, sent before listening
    began, are no warning (``in_flight_note``): every recording that starts mid-stream has a
    few, and their send is before the recording, not missing from it."""
    if not unsent:
        return ("both" if in_flight else "task-sent"), ()
    missing = (
        "so the time those messages waited in Redis before a worker reserved them is not in "
        f"them ({unseen}): set task_send_sent_event = True in the producing app to record send "
        "times"
    )
    if unsent == tasks:
        return "task-received", (
            f"no task-sent events: arrivals are task-received times, {missing}",
        )
    return "both", (
        f"{unsent} of {tasks} arrivals are task-received times (reserved after tasks whose "
        f"task-sent was heard: a producer without task-sent events), {missing}",
    )


def in_flight_note(in_flight: int) -> list[str]:
    """The note on the tasks already sent when listening began, whose arrival is their
    reservation: a recording that starts mid-stream has the few the nodes were about to take;
    many say a backlog in Redis at the start, which the replay does not hold."""
    if not in_flight:
        return []
    return [
        f"{counted(in_flight, 'task')} sent before listening began: "
        f"{'their arrivals are' if in_flight > 1 else 'its arrival is'} the task-received "
        "time, when a node reserved it, at the start of the recording"
    ]


def record(
    redis_url: str,
    duration: float,
    out: Path,
    stop: threading.Event | None = None,
    recording: Recording | None = None,
    warn: Callable[[str], None] | None = None,
    listening: Callable[[], None] | None = None,
) -> Saved[Recorded]:
    """Listen to the deployment on ``redis_url`` for ``duration`` seconds from the moment the
    event receiver is subscribed, which ``listening`` is told, or until ``stop``; write ``out``
    from what was heard (into ``recording``, for a caller that reads it too), or a temp file if
    ``out`` can no longer be written (``sim.saving``). ``warn`` is told at once when a node's
    heartbeat shows it took a task that sent no event: a deployment without -E, which the rest
    of ``duration`` would not mend (it was said only at the end)."""
    app = _app("queuelab-record", redis_url)
    app.conf.broker_transport_options = {**GIVE_UP, "client_name": RECEIVER_NAME}
    # its own app: kombu connections are not shared between threads
    sampler = QueueSampler(_app("queuelab-llen", redis_url), redis_url)
    recording = recording or Recording()
    sampler.find_queues()  # before listening, so the sampling covers every task heard
    done = threading.Event()
    sampling = threading.Thread(target=sampler.run, args=(done,), daemon=True)
    sampling.start()
    try:
        heard = Listening(sampler.client, duration, stop, warn, listening)
        gone = _listen(app, recording, heard)
        done.set()
        sampling.join(timeout=5)
        settings = inspect_workers(app, recording.hosts)
    finally:
        done.set()
        sampler.app.close()
        sampler.client.close()
        app.close()
    lost = (
        redis_server.lost(redis_url, gone, "while listening", "check that it is up") if gone else ""
    )
    try:
        saved = save(out, lambda path: recording.write(path, settings, sampler))
    except ValueError as err:
        raise ValueError(f"{lost}; {err}" if lost else str(err)) from None
    lost = f"{lost}; wrote what was heard until then" if lost else ""
    return replace(saved, value=replace(saved.value, lost=lost))


def _app(name: str, redis_url: str) -> Celery:
    """An app on the deployment's broker whose commands give up on a frozen Redis (a stopped
    process, a paused VM), as a run's do: the recording hung on it for good, Ctrl-C included."""
    app = Celery(name, broker=redis_url, set_as_current=False)
    app.conf.broker_transport_options = GIVE_UP
    return app


@dataclass(frozen=True)
class Listening:
    """How long to listen and whom to tell what: ``duration`` seconds from the moment the
    receiver is subscribed (``listening`` is told then), unless ``stop``; ``warn`` once when
    the nodes' heartbeats show tasks taken with no task event. ``client`` asks Redis whether
    the receiver is subscribed."""

    client: redis.Redis
    duration: float
    stop: threading.Event | None = None
    warn: Callable[[str], None] | None = None
    listening: Callable[[], None] | None = None


def subscribed(client: redis.Redis) -> bool:
    """Whether Redis has the receiver's pattern subscription (its connection, named
    ``RECEIVER_NAME``, shows a pattern in ``CLIENT LIST``): from then on no event is missed.
    Kombu sends the PSUBSCRIBE on the receiver's first poll, after its consumer is declared,
    so neither the connection nor the declaration is the moment. A Redis that refuses ``CLIENT
    LIST`` (an ACL) is taken at its word that the receiver polls."""
    try:
        clients = client.client_list()
    except redis.ResponseError:
        return True
    return any(c.get("name") == RECEIVER_NAME and int(c.get("psub", 0)) for c in clients)


def _listen(app: Celery, recording: Recording, heard: Listening) -> Exception | None:
    """Feed the deployment's events to ``recording`` as ``heard`` says, or until the broker
    goes away: then returns its error (what was heard stands)."""
    gone: list[Exception] = []

    def capture() -> None:
        try:
            receiver.capture(wakeup=False)
        except (OSError, OperationalError, redis.RedisError) as err:
            gone.append(err)

    warn, deadline = heard.warn, None
    with app.connection() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": recording.on_event})
        listener = threading.Thread(target=capture, daemon=True)
        listener.start()
        while not (heard.stop and heard.stop.is_set()) and not gone:
            if deadline is None:
                try:
                    if subscribed(heard.client):
                        deadline = time.monotonic() + heard.duration
                        if heard.listening:
                            heard.listening()
                except redis.RedisError as err:
                    gone.append(err)
            elif time.monotonic() >= deadline:
                break
            if warn and recording.busy_nodes() and not recording.task_events:
                warn(recording.deaf())
                warn = None
            time.sleep(0.1)
        receiver.should_stop = True
        listener.join(timeout=5)
    return gone[0] if gone else None
