"""Simulated against live p50/p95 sojourn for the shipped scenarios at two worker counts.

Each scenario is cut to a few hundred tasks and time-scaled so a live run takes well under a
minute; the simulation uses the same scenario, seed and draws (no calibration), with Celery's
wall-clock costs at that time scale (``sim.costs``).
Run: ``python bench/sim_vs_live.py [--scale 0.1] [--tasks 300]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from live.redis_server import private_redis  # noqa: E402
from live.run import run_live  # noqa: E402
from sim import costs, scenario  # noqa: E402
from sim.analysis.runs import summarize  # noqa: E402
from sim.engine.model import simulate  # noqa: E402

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--workers", default="4,8", help="two worker counts")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    print(f"time scale {args.scale}, {args.tasks} tasks; sojourn in scenario seconds")
    print(
        f"{'scenario':<12}{'workers':>8}{'sim p50':>9}{'live p50':>9}{'sim p95':>9}"
        f"{'live p95':>9}{'live wall s':>12}"
    )
    with private_redis() as url:
        for path in sorted(SCENARIOS.glob("*.toml")):
            for workers in counts:
                sc = scenario.load(path, [f"run.tasks={args.tasks}", f"workers.count={workers}"])
                if sc.arrivals.process == "burst":
                    sc = sc.replace(**{"arrivals.burst_size": args.tasks})
                sim = summarize(simulate(costs.at_time_scale(sc, args.scale)), sc)
                live_trace = run_live(sc, url, time_scale=args.scale)
                live = summarize(live_trace, sc, engine="live")
                print(
                    f"{sc.name:<12}{workers:>8}{sim.sojourn_p50:>9.3g}{live.sojourn_p50:>9.3g}"
                    f"{sim.sojourn_p95:>9.3g}{live.sojourn_p95:>9.3g}"
                    f"{live.makespan * args.scale:>12.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
