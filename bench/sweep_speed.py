"""Sweep speed: 16 worker counts × 5 replications × N tasks, in parallel against serial.

Both sweeps run in this process's run, on the same scenario (M/M/c shape, ρ from 0.95 down);
the figure is wall time and the parallel speed-up. Run: ``python bench/sweep_speed.py``
(``--tasks 100000`` for the full 8M-task sweep; the default is lighter).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim import scenario  # noqa: E402
from sim.analysis.sweep import sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
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
    jobs = len(counts) * args.reps
    timings, busy = {}, 0.0
    for label, processes in (("serial", 1), (f"parallel ({os.cpu_count()} processes)", None)):
        children = _children_cpu()
        start = time.perf_counter()
        points = sweep(sc, counts, reps=args.reps, processes=processes)
        timings[label] = time.perf_counter() - start
        busy = (_children_cpu() - children) / (timings[label] * (os.cpu_count() or 1))
    serial = timings["serial"]
    print(
        f"{len(counts)} worker counts x {args.reps} reps x {args.tasks:,} tasks "
        f"= {jobs * args.tasks:,} simulated tasks"
    )
    for label, seconds in timings.items():
        print(f"{label:<28}{seconds:>8.2f} s   speed-up {serial / seconds:>5.2f}x")
    print(f"cores busy during the parallel sweep: {busy:.0%} (CPU time of the worker processes)")
    print(
        f"p95 sojourn at {counts[0]} workers: {points[0].sojourn_p95.mean:.3g} s; "
        f"at {counts[-1]}: {points[-1].sojourn_p95.mean:.3g} s"
    )


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the sweep's worker processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
