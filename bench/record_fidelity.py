"""Record a Celery app queuelab did not write, then predict it: issue #14's second-app figures.

The app is ``tests/live/deployment_app.py`` (a user's deployment stand-in): 2 nodes x
``--concurrency 2``, events on, both consuming its two queues; Poisson arrivals about 60 % busy,
a mix of short resizes (0.1-0.3 s, 10 % failing, never retried) and long reports (0.4-0.6 s, 10 %
retried once 0.3 s later). ``queuelab record`` listens while it runs; the truth is what Celery's
own events show (wait: send to first start; sojourn: send to the end of the last run's body).
Then ``simulate`` of the recorded scenario over 5 seeds (the mean of their p95s) is set against
it, as recorded (with the hand-over and dispatch it measured) and with their defaults, and against a
real run at 3 nodes (another pool size) predicted from the same recording. ``--busy`` keeps both
cores busy with two spinning processes during both runs: the shared host.

Run: ``python bench/record_fidelity.py [--tasks 500] [--busy]``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from live.record import Recording, record  # noqa: E402
from live.redis_server import private_redis  # noqa: E402
from sim import scenario  # noqa: E402
from sim.analysis.runs import simulated  # noqa: E402
from sim.scenario import Scenario  # noqa: E402
from tests.live.test_record import deployment, node, subscription  # noqa: E402

SEEDS = range(1, 6)
BUSY, RATE, SEED = 0.6, 8.0, 11  # target busy share, tasks/s that gives it on 4 slots, arrivals


def send(redis_url: str, tasks: int) -> None:
    """The app's producer: Poisson arrivals at RATE, 70 % resizes and 30 % reports."""
    os.environ["DEPLOYMENT_REDIS_URL"] = redis_url
    from tests.live.deployment_app import resize_image, send_report

    for task in (resize_image, send_report):
        task.app.conf.task_send_sent_event = True
    rng = np.random.default_rng(SEED)
    at = np.cumsum(rng.exponential(1 / RATE, tasks))
    start = time.time()
    for t in at:
        time.sleep(max(0.0, start + t - time.time()))
        if rng.random() < 0.7:
            resize_image.delay(float(rng.uniform(0.1, 0.3)), bool(rng.random() < 0.1))
        else:
            send_report.delay(float(rng.uniform(0.4, 0.6)), bool(rng.random() < 0.1))


def truth(recording: Recording) -> tuple[float, float]:
    """p95 wait and sojourn of the tasks heard from send to end, as Celery's events show."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for _, began, ended, uuid in sorted(recording.runs, key=lambda run: run[1]):
        first.setdefault(uuid, began)
        last[uuid] = ended
    sent = recording.sent
    waits = [first[u] - sent[u] for u in first if u in sent]
    sojourns = [last[u] - sent[u] for u in last if u in sent]
    return float(np.percentile(waits, 95)), float(np.percentile(sojourns, 95))


def run(redis_url: str, nodes: int, tasks: int, out: Path) -> tuple[Scenario, tuple[float, float]]:
    """The deployment on ``nodes`` nodes, recorded: the recorded scenario and the truth."""
    names = [f"n{i}@fidelity" for i in range(nodes)]
    recording, stop = Recording(), threading.Event()
    with deployment(redis_url, *(node(n, "deployment,reports", 2) for n in names)):
        subscribed = subscription(redis_url)
        result: list = []
        listener = threading.Thread(
            target=lambda: result.append(record(redis_url, 3600, out, stop, recording))
        )
        listener.start()
        subscribed()
        send(redis_url, tasks)
        deadline = time.time() + 120
        while time.time() < deadline:
            with recording.lock:
                ended = sum(kind != "task-retried" for _, kind, _, _ in recording.ended)
            if ended >= tasks:
                break
            time.sleep(0.2)
        time.sleep(0.5)
        stop.set()
        listener.join()
    return result[0].value.scenario, truth(recording)


def predicted(sc: Scenario, changes: dict) -> tuple[float, float]:
    """Mean over SEEDS of the simulated p95 wait and sojourn of ``sc`` with ``changes``."""
    runs = [simulated(sc.replace(**changes), seed) for seed in SEEDS]
    return (
        float(np.mean([s.wait_p95 for s in runs])),
        float(np.mean([s.sojourn_p95 for s in runs])),
    )


def line(what: str, guess: tuple[float, float], real: tuple[float, float]) -> str:
    (gw, gs), (rw, rs) = guess, real
    return (
        f"| {what} | {gw:.3f} | {rw:.3f} | {(gw - rw) / rw:+.0%} | {gs:.3f} | {rs:.3f} | "
        f"{(gs - rs) / rs:+.0%} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--busy", action="store_true", help="two spinning processes beside it")
    args = parser.parse_args()
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy * 2)
    ]
    try:
        with private_redis() as url, tempfile.TemporaryDirectory() as tmp:
            sc, real = run(url, 2, args.tasks, Path(tmp) / "two.toml")
            load = os.getloadavg()[0]
            _, real3 = run(url, 3, args.tasks, Path(tmp) / "three.toml")
            note = re.search(r"hand-over: .*?tasks\)", (Path(tmp) / "two.toml").read_text(), re.S)
            how = f"load {load:.1f}" + " (two spinners)" * args.busy
            median = float(re.search(r"median ([\d.]+) ms", note[0])[1]) / 1000
            report(sc, real, real3, f"{how}; {' '.join(note[0].replace('#', '').split())}", median)
    finally:
        for spinner in spinners:
            spinner.kill()


def report(
    sc: Scenario, real: tuple[float, float], real3: tuple[float, float], how: str, median: float
) -> None:
    """The predictions from the recording ``sc`` against the truths, as a table; also with the
    hand-over and delivery at their defaults, and with the median gap in place of the recorded
    mean hand-over."""
    late = "handover_late" if sc.ack.late else "handover"
    pool = sc.pools[0].name if sc.pools else None
    count = f"pools.{pool}.count" if pool else "workers.count"
    defaults = scenario.load(None).overhead
    default = {
        f"overhead.{name}": getattr(defaults, name)
        for name in (late, "delivery", "delivery_spread")
    }
    middle = {f"overhead.{late}": median}
    print(
        f"{sc.run.tasks} tasks, {how}; p95 in seconds, simulated = mean over "
        f"seeds {SEEDS.start}-{SEEDS.stop - 1}"
    )
    print("| prediction | sim wait p95 | real | diff | sim sojourn p95 | real | diff |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(line("2 nodes, as recorded", predicted(sc, {}), real))
    print(line("2 nodes, Celery costs at their defaults", predicted(sc, default), real))
    print(line("2 nodes, median hand-over", predicted(sc, middle), real))
    print(line("3 nodes, from the 2-node recording", predicted(sc, {count: 3}), real3))
    print(
        line("3 nodes, Celery costs at their defaults", predicted(sc, {count: 3, **default}), real3)
    )
    print(line("3 nodes, median hand-over", predicted(sc, {count: 3, **middle}), real3))


if __name__ == "__main__":
    main()
