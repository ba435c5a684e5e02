"""How fast the simulator is, as ratios against baselines measured in the same run.

M/M/8 at ρ = 0.9, no failures, pre-drawn samples. Baselines: a minimal hand-written ``heapq``
event loop (the CPython floor for this queue), the same queue as bare SimPy callbacks (SimPy's own
floor: two events a task, no semantics), those callbacks also writing queuelab's trace (what is
left above it is the cost of the semantics), a naive SimPy model (a process per task and a
``Resource``), and Ciw. queuelab's time is split into the simulation (full semantics, trace kept
as columns) and the summary of its trace (``runs.summarize``: the summary a summary-only run
gives, by task type, queue and pool too); the same queue with Celery's own costs in the model
(the default ``overhead.model``) is timed too. Every engine runs with the cycle collector paused.
Run: ``python bench/sim_speed.py [--tasks N] [--profile]``; Ciw and the profile need
``pip install -e ".[bench]"`` (Ciw, py-spy).
"""

from __future__ import annotations

import argparse
import heapq
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from pathlib import Path

import numpy as np
import simpy

from sim import compiled, scenario
from sim.analysis import runs
from sim.engine.broker import Delivery, Message
from sim.engine.model import cyclic_gc_paused, simulate
from sim.rules.states import PENDING, RECEIVED, STARTED, SUCCESS
from sim.trace import Recorder

C, RATE, SERVICE = 8, 7.2, 1.0


def draws(n: int, seed: int = 1) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / RATE, n)).tolist()
    return arrivals, rng.exponential(SERVICE, n).tolist()


def heapq_mmc(arrivals: list[float], services: list[float], c: int) -> float:
    """The floor: one heap of events, a FIFO queue, no framework. Returns the mean wait.

    Each arrival is pushed when the one before it is taken, as every engine here does, so the
    heap holds at most c + 1 events; heaping all arrivals up front makes every pop climb a heap
    of all of them, and the loop two to three times slower at 200k–1M tasks.
    """
    events = [(arrivals[0], 0, 0)]  # (time, kind 0=arrive 1=depart, task)
    queue: deque[int] = deque()
    free, total_wait = c, 0.0
    while events:
        t, kind, i = heapq.heappop(events)
        if kind == 1:
            free += 1
        else:
            queue.append(i)
            if i + 1 < len(arrivals):
                heapq.heappush(events, (arrivals[i + 1], 0, i + 1))
        while free and queue:
            j = queue.popleft()
            free -= 1
            total_wait += t - arrivals[j]
            heapq.heappush(events, (t + services[j], 1, j))
    return total_wait / len(arrivals)


def simpy_callbacks(arrivals: list[float], services: list[float], c: int) -> float:
    """SimPy's floor for this queue: a callback on each Timeout, no process, no semantics."""
    env = simpy.Environment()
    queue: deque[int] = deque()
    state = {"free": c, "wait": 0.0}

    def start(j: int) -> None:
        state["free"] -= 1
        state["wait"] += env.now - arrivals[j]
        env.timeout(services[j]).callbacks.append(depart)

    def depart(_) -> None:
        state["free"] += 1
        if queue:
            start(queue.popleft())

    def arrive(event) -> None:
        i = event.value
        if state["free"]:
            start(i)
        else:
            queue.append(i)
        if i + 1 < len(arrivals):
            env.timeout(arrivals[i + 1] - env.now, i + 1).callbacks.append(arrive)

    env.timeout(arrivals[0], 0).callbacks.append(arrive)
    env.run()
    return state["wait"] / len(arrivals)


def simpy_with_trace(arrivals: list[float], services: list[float], c: int) -> float:
    """The bare SimPy queue plus what any model writing queuelab's trace must do: a message and
    a delivery per task and four rows (PENDING, RECEIVED, STARTED, SUCCESS) kept as columns by
    the real ``Recorder``. No prefetch, acks, retries or failures: what is left above this is the
    cost of the semantics."""
    env = simpy.Environment()
    recorder = Recorder()
    row = recorder.rows.append
    queue: deque[Message] = deque()
    idle = deque(range(c))
    unacked: deque[Delivery] = deque()
    state = {"wait": 0.0}

    def start(message: Message, worker: int) -> None:
        now = env.now
        unacked.append(Delivery(message, now + 3600.0))
        row((message.task, 0, RECEIVED, now, worker))
        row((message.task, 0, STARTED, now, worker))
        state["wait"] += now - arrivals[message.task]
        env.timeout(services[message.task], (message, worker)).callbacks.append(finish)

    def finish(event) -> None:
        message, worker = event.value
        row((message.task, 0, SUCCESS, env.now, worker))
        if len(recorder.rows) >= Recorder.CHUNK:
            recorder.pack()
        message.ack()
        if queue:
            start(queue.popleft(), worker)
        else:
            idle.append(worker)

    def arrive(event) -> None:
        i = event.value
        row((i, 0, PENDING, env.now, -1))
        if idle:
            start(Message(i, 0), idle.popleft())
        else:
            queue.append(Message(i, 0))
        if i + 1 < len(arrivals):
            env.timeout(arrivals[i + 1] - env.now, i + 1).callbacks.append(arrive)

    env.timeout(arrivals[0], 0).callbacks.append(arrive)
    env.run()
    recorder.trace()
    return state["wait"] / len(arrivals)


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


def mmc_scenario(n: int) -> scenario.Scenario:
    return scenario.load(None).replace(
        **{
            "run.tasks": n,
            "arrivals.rate": RATE,
            "workers.count": C,
            "workers.prefetch_multiplier": 1,
            "ack.late": True,
            "overhead.model": "none",  # the textbook queue the baselines simulate
        }
    )


def queuelab_mmc(n: int) -> float:
    """Simulate ``n`` tasks keeping the trace and summarize it by task type, queue and pool
    too, as ``queuelab simulate --trace`` does: the summary the summary-only run gives, so
    the two rows compare the recorders, not two summaries."""
    return runs.summarize(simulate(mmc_scenario(n)), mmc_scenario(n)).wait_mean


def celery_scenario(n: int) -> scenario.Scenario:
    """The same queue with Celery's own costs, as users run it (``overhead.model = "celery"``):
    a drawn delivery and a hand-over per task, two events more than the textbook queue's two."""
    return mmc_scenario(n).replace(**{"overhead.model": "celery"})


def queuelab_celery(n: int) -> None:
    """Simulate ``celery_scenario(n)``, keeping its trace as ``queuelab simulate`` does."""
    simulate(celery_scenario(n))


def queuelab_summary_only(n: int) -> float:
    """The same run keeping no trace (``sim.tally``), summarized by task type, queue and pool
    too, as sweeps and ``--json`` run it (``runs.simulated``)."""
    return runs.simulated(mmc_scenario(n)).wait_mean


def timed(fn, *args) -> tuple[float, float]:
    """Seconds ``fn`` takes and its result, with the cycle collector paused for every engine
    alike, as queuelab pauses it during a run."""
    with cyclic_gc_paused():
        start = time.perf_counter()
        result = fn(*args)
        return time.perf_counter() - start, result


CHILD = """
import sys
sys.path.insert(0, sys.argv[2])
from bench import sim_speed
import numpy.random  # imported by a run's first draw: 2.7 MiB of code whatever the run's length

def status(field):  # kB; VmHWM is this process's own peak (ru_maxrss keeps the parent's)
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

base = status("VmRSS")
getattr(sim_speed, sys.argv[3])(int(sys.argv[1]))
print(base, status("VmHWM"))
"""
ROOT = Path(__file__).resolve().parent.parent


def child(n: int, run: str = "queuelab_mmc") -> list[str]:
    """A fresh process that simulates and summarizes ``n`` tasks (``run``: the function that
    does), then prints its memory."""
    return [sys.executable, "-c", CHILD, str(n), str(ROOT), run]


def peak_rss(n: int, run: str = "queuelab_mmc") -> tuple[float, float]:
    """Peak resident memory (MiB) of a fresh process simulating and summarizing ``n`` tasks,
    and how much of it the run added over the process with everything imported."""
    out = subprocess.run(child(n, run), capture_output=True, text=True, check=True)
    base, peak = (int(v) / 1024 for v in out.stdout.split())
    return peak, peak - base


FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")


def profile(n: int) -> None:
    """Where queuelab's time goes, sampled by py-spy from outside the process (a tracing
    profiler such as cProfile slows each call, and so inflates call-heavy code)."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        print('\n(py-spy not installed: pip install -e ".[bench]")')
        return
    with tempfile.TemporaryDirectory() as tmp:
        stacks = Path(tmp) / "stacks.txt"
        command = [spy, "record", "--rate", "1000", "--format", "raw", "--output", str(stacks)]
        done = subprocess.run([*command, "--", *child(n)], capture_output=True, text=True)
        if done.returncode:
            print(f"\n(py-spy could not profile: {done.stderr.strip()})")  # e.g. no ptrace
            return
        lines = stacks.read_text().splitlines()
    own: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    for line in lines:
        stack, count = line.rsplit(" ", 1)
        frames = [FRAME.match(f) for f in stack.split(";")]
        functions = {f["function"] for f in frames if f}
        if "queuelab_mmc" not in functions or "_find_and_load" in functions or not frames[-1]:
            continue  # start-up, and modules NumPy imports on first use
        function, file = frames[-1]["function"], short(frames[-1]["file"])
        own[f"{function} ({file})"] += int(count)
        by_file[file] += int(count)
    total = sum(own.values())
    print(f"\nprofile of one simulation and summary of {n:,} tasks, py-spy, {total:,} samples")
    print("own time by file:")
    for file, count in by_file.most_common(8):
        print(f"{100 * count / total:6.1f} %  {file}")
    print("own time by function:")
    for function, count in own.most_common(20):
        print(f"{100 * count / total:6.1f} %  {function}")


def short(file: str) -> str:
    """A source file as a reader finds it: inside the repository or the installed package."""
    for prefix in (f"{ROOT}/", "site-packages/"):
        if prefix in file:
            return file.split(prefix, 1)[1]
    return file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for each engine")
    parser.add_argument("--profile", action="store_true", help="also print a py-spy profile")
    args = parser.parse_args()
    n = args.tasks
    arrivals, services = draws(n)
    sc = mmc_scenario(n)
    traces = []

    def simulated():
        traces.append(simulate(sc))
        return None

    rows = {
        "heapq floor": lambda: timed(heapq_mmc, arrivals, services, C),
        "SimPy callbacks (bare M/M/c)": lambda: timed(simpy_callbacks, arrivals, services, C),
        "SimPy callbacks + queuelab's trace": lambda: timed(
            simpy_with_trace, arrivals, services, C
        ),
        "naive SimPy": lambda: timed(naive_simpy, arrivals, services, C),
        "Ciw": lambda: timed(ciw_mmc, n),
        "queuelab simulate": lambda: timed(simulated),
        "queuelab summary": lambda: timed(lambda: runs.summarize(traces[-1], sc).wait_mean),
        "queuelab summary-only run": lambda: timed(queuelab_summary_only, n),
        "queuelab simulate, Celery's costs": lambda: timed(queuelab_celery, n),
    }
    results = {}
    for name, run in rows.items():
        best = min((run() for _ in range(args.repeat)), key=lambda r: r[0])
        if name.startswith("queuelab simulate") or best[1] is not None:
            results[name] = best
    simulate_s = results.pop("queuelab simulate")[0]
    summary_s, wait = results.pop("queuelab summary")
    results["queuelab simulate"] = (simulate_s, None)
    results["queuelab summary"] = (summary_s, None)
    results["queuelab total (full semantics)"] = (simulate_s + summary_s, wait)
    results["queuelab summary-only run"] = results.pop("queuelab summary-only run")
    results["queuelab simulate, Celery's costs"] = results.pop("queuelab simulate, Celery's costs")
    floor = results["heapq floor"][0]
    build = "compiled (mypyc, sim.compiled)" if compiled.in_use() else "pure Python"
    print(f"M/M/{C} at rho = {RATE * SERVICE / C:.2f}, {n:,} tasks, best of {args.repeat}; {build}")
    print(f"{'engine':<36}{'seconds':>9}{'tasks/s':>12}{'x floor':>9}{'mean wait':>11}")
    for name, (seconds, wait) in results.items():
        shown = f"{wait:>11.3f}" if wait is not None else ""
        print(f"{name:<36}{seconds:>9.3f}{n / seconds:>12,.0f}{seconds / floor:>9.2f}{shown}")
    if "Ciw" not in results:
        print('(Ciw not installed: pip install -e ".[bench]")')
    for what, run in (
        ("with its trace", "queuelab_mmc"),
        ("summary-only", "queuelab_summary_only"),
    ):
        peak, added = peak_rss(n, run)
        print(
            f"peak RSS of a queuelab run {what}: {peak:,.0f} MiB, {added:,.0f} MiB over the "
            f"imports: {added / (n / 1e6):,.0f} MiB per million tasks"
        )
    if args.profile:
        profile(n)


if __name__ == "__main__":
    main()
