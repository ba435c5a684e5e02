"""Sweep speed: 16 worker counts × 5 replications × N tasks, in parallel against serial.

Both sweeps run in this process's run, on the same scenario (M/M/c shape, ρ from 0.95 down);
the figure is wall time and the parallel speed-up. Run: ``python bench/sweep_speed.py``
(``--tasks 100000`` for the full 8M-task sweep; the default is lighter). ``--celery 2`` also runs
it on a Celery sweep worker of 2 processes (``live.sweep_app``, a private redis-server), and
each line says whether its numbers are the serial sweep's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from live import sweep_app  # noqa: E402
from live.redis_server import private_redis, stop_process  # noqa: E402
from sim import scenario  # noqa: E402
from sim.analysis.sweep import points, sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument(
        "--celery",
        type=int,
        metavar="N",
        help="also sweep on a Celery sweep worker of N processes (a private redis-server)",
    )
    args = parser.parse_args()
    sc = scenario.load(None).replace(
        **{
            "run.tasks": args.tasks,
            "arrivals.rate": 7.6,
            "workers.prefetch_multiplier": 1,
            "ack.late": True,
        }
    )
    counts = list(range(8, 24))
    sweeps = {
        "serial": lambda: sweep(sc, counts, reps=args.reps, processes=1),
        f"parallel ({os.cpu_count()} processes)": lambda: sweep(sc, counts, reps=args.reps),
    }
    with contextlib.ExitStack() as stack:
        if args.celery:
            url = stack.enter_context(celery_worker(args.celery))
            sweeps[f"celery ({args.celery} worker processes)"] = lambda: points(
                counts, sweep_app.sweep_field(url, sc, "workers.count", counts, args.reps)
            )
        timings, answers, busy = {}, {}, 0.0
        for label, run in sweeps.items():
            children = _children_cpu()
            start = time.perf_counter()
            answers[label] = run()
            timings[label] = time.perf_counter() - start
            if label.startswith("parallel"):
                busy = (_children_cpu() - children) / (timings[label] * (os.cpu_count() or 1))
    serial = timings["serial"]
    print(
        f"{len(counts)} worker counts x {args.reps} reps x {args.tasks:,} tasks "
        f"= {len(counts) * args.reps * args.tasks:,} simulated tasks; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    for label, seconds in timings.items():
        same = "same numbers" if answers[label] == answers["serial"] else "DIFFERENT NUMBERS"
        print(f"{label:<32}{seconds:>8.2f} s   speed-up {serial / seconds:>5.2f}x   {same}")
    print(f"cores busy during the parallel sweep: {busy:.0%} (CPU time of the worker processes)")
    first, last = answers["serial"][0], answers["serial"][-1]
    print(
        f"p95 sojourn at {counts[0]} workers: {first.sojourn_p95.mean:.3g} s; "
        f"at {counts[-1]}: {last.sojourn_p95.mean:.3g} s"
    )


@contextlib.contextmanager
def celery_worker(processes: int) -> Iterator[str]:
    """A private redis-server and one ``queuelab sweep-worker`` of ``processes`` pool
    processes on it, ready before the clock starts; yields the Redis URL."""
    with private_redis() as url:
        worker = subprocess.Popen(
            [sys.executable, "-m", "queuelab.cli", "sweep-worker", "--redis-url", url]
            + ["--concurrency", str(processes)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not sweep_app.make_app(url).control.ping(timeout=1.0):
                if worker.poll() is not None:
                    raise RuntimeError("the sweep worker exited at start")
            yield url
        finally:
            stop_process(worker, grace=30)


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the sweep's worker processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
