"""What queuelab's live worker costs a task beyond bare Celery with the same settings.

One scenario (``mmc``'s nodes: late ack, prefetch 1, prefork, concurrency 1, results in Redis)
gets ``--tasks`` tasks in one burst, each sleeping a constant ``--service`` scenario seconds ×
``--time-scale``, once through ``run_live`` and once through ``bench.bare_celery`` (the same
Celery settings, nodes and command line, no queuelab code in the node), alternated ``--runs``
times on one private redis-server. Per run it prints, from the first send to the last success:
CPU seconds per task of the nodes (main processes and pool children, from ``/proc``: a busy host
inflates them less than wall time) and of redis-server (``INFO cpu``), wall tasks per second,
the slot's cost per task (slots × wall span ÷ tasks − the sleep) and, for queuelab, the median
wall time from a STARTED row to its SUCCESS row beyond the sleep (the pool child's own round trips
and the result's write), then each figure's range and median.
Run: ``python bench/live_overhead.py [--tasks N] [--runs R] [--time-scale S]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import numpy as np
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from live.celery_app import ENV, LiveConfig, sending_app  # noqa: E402
from live.producer import produce  # noqa: E402
from live.redis_server import private_redis  # noqa: E402
from live.run import run_live  # noqa: E402
from live.run_keys import RESULT  # noqa: E402
from live.workers import worker_command  # noqa: E402
from sim import scenario  # noqa: E402
from sim.analysis.metrics import execution_spans  # noqa: E402
from sim.engine.draws import Draws  # noqa: E402
from sim.rules.states import SUCCESS  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass(frozen=True)
class Figures:
    """One run's costs per task, from its first send to its last success."""

    main_cpu: float  # CPU s of the nodes' main processes
    child_cpu: float  # CPU s of their pool children
    redis_cpu: float  # CPU s of redis-server
    rate: float  # tasks per wall second
    slot_cost: float  # wall s a slot spends on a task beyond its sleep
    execution: float = math.nan  # median wall s from STARTED to SUCCESS beyond the sleep


def descendants(pids: list[int]) -> list[int]:
    """``pids`` and every process below them (a node's pool children)."""
    parent = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found, todo = set(pids), list(pids)
    while todo:
        pid = todo.pop()
        kids = [child for child, up in parent.items() if up == pid and child not in found]
        found.update(kids)
        todo.extend(kids)
    return sorted(found)


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each of ``pids`` and their descendants."""
    spent = {}
    for pid in descendants(pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        spent[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return spent


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


class Meter:
    """CPU of the nodes and of Redis between ``start`` and ``stop``."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.pids: list[int] = []

    def start(self, pids: list[int]) -> None:
        self.pids = pids
        self.before, self.redis_before = cpu_seconds(pids), redis_cpu(self.client)

    def stop(self) -> None:
        after = cpu_seconds(self.pids)
        spent = {p: after[p] - self.before.get(p, 0.0) for p in after}
        self.main = sum(spent[p] for p in self.pids if p in spent)
        self.children = sum(spent.values()) - self.main
        self.redis = redis_cpu(self.client) - self.redis_before


def bench_scenario(tasks: int, service: float) -> scenario.Scenario:
    return scenario.load(str(ROOT / "scenarios" / "mmc.toml")).replace(
        **{
            "run.tasks": tasks,
            "arrivals.process": "burst",
            "arrivals.burst_size": tasks,
            "service.dist": "constant",
            "service.mean": service,
        }
    )


def figures(sc: scenario.Scenario, meter: Meter, span: float, time_scale: float) -> Figures:
    tasks, slots = sc.run.tasks, sum(pool.workers.concurrency for _, pool in sc.nodes)
    return Figures(
        meter.main / tasks,
        meter.children / tasks,
        meter.redis / tasks,
        tasks / span,
        slots * span / tasks - sc.task_types[0].service.mean * time_scale,
    )


def live(sc: scenario.Scenario, url: str, time_scale: float) -> Figures:
    """Through ``run_live``: the CPU from the nodes' ready to the last task's end."""
    meter = Meter(redis.Redis.from_url(url))
    total = sc.run.tasks

    def ended(done: int, _: int) -> None:
        if done == total and not hasattr(meter, "main"):
            meter.stop()

    trace = run_live(
        sc,
        url,
        time_scale,
        nodes=lambda pool: meter.start([p for p in pool.main_pids().values() if p]),
        progress=ended,
    )
    ran = figures(sc, meter, float(trace.t[trace.state == SUCCESS].max()) * time_scale, time_scale)
    spans = execution_spans(trace)
    beyond = (spans["end"] - spans["start"] - sc.task_types[0].service.mean) * time_scale
    return dataclasses.replace(ran, execution=float(np.median(beyond)))


def bare(sc: scenario.Scenario, url: str, time_scale: float) -> Figures:
    """Through ``bench.bare_celery``'s nodes, started and fed as ``run_live`` does."""
    client = redis.Redis.from_url(url)
    meter = Meter(client)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.toml"
        path.write_text(scenario.dumps(sc))
        config = LiveConfig(url, str(path), time_scale, sc.seed, uuid.uuid4().hex[:10])
        env = {**os.environ, ENV: config.to_env(), "PYTHONPATH": str(ROOT)}
        procs = []
        try:
            for name, pool in sc.nodes:
                cmd = worker_command(config.with_pool(pool.name), name, pool.workers.concurrency)
                cmd[cmd.index("live.worker_main")] = "bench.bare_celery"
                procs.append(
                    subprocess.Popen(
                        cmd,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            while client.hlen(config.key("ready")) < len(procs):
                time.sleep(0.1)
            meter.start([p.pid for p in procs])
            draws = Draws(sc, sc.seed)
            clock = config.clock.started(time.time() + 0.05)
            kinds = [draws.types[k] for k in draws.type_of.tolist()]
            ids = [RESULT + config.task_id(i) for i in range(len(kinds))]
            with sending_app(config) as app:
                produce(app, config, clock, draws.arrivals.tolist(), kinds, [])
                while (ends := done_at(client, ids)) is None:
                    time.sleep(0.05)
            meter.stop()
            return figures(sc, meter, max(ends) - clock.t0, time_scale)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait()
            client.delete(*ids, config.key("ready"))


def done_at(client: redis.Redis, keys: list[str]) -> list[float] | None:
    """Each task's wall time of success (its result's ``date_done``), None until all have one.
    The last task's result is looked at first: reading them all at every look cost Redis CPU
    the figures would count as the nodes' load."""
    if b"SUCCESS" not in (client.get(keys[-1]) or b""):
        return None
    ends = []
    for raw in client.mget(keys):
        meta = json.loads(raw) if raw else {}
        if meta.get("status") != "SUCCESS":
            return None
        ends.append(datetime.fromisoformat(meta["date_done"]).timestamp())
    return ends


# each figure: its heading and its unit's multiple of what Figures holds
COLUMNS = {
    "main_cpu": ("main ms", 1e3),
    "child_cpu": ("child ms", 1e3),
    "redis_cpu": ("redis ms", 1e3),
    "rate": ("tasks/s", 1.0),
    "slot_cost": ("slot ms", 1e3),
    "execution": ("exec ms", 1e3),
}


def show(label: str, f: Figures) -> None:
    cells = (getattr(f, k) * m for k, (_, m) in COLUMNS.items())
    print(f"{label:<10}" + "".join(f"{c:>10.2f}" for c in cells), flush=True)


def ranges(label: str, runs: list[Figures]) -> None:
    print(label)
    for key, (heading, m) in COLUMNS.items():
        values = [getattr(f, key) * m for f in runs]
        if not any(math.isnan(v) for v in values):
            low, high, middle = min(values), max(values), np.median(values)
            print(f"  {heading:<10}{low:>8.2f} - {high:<8.2f}(median {middle:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=600)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--time-scale", type=float, default=0.02)
    parser.add_argument("--service", type=float, default=1.0, help="scenario seconds per task")
    args = parser.parse_args()
    sc = bench_scenario(args.tasks, args.service)
    results: dict[str, list[Figures]] = {"bare": [], "queuelab": []}
    print(f"{args.tasks} tasks in a burst, 4 nodes x 1 slot, sleep {args.service:g} s", end="")
    print(
        f" x {args.time_scale:g}; CPU ms a task of the nodes' main processes, pool children, redis"
    )
    print(f"{'':<10}" + "".join(f"{heading:>10}" for heading, _ in COLUMNS.values()))
    with private_redis() as url:
        for _ in range(args.runs):
            for label, run in (("bare", bare), ("queuelab", live)):
                results[label].append(run(sc, url, args.time_scale))
                show(label, results[label][-1])
    for label, runs in results.items():
        ranges(label, runs)


if __name__ == "__main__":
    main()
