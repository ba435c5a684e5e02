"""How fast the simulator is, as ratios against baselines measured in the same run.

M/M/8 at ρ = 0.9, no failures, pre-drawn samples. Baselines: a minimal hand-written ``heapq``
event loop (the CPython floor for this queue), a naive SimPy model (a process per task and a
``Resource``), and Ciw when it is installed. Run: ``python bench/sim_speed.py [--tasks N]``.
"""

from __future__ import annotations

import argparse
import heapq
import time
from collections import deque

import numpy as np
import simpy

from sim import scenario
from sim.metrics import summarize
from sim.model import simulate

C, RATE, SERVICE = 8, 7.2, 1.0


def draws(n: int, seed: int = 1) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / RATE, n)).tolist()
    return arrivals, rng.exponential(SERVICE, n).tolist()


def heapq_mmc(arrivals: list[float], services: list[float], c: int) -> float:
    """The floor: one heap of events, a FIFO queue, no framework. Returns the mean wait."""
    events = [(t, 0, i) for i, t in enumerate(arrivals)]  # (time, kind 0=arrive 1=depart, task)
    heapq.heapify(events)
    queue: deque[int] = deque()
    free, total_wait = c, 0.0
    while events:
        t, kind, i = heapq.heappop(events)
        if kind == 1:
            free += 1
        else:
            queue.append(i)
        while free and queue:
            j = queue.popleft()
            free -= 1
            total_wait += t - arrivals[j]
            heapq.heappush(events, (t + services[j], 1, j))
    return total_wait / len(arrivals)


def naive_simpy(arrivals: list[float], services: list[float], c: int) -> float:
    """The usual SimPy tutorial model: a process per task waiting on a Resource."""
    env = simpy.Environment()
    servers = simpy.Resource(env, c)
    waits: list[float] = []

    def task(i: int):
        with servers.request() as req:
            yield req
            waits.append(env.now - arrivals[i])
            yield env.timeout(services[i])

    def source():
        last = 0.0
        for i, t in enumerate(arrivals):
            yield env.timeout(t - last)
            last = t
            env.process(task(i))

    env.process(source())
    env.run()
    return float(np.mean(waits))


def ciw_mmc(n: int) -> float | None:
    try:
        import ciw
    except ImportError:
        return None
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(RATE)],
        service_distributions=[ciw.dists.Exponential(1 / SERVICE)],
        number_of_servers=[C],
    )
    ciw.seed(1)
    sim = ciw.Simulation(network)
    sim.simulate_until_max_customers(n, method="Finish")
    return float(np.mean([r.waiting_time for r in sim.get_all_records()]))


def queuelab_mmc(n: int) -> float:
    sc = scenario.load(None).replace(
        **{
            "run.tasks": n,
            "arrivals.rate": RATE,
            "workers.count": C,
            "workers.prefetch_multiplier": 1,
            "ack.late": True,
        }
    )
    return summarize(simulate(sc), C).wait_mean


def timed(fn, *args) -> tuple[float, float]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def peak_rss_per_million(n: int) -> float:
    """Peak resident memory (MiB) of a fresh process that simulates ``n`` tasks, per million."""
    import subprocess
    import sys

    code = (
        "import resource, sys; sys.path.insert(0, sys.argv[2]); from bench.sim_speed import "
        "queuelab_mmc; queuelab_mmc(int(sys.argv[1])); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    root = str(__import__("pathlib").Path(__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code, str(n), root], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[-1]) / 1024 / (n / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for each engine")
    args = parser.parse_args()
    n = args.tasks
    arrivals, services = draws(n)
    rows = {
        "heapq floor": lambda: timed(heapq_mmc, arrivals, services, C),
        "naive SimPy": lambda: timed(naive_simpy, arrivals, services, C),
        "queuelab (full semantics, trace kept)": lambda: timed(queuelab_mmc, n),
        "Ciw": lambda: timed(ciw_mmc, n),
    }
    results = {}
    for name, run in rows.items():
        best = min((run() for _ in range(args.repeat)), key=lambda r: r[0])
        if best[1] is not None:
            results[name] = best
    floor = results["heapq floor"][0]
    print(f"M/M/{C} at rho = {RATE * SERVICE / C:.2f}, {n:,} tasks, best of {args.repeat}")
    print(f"{'engine':<40}{'seconds':>9}{'tasks/s':>12}{'x floor':>9}{'mean wait':>11}")
    for name, (seconds, wait) in results.items():
        print(f"{name:<40}{seconds:>9.3f}{n / seconds:>12,.0f}{seconds / floor:>9.2f}{wait:>11.3f}")
    print(f"peak RSS of a queuelab run: {peak_rss_per_million(n):,.0f} MiB per million tasks")


if __name__ == "__main__":
    main()
