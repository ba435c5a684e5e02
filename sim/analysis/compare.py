"""Simulated against real: every summary figure side by side, the distance between their wait
and sojourn distributions, their state flows, and a verdict per figure.

Pure: it reads a scenario and two runs of it (any engines), so the CLI, the app and the tests
share it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

import numpy as np

from sim import costs
from sim.analysis.metrics import Summary, first_time, sojourns, state_flows, waits
from sim.analysis.runs import summarize
from sim.engine.backend import Progress
from sim.engine.distributions import service_mean
from sim.engine.draws import Draws
from sim.engine.model import simulate
from sim.rules.states import PENDING
from sim.scenario import Pool, Scenario
from sim.trace import Trace

# Figures compared, and what usually explains a miss when the live run is the slower one.
LIKELY_CAUSE = {
    "wait": "per-task broker round trips and prefetch reservations the model does not charge "
    "(calibrate fits Celery's delivery, overhead.delivery)",
    "sojourn": "result-backend writes and task start-up on the worker (calibrate overhead.record)",
    "throughput": "workers starting up or Celery's per-task overhead at this time scale",
    "utilization": "time a slot spends outside the task body (ack, backend writes)",
    "makespan": "workers starting late or a slow drain",
    "queue_len": "waits longer than modelled: prefetch or dispatch overhead",
    "worker_seconds": "pool processes forked more slowly than workers.process_start, or shrunk "
    "on another tick of the keepalive timer",
    "node_seconds": "a longer queue at the node autoscaler's polls (it asks for ceil(LLEN / "
    "node_target) nodes and keeps them node_cooldown: a wait miss moves it), or nodes that "
    "consumed sooner after the poll that added them than workers.node_start",
}
COMPARED = (
    "tasks_succeeded",
    "tasks_failed",
    "tasks_lost",
    "executions",
    "retries",
    "duplicate_executions",
    "wait_mean",
    "wait_p50",
    "wait_p95",
    "wait_p99",
    "sojourn_mean",
    "sojourn_p50",
    "sojourn_p95",
    "sojourn_p99",
    "throughput",
    "utilization",
    "queue_len_mean",
    "makespan",
)
# Figures of each task type, pool and queue, compared where the scenario has several of them:
# the overall figure averages them, so a pool 16 % busier live than simulated beside an idler
# one missed nothing. A type's read "thumbnail.wait_p95" (as they always have), a pool's and a
# queue's "by_pool.fast.utilization", as a lesson and ``simulate --reps`` name them.
PER_GROUP = {
    "by_task": ("wait_mean", "wait_p95", "sojourn_mean", "sojourn_p95", "throughput"),
    "by_pool": ("utilization", "worker_seconds", "node_seconds"),
    "by_queue": ("queue_len_mean",),
}
# what a pool whose capacity varies had, by the cost that counts it: its utilisation is over it
HAD = {"worker_seconds": "the pool processes it had", "node_seconds": "the nodes it had"}
# host CPU busy share over the live run from which its timings are the host's: measured on 2
# cores (bench/sim_vs_live.py), the runs that missed by hundreds of percent had 74-80 % busy
# cores and Celery's costs 2-4 times their defaults; at 25-65 % the misses were the model's
SATURATED = 0.75
# what to do about a saturated host, where it is said: the CLI's words (the app names its control)
SLOWER = "run at a larger --time-scale"
TIMING = ("wait", "sojourn", "throughput", "utilization", "makespan", "queue_len", *HAD)


@dataclass(frozen=True)
class FigureComparison:
    figure: str
    sim: float
    live: float
    relative_difference: float | None  # (live − sim) / sim; None when sim is 0
    ok: bool
    likely_cause: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    figures: list[FigureComparison]
    ks_wait: float  # two-sample Kolmogorov–Smirnov distance
    ks_sojourn: float
    flows_sim: dict[str, int]
    flows_live: dict[str, int]
    tolerance: float
    host_busy: float | None = None  # the host's CPU busy share over the live run, if known
    absolute: float = 0.05  # a figure this close (seconds, tasks) is ok whatever its percent

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.figures)

    def headline(self) -> str:
        """The verdict in one line: match, or how many figures missed, the worst and why; the
        allowance said in full (a -28 % row under "within 15%" passed on the absolute one)."""
        allowed = f"{self.tolerance:.0%} (or {self.absolute:g} apart)"
        missed = [f for f in self.figures if not f.ok]
        if not missed:
            return f"match: every figure within {allowed}"
        worst = max(missed, key=lambda f: abs(f.relative_difference or float("inf")))
        diff = percent(worst.relative_difference)
        if worst.relative_difference is None:  # "worst tasks_lost -:" said no number at all
            diff = f"({worst.sim:g} simulated, {worst.live:g} live)"
        return (
            f"miss: {len(missed)} of {len(self.figures)} figures outside {allowed}; "
            f"worst {worst.figure} {diff}: {worst.likely_cause}"
        )

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "headline": self.headline(),
            "tolerance": self.tolerance,
            "figures": [f.to_dict() for f in self.figures],
            "ks": {"wait": self.ks_wait, "sojourn": self.ks_sojourn},
            "state_flows": {"sim": self.flows_sim, "live": self.flows_live},
            "host_busy": self.host_busy,
        }


def sent_times(live: Trace) -> np.ndarray | None:
    """Per task in task order, when the live run's producer sent it (its first PENDING row);
    None if some task was never sent (a run stopped early: the drawn arrivals then) or the
    trace's ids are not its tasks' numbers."""
    sent, numbers = first_time(live, PENDING), live.task_numbers()
    if not len(sent) or np.isnan(sent).any() or numbers is None:
        return None
    order = np.argsort(numbers)  # a trace read from a file lists its ids in string order
    if not np.array_equal(numbers[order], np.arange(len(numbers))):
        return None
    return np.maximum.accumulate(sent[order])  # sent in task order: a clock step back reorders none


def simulated_beside(
    scenario: Scenario,
    live: Trace,
    time_scale: float,
    seed: int | None = None,
    progress: Progress | None = None,
) -> Trace:
    """The simulation to lay beside a live run of ``scenario``: Celery's wall-clock costs at
    the run's time scale, its nodes' restore scans as the live run sets kombu
    (``costs.beside_live_run``), and the live producer's send times as the arrivals. A producer
    sends a message every few milliseconds, so at a small time scale a burst the scenario
    puts at one instant reached Redis over seconds of scenario time; simulated at the drawn
    instants, every task of it would have waited longer than on the real queue."""
    at = costs.beside_live_run(scenario, time_scale)
    return simulate(at, seed, progress, arrivals=sent_times(live))


SET_COSTS = "add --set overhead.model=celery to compare like with like"  # the CLI's remedy


def costless(scenario: Scenario, time_scale: float, remedy: str = SET_COSTS) -> str | None:
    """What to say when the simulation leaves out Celery's own costs that a live run pays
    (``overhead.model = "none"``, the textbook queue): at a small time scale they can be a
    large part of each task, and then no figure compares like with like. ``remedy`` is what
    the reader can do where it is said (the app has no --set)."""
    if scenario.overhead.model != "none":
        return None
    celery = scenario.replace(**{"overhead.model": "celery"})
    cost = costs.handover(celery)
    share = cost / time_scale / service_mean(scenario.service)
    return (
        'the scenario sets overhead.model = "none": its simulation leaves out Celery\'s own '
        f"per-task costs, which the live run pays (about {cost * 1000:.0f} ms wall a task, "
        f"{share:.0%} of a mean task at time scale {time_scale:g}); {remedy}"
    )


def producer_lag(scenario: Scenario, sim: Trace, seed: int | None = None) -> float:
    """How far (scenario seconds) the simulated arrivals ``sim`` replayed fell behind the
    scenario's drawn ones: 0 when they are the drawn ones."""
    drawn = Draws(scenario, seed).arrivals
    sent = first_time(sim, PENDING)
    return float(np.nanmax(sent - drawn, initial=0.0)) if len(sent) == len(drawn) else 0.0


def relative_difference(sim: float, live: float) -> float | None:
    if sim == 0:
        return None if live != 0 else 0.0
    return (live - sim) / abs(sim)


def live_was_slower(figure: str, diff: float) -> bool:
    """Whether a difference means the live run was slower: a higher wait, sojourn, makespan,
    queue or utilisation (slots busy outside the task body), a lower throughput."""
    return diff < 0 if figure == "throughput" else diff > 0


def _cause(
    figure: str, diff: float | None, host_busy: float | None = None, slower: str = SLOWER
) -> str:
    figure = figure.rpartition(".")[2]  # "thumbnail.wait_p95": the cause of a wait_p95 miss
    if host_busy is not None and host_busy >= SATURATED and figure.startswith(TIMING):
        return (
            f"the host's CPUs were {host_busy:.0%} busy during the live run (its Celery "
            "processes and any other work on the host): its tasks and Celery's per-task work "
            f"queued for the cores, a queue the model does not have; {slower} or on a quieter "
            "host"
        )
    cause = next((c for prefix, c in LIKELY_CAUSE.items() if figure.startswith(prefix)), None)
    if cause is None:
        return "counts differ: compare the state flows (crashes, redeliveries, retries)"
    if diff is not None and not live_was_slower(figure, diff):
        return "the live run was faster than modelled: check the scenario's overheads"
    return cause


def compare(
    scenario: Scenario,
    sim_trace: Trace,
    live_trace: Trace,
    tolerance: float = 0.15,
    absolute: float = 0.05,
    host_busy: float | None = None,
    slower: str = SLOWER,
) -> Comparison:
    """Compare two runs of ``scenario``, figure by figure (``figures``), and their wait and
    sojourn distributions and state flows. ``host_busy``: how busy the host's CPUs were over
    the live run (``live.host_cpu``); saturated, it is a timing miss's cause, and ``slower``
    what the reader can do about it where it is said (the app has no --time-scale)."""
    sim, live = summarize(sim_trace, scenario), summarize(live_trace, scenario, engine="live")
    ks_wait = _ks(waits(sim_trace), waits(live_trace))
    ks_sojourn = _ks(sojourns(sim_trace), sojourns(live_trace))
    flows = state_flows(sim_trace), state_flows(live_trace)
    compared = figures(scenario, sim, live, tolerance, absolute, host_busy, slower)
    return Comparison(compared, ks_wait, ks_sojourn, *flows, tolerance, host_busy, absolute)


def varying_costs(pool: Pool) -> tuple[str, ...]:
    """The costs a pool's policy moves, compared of that pool (and of the run, which has any
    pool's): pool processes under ``--autoscale``, nodes under a node autoscaler (the figure
    its user sizes for; its worker-seconds are them times --concurrency). A fixed pool's are
    its slots or nodes over the makespan, which is compared already."""
    w = pool.workers
    return ("worker_seconds",) * (w.autoscale_max > 0) + ("node_seconds",) * w.node_autoscaled


def figures(
    scenario: Scenario,
    sim: Summary,
    live: Summary,
    tolerance: float = 0.15,
    absolute: float = 0.05,
    host_busy: float | None = None,
    slower: str = SLOWER,
) -> list[FigureComparison]:
    """Each figure of two summaries of ``scenario`` with its verdict: ok within ``tolerance``
    relative difference, or within ``absolute`` seconds (or tasks) where both are near zero;
    a miss with its likely cause. With several task types, pools or queues, each one's
    ``PER_GROUP`` figures too; with a pool whose capacity varies, the cost it varies
    (``varying_costs``: worker-seconds under ``--autoscale``, node-seconds under a node
    autoscaler) of the run, and with several pools each such pool's own
    (``by_pool.media.worker_seconds``): the run's adds the fixed pools', which hid an
    autoscaled pool 30 % off as −3.5 %. The utilisation of a pool whose processes or nodes come
    and go is over those it had, so its miss may be theirs: its cause names them."""
    pairs = [(name, getattr(sim, name), getattr(live, name)) for name in COMPARED]
    varies = {p.name: varying_costs(p) for p in scenario.worker_pools}
    for cost in dict.fromkeys(c for varied in varies.values() for c in varied):
        pairs.append((cost, getattr(sim, cost), getattr(live, cost)))
    for kind, names in PER_GROUP.items():
        groups, live_groups = getattr(sim, kind), getattr(live, kind)
        prefix = "" if kind == "by_task" else f"{kind}."
        if len(groups) > 1:
            pairs += [
                (
                    f"{prefix}{member}.{name}",
                    group[name],
                    live_groups.get(member, {}).get(name, 0.0),
                )
                for member, group in groups.items()
                for name in names
                if name not in HAD or name in varies.get(member, ())
            ]
    varying = {f"by_pool.{pool}.utilization": varied for pool, varied in varies.items() if varied}
    if varying:
        varying["utilization"] = tuple(dict.fromkeys(c for v in varying.values() for c in v))
    compared = []
    for name, a, b in pairs:
        a, b = float(a), float(b)
        diff = relative_difference(a, b)
        ok = abs(b - a) <= absolute or (diff is not None and abs(diff) <= tolerance)
        cause = "" if ok else _cause(name, diff, host_busy, slower)
        if name in varying and cause == LIKELY_CAUSE["utilization"]:
            cause += "".join(f", or {HAD[c]}: {LIKELY_CAUSE[c]}" for c in varying[name])
        compared.append(FigureComparison(name, a, b, diff, ok, cause))
    return compared


def percent(difference: float | None) -> str:
    """A relative difference to a tenth of a percent, so a miss at +15.1 % does not read as
    +15 % beside an ok +14.8 %; none (the simulation's figure is 0) as "-"."""
    if difference is None:
        return "-"
    return "0.0%" if round(difference, 3) == 0 else f"{difference:+.1%}"


def beside_again(result: Comparison, again: Comparison) -> Comparison:
    """``result`` (simulation against a live run) with each miss that a second live run of the
    same draws (``again``: that run against the first) matched or exceeded named as the real
    queue's own variation: where the live run is as far from itself, the miss says nothing of
    the model. Verdicts stay as they were."""
    repeat = {f.figure: f for f in again.figures}

    def named(f: FigureComparison) -> FigureComparison:
        other = repeat.get(f.figure)
        if f.ok or other is None or other.ok or f.relative_difference is None:
            return f
        if other.relative_difference is None or abs(other.relative_difference) < abs(
            f.relative_difference
        ):
            return f
        cause = (
            f"run-to-run variation: this live run was {percent(other.relative_difference)} from "
            "a second live run of the same draws"
        )
        return dataclasses.replace(f, likely_cause=cause)

    return dataclasses.replace(result, figures=[named(f) for f in result.figures])


def _ks(a, b) -> float:
    from scipy import stats  # here, not at the top: it doubles the memory a command starts with

    if len(a) == 0 or len(b) == 0:
        return 1.0
    return float(stats.ks_2samp(a, b).statistic)
