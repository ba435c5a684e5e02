"""Simulated against live, as ``queuelab compare`` judges them, for every shipped scenario at
several time scales: issue #14's fidelity table.

Each scenario is cut to ``--tasks`` tasks (a burst scenario's bursts to that many) and run live
on a private redis-server, then simulated beside the run (``compare.simulated_beside``: the same
seed and draws, the live producer's send times as arrivals, Celery's wall-clock costs at the
run's time scale). Celery's costs as ``compare`` takes them by default: measured on this host
by ``live.probe`` just before each run (where the probe fits none, the scenario's own, as
``compare`` does; ``--costs scenario``: the scenario's own, a textbook scenario's with
``overhead.model = "celery"``, as ``compare`` advises). A row says the worst
latency figure (wait and sojourn mean/p50/p95/p99, relative to the simulation; within 0.05 s of
each other counts as equal, as in ``compare``), the Kolmogorov-Smirnov distances of waits and
sojourns, and whether all are within the target (15 %, KS <= 0.1). How busy the host's CPUs
were over the live run is printed with each row (``live.host_cpu``): Celery's costs grow with
it, and from 75 % ``compare`` names it as a timing miss's cause.

With ``--again`` each scenario runs live a second time right after, on the same seed and draws,
and the row also judges that run against the first by the same target: how far the real queue
is from itself, the floor under any model's miss.

Run: ``python bench/sim_vs_live.py [--scales 0.02,0.1,0.5] [--tasks 300] [--only mmc,...]
[--again]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from live.host_cpu import BusyShare  # noqa: E402
from live.probe import HostCosts, host_costs  # noqa: E402
from live.redis_server import private_redis  # noqa: E402
from live.run import check_live, run_live  # noqa: E402
from sim import scenario  # noqa: E402
from sim.analysis.calibrate import CalibrationError, Fit, fit_overheads  # noqa: E402
from sim.analysis.compare import Comparison, compare, simulated_beside  # noqa: E402
from sim.scenario import Scenario, ScenarioError  # noqa: E402

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
LATENCY = tuple(f"{k}_{q}" for k in ("wait", "sojourn") for q in ("mean", "p50", "p95", "p99"))
TOLERANCE, KS_TARGET = 0.15, 0.1


def cut(path: Path, tasks: int) -> Scenario:
    """The shipped scenario at ``tasks`` tasks, with Celery's costs in its model."""
    sc = scenario.load(path, [f"run.tasks={tasks}", "overhead.model=celery"])
    if sc.arrivals.process == "burst":
        sc = sc.replace(**{"arrivals.burst_size": min(sc.arrivals.burst_size, tasks)})
    return sc


def row(sc: Scenario, url: str, time_scale: float, probe: bool, again: bool) -> str:
    """One scenario at one time scale, live then simulated beside it: the fidelity row. With
    ``probe``, simulated with Celery's costs as the probe measured them just before the run;
    with ``again``, also the verdict of a second live run against the first."""
    costs = probed_costs(sc, url, time_scale) if probe else None
    simulated = sc.replace(**costs.fields(sc)) if costs else sc
    began, host = time.monotonic(), BusyShare()
    live = run_live(sc, url, time_scale=time_scale, host=host)
    wall = time.monotonic() - began
    sim = simulated_beside(simulated, live, time_scale)
    result = compare(sc, sim, live, TOLERANCE, host_busy=host.share)
    repeat = ""
    if again:
        second = compare(sc, run_live(sc, url, time_scale=time_scale), live, TOLERANCE)
        repeat = f" {' | '.join(verdict(second))} |"
    return (
        f"| {sc.name} | {time_scale:g} | {wall:.0f} | {host.share or 0:.0%} | "
        f"{' | '.join(verdict(result))} | "
        f"{sc.run.tasks / host.seconds:.0f} | {probed(costs, probe)} | "
        f"{costs_seen(sc, live, time_scale)} |{repeat}"
    )


def verdict(result: Comparison) -> tuple[str, ...]:
    """Latency figures within the target, the worst miss, the KS distances and the verdict."""
    latency = [f for f in result.figures if f.figure in LATENCY]
    missed = [f for f in latency if not f.ok]
    ok = not missed and max(result.ks_wait, result.ks_sojourn) <= KS_TARGET
    worst_text = "-"
    if missed:
        worst = max(missed, key=lambda f: abs(f.relative_difference or 1e9))
        diff = worst.relative_difference
        worst_text = f"{worst.figure} " + (f"{diff:+.0%}" if diff is not None else "(sim 0)")
    return (
        f"{len(latency) - len(missed)}/{len(latency)}",
        worst_text,
        f"{result.ks_wait:.2f}",
        f"{result.ks_sojourn:.2f}",
        "match" if ok else "miss",
    )


def costs_seen(sc: Scenario, live, time_scale: float) -> str:
    """What Celery cost on this run, as calibrate would fit it: what a miss is made of."""
    try:
        return ms(fit_overheads(live, sc, None, time_scale))
    except CalibrationError:
        return "-"


def probed_costs(sc: Scenario, url: str, time_scale: float) -> HostCosts | None:
    """Celery's costs as the probe measures them before the run; None where it fitted none
    (too few of its tasks found a slot idle), and the run is then simulated with the
    scenario's own, as ``compare`` does: a row, not the table's end."""
    try:
        return host_costs(sc, time_scale, url)
    except CalibrationError:
        return None


def probed(costs: HostCosts | None, probe: bool) -> str:
    """What the probe measured, as ``ms`` shows a fit, and a pool process's start (ms)."""
    if costs is None:
        return "not fitted: the scenario's own" if probe else "-"
    start = costs.process_start
    return ms(costs.fit) + ("" if start is None else f" / start {start * 1000:.0f}")


def ms(fit: Fit | None) -> str:
    """Fitted costs as wall ms: the delivery's least time + its spread, record, hand-over."""
    if fit is None:
        return "-"
    handover = "-" if fit.handover is None else f"{fit.handover * 1000:.1f}"
    delivery = f"{fit.delivery * 1000:.1f}+{fit.delivery_spread * 1000:.1f}"
    return f"{delivery} / {fit.record * 1000:.1f} / {handover}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default="0.02,0.1,0.5", help="time scales, comma-separated")
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--only", default="", help="scenario names, comma-separated")
    parser.add_argument(
        "--costs",
        choices=("host", "scenario"),
        default="host",
        help="Celery's costs simulated: probed on this host before each run (as compare does), "
        "or the scenario's own",
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="run each scenario live a second time on the same draws and judge it against the "
        "first: the real queue's own repeatability",
    )
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    paths = [p for p in sorted(SCENARIOS.glob("*.toml")) if not only or p.stem in only]
    print(
        f"{args.tasks} tasks a scenario; latency figures within {TOLERANCE:.0%} "
        f"(or 0.05 s), KS <= {KS_TARGET}; {os.cpu_count()} cores"
    )
    print(
        "| scenario | time scale | live wall s | host CPU busy | latency ok | worst miss | "
        "KS wait | KS sojourn | verdict | tasks/s wall | probed delivery / r / h ms | "
        "seen delivery / r / h ms |"
        + (" again: latency ok | worst | KS wait | KS sojourn | verdict |" if args.again else "")
    )
    print("| --- " * (17 if args.again else 12) + "|")
    with private_redis() as url:
        for path in paths:
            sc = cut(path, args.tasks)
            try:
                check_live(sc)
            except ScenarioError as err:
                rest = " - |" * (11 if args.again else 6)
                print(f"| {sc.name} | - | - | - | - | not run live: {err} |" + rest)
                continue
            for time_scale in (float(s) for s in args.scales.split(",")):
                print(row(sc, url, time_scale, args.costs == "host", args.again), flush=True)


if __name__ == "__main__":
    main()
