"""What queuelab's live mode costs on top of Celery, measured in one run on one redis-server.

Both runs push the same number of no-op tasks in one burst through the same number of real
Celery workers; the figure is end-to-end tasks per second and the ratio of the two.
Run: ``python bench/live_overhead.py [--tasks N] [--workers W]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from live.redis_server import private_redis  # noqa: E402
from live.run import run_live  # noqa: E402
from sim import scenario  # noqa: E402


def bare(url: str, tasks: int, workers: int) -> float:
    """Tasks per second of plain Celery (plus one INCR per task to know when all are done)."""
    os.environ["BARE_REDIS_URL"] = url
    from bench.bare_celery import app

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "bench.bare_celery",
        "worker",
        "-c",
        "1",
        "-Q",
        "bare",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "WARNING",
    ]
    client = redis.Redis.from_url(url)
    procs = []
    try:
        for i in range(workers):
            procs.append(
                subprocess.Popen(
                    [*cmd, "-n", f"bare{i}@bench"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        app.control.ping(timeout=1.0)  # let the workers come up
        time.sleep(3)
        client.delete("bare:done")
        start = time.perf_counter()
        with app.producer_or_acquire() as producer:
            for _ in range(tasks):
                app.tasks["bare.noop"].apply_async(producer=producer)
        while int(client.get("bare:done") or 0) < tasks:
            time.sleep(0.005)
        return tasks / (time.perf_counter() - start)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


def live(url: str, tasks: int, workers: int) -> float:
    """Tasks per second through ``run_live``: producer, signals, collector, all of it."""
    sc = scenario.load(None).replace(
        **{
            "run.tasks": tasks,
            "workers.count": workers,
            "arrivals.process": "burst",
            "arrivals.burst_size": tasks,
            "service.dist": "constant",
            "service.mean": 1e-6,
        }
    )
    trace = run_live(sc, url, time_scale=1.0)
    return tasks / float(trace.t.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with private_redis() as url:
        base = bare(url, args.tasks, args.workers)
        ours = live(url, args.tasks, args.workers)
    print(f"{args.tasks} no-op tasks, {args.workers} workers x concurrency 1, one redis-server")
    print(f"{'bare Celery':<28}{base:>10,.0f} tasks/s")
    print(f"{'queuelab live (collecting)':<28}{ours:>10,.0f} tasks/s")
    print(f"{'ratio live / bare':<28}{ours / base:>10.2f}")


if __name__ == "__main__":
    main()
