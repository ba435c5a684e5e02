"""Record a real Celery deployment's events into a scenario the simulator replays.

Listens the way Flower does — an event receiver on the broker, workers started with ``-E`` — and
only reads events: it never sends, consumes or deletes a message of the deployment it watches.
From what it hears it writes: the arrival times (a trace file), the service times of every
attempt (an empirical file), the failure and retry rates, the retry countdown, and the worker
count and concurrency.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from celery import Celery

from sim import scenario as scenario_module
from sim.scenario import Scenario


def data_files(out: Path) -> tuple[Path, Path]:
    """The arrival and service files written beside the scenario ``out``."""
    stem = out.with_suffix("")
    return stem.with_name(stem.name + "-arrivals.csv"), stem.with_name(stem.name + "-service.csv")


class Recording:
    """Events of one listening session, folded per task id."""

    def __init__(self) -> None:
        self.received: dict[tuple[str, int], float] = {}  # (uuid, retries) → time
        self.eta: dict[tuple[str, int], float] = {}
        self.names: dict[str, str] = {}
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
        if not uuid:
            return
        with self.lock:
            if kind == "task-received":
                retries = int(event.get("retries") or 0)
                self.received.setdefault((uuid, retries), t)
                self.names[uuid] = event.get("name") or "?"
                if event.get("eta") and uuid in self.retried_at:
                    eta = datetime.fromisoformat(event["eta"]).timestamp()
                    self.countdowns.append(max(0.0, eta - self.retried_at[uuid]))
            elif kind == "task-started":
                host = event.get("hostname", "")
                self.started[uuid] = (t, host)
                self.running[host] += 1
                self.concurrency[host] = max(self.concurrency[host], self.running[host])
            elif kind in ("task-succeeded", "task-failed", "task-retried"):
                self.outcomes[kind] += 1
                if kind == "task-retried":
                    self.retried_at[uuid] = t
                if uuid in self.started:
                    began, host = self.started.pop(uuid)
                    self.running[host] -= 1
                    runtime = float(event.get("runtime") or (t - began))
                    self.runtimes.append(runtime)
                    self.runtime_by_name[self.names.get(uuid, "?")].append(runtime)

    def to_scenario(self, out: Path) -> Scenario:
        """Write the arrival and service files beside ``out`` and return the scenario."""
        arrivals = sorted(t for (_, retries), t in self.received.items() if retries == 0)
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
        attempts = sum(self.outcomes.values())
        failed = self.outcomes["task-failed"] + self.outcomes["task-retried"]
        retries_seen = max((r for _, r in self.received), default=0)
        names = ", ".join(
            f"{n}: {len(v)} runs, median {sorted(v)[len(v) // 2]:.3g}s"
            for n, v in sorted(self.runtime_by_name.items())
        )
        countdown = sorted(self.countdowns)[len(self.countdowns) // 2] if self.countdowns else 180.0
        return scenario_module.load(None).replace(
            **{
                "name": "recorded",
                "description": f"Recorded from a live deployment: {len(arrivals)} tasks. {names}.",
                "run.tasks": len(arrivals),
                "arrivals.process": "trace",
                "arrivals.file": arrivals_file.name,
                "service.dist": "empirical",
                "service.file": service_file.name,
                "workers.count": max(1, len(self.concurrency)),
                "workers.concurrency": max(self.concurrency.values(), default=1),
                "failures.probability": failed / attempts if attempts else 0.0,
                "retry.max_retries": retries_seen,  # what the deployment was seen to do
                "retry.countdown": countdown,
                "retry.backoff": 0.0,
            }
        )


def record(
    redis_url: str, duration: float, out: Path, stop: threading.Event | None = None
) -> Scenario:
    """Listen to the deployment on ``redis_url`` for ``duration`` seconds; write ``out``."""
    app = Celery("queuelab-record", broker=redis_url, set_as_current=False)
    recording = Recording()
    with app.connection() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": recording.on_event})
        listener = threading.Thread(target=receiver.capture, kwargs={"wakeup": False}, daemon=True)
        listener.start()
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            time.sleep(0.1)
        receiver.should_stop = True
        listener.join(timeout=5)
    app.close()
    sc = recording.to_scenario(out)
    text = scenario_module.dumps(sc)
    out.write_text(text)
    return scenario_module.load(out)
