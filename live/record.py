"""Record a real Celery deployment's events into a scenario the simulator replays.

Listens the way Flower does — an event receiver on the broker, workers started with ``-E`` — and
only reads events, then asks the nodes for their settings (``live.worker_settings``): it never
sends, consumes or deletes a message of the deployment's task queues. From what it hears it
writes the arrival times (a trace file), the service times of every attempt (an empirical file),
the failure and retry rates and the retry countdown; the file says which fields it observed
(``live.recorded_file``).

An arrival is the producer's ``task-sent`` event when the app sends it
(``task_send_sent_event = True``); otherwise the worker's ``task-received``, which comes only
when a worker reserves the message, so the time it waited in Redis beyond the prefetch window
is missing, and the recording says so.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from celery import Celery

from live.broker_wait import QueueSampler
from live.recorded_file import scenario_text
from live.worker_settings import WorkerSettings, inspect_workers
from sim import scenario as scenario_module
from sim.scenario import Scenario


def data_files(out: Path) -> tuple[Path, Path]:
    """The arrival and service files written beside the scenario ``out``."""
    stem = out.with_suffix("")
    return stem.with_name(stem.name + "-arrivals.csv"), stem.with_name(stem.name + "-service.csv")


@dataclass(frozen=True)
class Recorded:
    """The written scenario, and what the user should be told about how it was recorded."""

    scenario: Scenario
    arrivals_from: str  # "task-sent", "task-received" or "both"
    warnings: tuple[str, ...]


class Recording:
    """Events of one listening session, folded per task id."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}  # uuid → time of its first send
        self.received: dict[tuple[str, int], float] = {}  # (uuid, retries) → time
        self.names: dict[str, str] = {}
        self.hosts: set[str] = set()  # worker nodes heard from
        self.started: dict[str, tuple[float, str]] = {}  # uuid → (time, hostname) of the run
        self.runtimes: list[float] = []
        self.runtime_by_name: dict[str, list[float]] = defaultdict(list)
        self.outcomes: dict[str, int] = defaultdict(int)  # succeeded / failed / retried
        self.retried_at: dict[str, float] = {}
        self.countdowns: list[float] = []
        self.running: dict[str, int] = defaultdict(int)
        self.concurrency: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def on_event(self, event: dict) -> None:
        kind, uuid, t = event.get("type", ""), event.get("uuid"), float(event.get("timestamp", 0))
        with self.lock:
            if kind != "task-sent" and event.get("hostname"):
                self.hosts.add(event["hostname"])  # task-sent comes from the producer
            if not uuid:
                return
            if kind == "task-sent":
                if not int(event.get("retries") or 0):
                    self.sent.setdefault(uuid, t)
            elif kind == "task-received":
                self._received(event, uuid, t)
            elif kind == "task-started":
                host = event.get("hostname", "")
                self.started[uuid] = (t, host)
                self.running[host] += 1
                self.concurrency[host] = max(self.concurrency[host], self.running[host])
            elif kind in ("task-succeeded", "task-failed", "task-retried"):
                self._ended(kind, uuid, t, float(event.get("runtime") or 0.0))

    def _received(self, event: dict, uuid: str, t: float) -> None:
        retries = int(event.get("retries") or 0)
        self.received.setdefault((uuid, retries), t)
        self.names[uuid] = event.get("name") or "?"
        if event.get("eta") and uuid in self.retried_at:
            eta = datetime.fromisoformat(event["eta"]).timestamp()
            self.countdowns.append(max(0.0, eta - self.retried_at[uuid]))

    def _ended(self, kind: str, uuid: str, t: float, runtime: float) -> None:
        self.outcomes[kind] += 1
        if kind == "task-retried":
            self.retried_at[uuid] = t
        if uuid in self.started:
            began, host = self.started.pop(uuid)
            self.running[host] -= 1
            self.runtimes.append(runtime or t - began)
            self.runtime_by_name[self.names.get(uuid, "?")].append(runtime or t - began)

    def arrivals(self) -> tuple[list[float], int]:
        """Each task's first arrival, sorted: its send when heard, else its first reservation;
        and how many are reservations."""
        first_received = {uuid: t for (uuid, retries), t in self.received.items() if not retries}
        times = {**first_received, **self.sent}
        return sorted(times.values()), len(set(first_received) - set(self.sent))

    def observed(self, arrivals: list[float], settings: WorkerSettings) -> dict[str, Any]:
        """The scenario fields the events and the nodes showed (dotted key → value)."""
        names = ", ".join(
            f"{n}: {len(v)} runs, median {sorted(v)[len(v) // 2]:.3g}s"
            for n, v in sorted(self.runtime_by_name.items())
        )
        fields: dict[str, Any] = {
            "name": "recorded",
            "description": f"Recorded from a live deployment: {len(arrivals)} tasks. {names}.",
            "run.tasks": len(arrivals),
            "arrivals.process": "trace",
            "service.dist": "empirical",
            "workers.count": max(1, len(self.concurrency)),
            "workers.concurrency": max(self.concurrency.values(), default=1),
            **settings.fields,
        }
        attempts = sum(self.outcomes.values())
        failed = self.outcomes["task-failed"] + self.outcomes["task-retried"]
        fields["failures.probability"] = failed / attempts if attempts else 0.0
        if failed:  # how far the deployment was seen to retry: 0 = it never retried
            fields["retry.max_retries"] = max(r for _, r in self.received)
        if self.countdowns:
            fields["retry.countdown"] = sorted(self.countdowns)[len(self.countdowns) // 2]
        return fields

    def write(self, out: Path, settings: WorkerSettings, sampler: QueueSampler) -> Recorded:
        """Write the arrival and service files beside ``out``, then ``out`` itself; the sampled
        queue lengths estimate the wait in Redis when the arrivals are reservations."""
        arrivals, reserved = self.arrivals()
        if len(arrivals) < 2 or not self.runtimes:
            raise ValueError(
                "heard fewer than two tasks: record for longer, and start the "
                "deployment's workers with -E (events on), as Flower needs"
            )
        arrivals_file, service_file = data_files(out)
        arrivals_file.write_text(
            "t\n" + "\n".join(f"{t - arrivals[0]:.6f}" for t in arrivals) + "\n"
        )
        service_file.write_text("seconds\n" + "\n".join(f"{r:.6f}" for r in self.runtimes) + "\n")
        fields = self.observed(arrivals, settings)
        fields["arrivals.file"], fields["service.file"] = arrivals_file.name, service_file.name
        span = max(arrivals[-1] - arrivals[0], 1e-6)  # all at one instant: a burst
        rate = (len(arrivals) - 1) / span
        unseen = sampler.estimate(arrivals[0], arrivals[-1], rate) if reserved else ""
        source, warnings = arrival_source(reserved, len(arrivals), unseen)
        notes = [load_note(rate, span, self.runtimes, fields), *warnings, *settings.notes]
        out.write_text(scenario_text(fields, notes))
        return Recorded(scenario_module.load(out), source, warnings)


def load_note(rate: float, span: float, runtimes: list[float], fields: dict[str, Any]) -> str:
    """The observed rate and how busy it kept the pool: what the recording is a sample of."""
    service = sum(runtimes) / len(runtimes)
    slots = fields["workers.count"] * fields["workers.concurrency"]
    return (
        f"observed: {rate:.4g} tasks/s over {span:.4g} s, mean service {service:.4g} s, "
        f"so the {slots} slots were {rate * service / slots:.0%} busy"
    )


def arrival_source(reserved: int, tasks: int, unseen: str) -> tuple[str, tuple[str, ...]]:
    """Where the arrival times came from, and the warning when it was not the producer;
    ``unseen`` estimates the wait that is missing."""
    if not reserved:
        return "task-sent", ()
    missing = (
        "so the time a message waited in Redis before a worker reserved it is not in them "
        f"({unseen}): set task_send_sent_event = True in the producing app to record send times"
    )
    if reserved == tasks:
        return "task-received", (
            f"no task-sent events: arrivals are task-received times, {missing}",
        )
    return "both", (
        f"{reserved} of {tasks} arrivals are task-received times (sent before listening began, "
        f"or by a producer without task-sent events), {missing}",
    )


def record(
    redis_url: str, duration: float, out: Path, stop: threading.Event | None = None
) -> Recorded:
    """Listen to the deployment on ``redis_url`` for ``duration`` seconds, or until ``stop``;
    write ``out`` from what was heard."""
    app = Celery("queuelab-record", broker=redis_url, set_as_current=False)
    # its own app: kombu connections are not shared between threads
    sampler = QueueSampler(
        Celery("queuelab-llen", broker=redis_url, set_as_current=False), redis_url
    )
    recording = Recording()
    sampler.find_queues()  # before listening, so the sampling covers every task heard
    done = threading.Event()
    sampling = threading.Thread(target=sampler.run, args=(done,), daemon=True)
    sampling.start()
    try:
        _listen(app, recording, time.monotonic() + duration, stop)
        done.set()
        sampling.join(timeout=5)
        settings = inspect_workers(app, recording.hosts)
    finally:
        done.set()
        sampler.app.close()
        sampler.client.close()
        app.close()
    return recording.write(out, settings, sampler)


def _listen(app: Celery, recording: Recording, deadline: float, stop: threading.Event | None):
    """Feed the deployment's events to ``recording`` until ``deadline`` (monotonic) or ``stop``."""
    with app.connection() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": recording.on_event})
        listener = threading.Thread(target=receiver.capture, kwargs={"wakeup": False}, daemon=True)
        listener.start()
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            time.sleep(0.1)
        receiver.should_stop = True
        listener.join(timeout=5)
