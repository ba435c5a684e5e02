"""What one Explore-page rerun computes, for a 20k-task scenario, against the heapq floor.

A widget change reruns the page: simulate the scenario, summarize it, draw its CDF and
timeline, and sweep worker counts for the trade-off chart (Streamlit's cache misses, since
the scenario changed). A worker-slider move within the swept range reuses the cached sweep
(``explore.sweep_plan``), so it costs the rest. Timed here without Streamlit: compute only.
Run: ``python bench/app_rerun.py [--tasks N]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
logging.getLogger("streamlit").setLevel(logging.ERROR)  # st.cache_data outside a running app

from bench.sim_speed import draws, heapq_mmc  # noqa: E402
from sim import scenario  # noqa: E402
from sim.analysis.metrics import busy_slots, queue_length, sojourns, waits  # noqa: E402
from sim.analysis.runs import summarize  # noqa: E402
from sim.analysis.sweep import sweep  # noqa: E402
from sim.engine.model import simulate  # noqa: E402
from ui import charts, explore  # noqa: E402


def rerun(sc: scenario.Scenario) -> dict[str, float]:
    """Seconds of each part of the page's compute."""
    parts = {}
    start = time.perf_counter()
    trace = simulate(sc)
    parts["simulate"] = time.perf_counter() - start
    start = time.perf_counter()
    summarize(trace, sc)
    charts.cdf({"wait": waits(trace), "sojourn": sojourns(trace)}, "cdf")
    charts.steps({"queued": queue_length(trace), "busy": busy_slots(trace)}, "timeline", "n")
    parts["summary and charts"] = time.perf_counter() - start
    start = time.perf_counter()
    swept, counts = explore.sweep_plan(sc, sc)
    sweep(swept, list(counts), reps=explore.SWEEP_REPS, processes=1)
    parts[f"sweep ({len(counts)} counts × {explore.SWEEP_REPS})"] = time.perf_counter() - start
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sc = scenario.load("scenarios/mmc.toml", [f"run.tasks={args.tasks}"])
    arrivals, services = draws(args.tasks)
    floor = min(_timed(heapq_mmc, arrivals, services, sc.workers.count) for _ in range(5))
    runs = [rerun(sc) for _ in range(args.repeat)]
    best = {part: min(r[part] for r in runs) for part in runs[0]}
    total = sum(best.values())
    print(f"Explore rerun of scenarios/mmc.toml with {args.tasks:,} tasks, best of {args.repeat}")
    print(f"{'part':<32}{'seconds':>9}{'x floor':>9}")
    for part, seconds in best.items():
        print(f"{part:<32}{seconds:>9.3f}{seconds / floor:>9.1f}")
    print(f"{'total':<32}{total:>9.3f}{total / floor:>9.1f}")
    slider = total - best[next(part for part in best if part.startswith("sweep"))]
    print(f"{'worker-slider move (sweep cached)':<32}{slider:>9.3f}{slider / floor:>9.1f}")
    print(f"(floor: heapq M/M/c of the same {args.tasks:,} tasks, {floor:.4f} s)")


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
