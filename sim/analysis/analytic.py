"""Closed-form queueing results the simulator is checked against and the app teaches with.

Notation: arrival rate ``lam`` (λ), mean service time ``s`` (1/μ), ``c`` servers, offered load
a = λs, utilisation ρ = a/c; every formula needs ρ < 1 and raises otherwise. The last functions
read ρ off a scenario, so every report can say when its figures describe no steady state.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from sim.analysis.rate_over_time import streams
from sim.engine.arrivals import arrival_times
from sim.engine.distributions import (
    cv_of,
    limited_moments,
    of_gaps,
    of_service,
    service_cv,
    service_mean,
)
from sim.engine.varying_rate import VARYING
from sim.rules.retry import most_retries, never_ends
from sim.scenario import Scenario, rate_limited
from sim.sections import Pool, TaskType
from sim.words import counted


class UnstableError(ValueError):
    """ρ ≥ 1: the queue grows without bound, so waiting-time formulas have no answer."""


def utilization(lam: float, s: float, c: int) -> float:
    """ρ = λs/c, the fraction of server time busy."""
    return lam * s / c


def _check(lam: float, s: float, c: int) -> float:
    if lam <= 0 or s <= 0 or c < 1:
        raise ValueError(f"need rate > 0, service mean > 0 and workers >= 1 (got {lam}, {s}, {c})")
    rho = utilization(lam, s, c)
    if rho >= 1:
        raise UnstableError(
            f"utilisation rate*service/workers = {rho:.3f} >= 1: the queue never drains; "
            f"use at least {math.floor(lam * s) + 1} workers"
        )
    return rho


def erlang_b(c: int, a: float) -> float:
    """Erlang B by the recursion B(k) = aB(k−1)/(k + aB(k−1)): stable for large c."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(lam: float, s: float, c: int) -> float:
    """P(wait > 0) in M/M/c: C = B/(1 − ρ(1 − B)) (Erlang 1917; Kleinrock, vol. I §3.5)."""
    rho = _check(lam, s, c)
    b = erlang_b(c, lam * s)
    return b / (1 - rho * (1 - b))


def mmc_wait(lam: float, s: float, c: int) -> float:
    """Mean wait in queue Wq = C(c, a) / (cμ − λ) for M/M/c."""
    return erlang_c(lam, s, c) / (c / s - lam)


def mmc_sojourn_mean(lam: float, s: float, c: int) -> float:
    """Mean sojourn W = Wq + s for M/M/c: the wait, then the service itself."""
    return mmc_wait(lam, s, c) + s


def mmc_queue_length(lam: float, s: float, c: int) -> float:
    """Mean number waiting Lq = λ·Wq (Little's law applied to the queue)."""
    return littles_law(lam, mmc_wait(lam, s, c))


def mmc_wait_exceeds(t: float, lam: float, s: float, c: int) -> float:
    """P(Wq > t) = C(c, a)·exp(−(cμ − λ)t) for M/M/c (Kleinrock I, eq. 3.40)."""
    return erlang_c(lam, s, c) * math.exp(-(c / s - lam) * t)


def mmc_wait_quantile(q: float, lam: float, s: float, c: int) -> float:
    """The q-quantile of the wait in M/M/c: 0 when P(wait) ≤ 1 − q, else from the tail above."""
    pw = erlang_c(lam, s, c)
    if pw <= 1 - q:
        return 0.0
    return math.log(pw / (1 - q)) / (c / s - lam)


def mmc_sojourn_exceeds(t: float, lam: float, s: float, c: int) -> float:
    """P(T > t) for the sojourn T = Wq + S of M/M/c.

    Wq is 0 with probability 1 − C and else exponential with rate θ = cμ − λ, independent of the
    exponential service S (rate μ), so P(T > t) = (1 − C)e^{−μt} + C·(θe^{−μt} − μe^{−θt})/(θ − μ)
    (the hypoexponential tail; its limit (1 + μt)e^{−μt} when θ = μ).
    """
    pw, mu, theta = erlang_c(lam, s, c), 1 / s, c / s - lam
    if math.isclose(theta, mu):
        both = (1 + mu * t) * math.exp(-mu * t)
    else:
        both = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return (1 - pw) * math.exp(-mu * t) + pw * both


def mmc_sojourn_quantile(q: float, lam: float, s: float, c: int) -> float:
    """The q-quantile of the M/M/c sojourn, by bisection on its tail."""
    low, high = 0.0, s
    while mmc_sojourn_exceeds(high, lam, s, c) > 1 - q:
        high *= 2
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if mmc_sojourn_exceeds(mid, lam, s, c) > 1 - q else (low, mid)
    return (low + high) / 2


def littles_law(lam: float, w: float) -> float:
    """L = λW (Little 1961): mean number in a stable system from rate and mean time in it."""
    return lam * w


def allen_cunneen(lam: float, s: float, c: int, ca: float, cs: float) -> float:
    """G/G/c mean wait ≈ Wq(M/M/c)·(ca² + cs²)/2 (Allen 1990, Probability, Statistics and Queueing
    Theory, §6); ca, cs are the coefficients of variation of inter-arrival and service times.
    Good at moderate to high load, rough at low load."""
    return mmc_wait(lam, s, c) * (ca**2 + cs**2) / 2


def kingman(lam: float, s: float, ca: float, cs: float) -> float:
    """G/G/1 heavy-traffic mean wait ≈ ρ/(1−ρ)·(ca² + cs²)/2·s (Kingman 1961)."""
    rho = _check(lam, s, 1)
    return rho / (1 - rho) * (ca**2 + cs**2) / 2 * s


@dataclass(frozen=True)
class Analysis:
    """M/M/c figures for a rate, service mean and worker count: as `queuelab analytic` prints."""

    rate: float
    service_mean: float
    workers: int
    utilization: float
    p_wait: float
    wait_mean: float
    queue_len_mean: float
    sojourn_mean: float
    in_system_mean: float
    wait_p95: float
    sojourn_p95: float

    def to_dict(self) -> dict:
        return asdict(self)


def analyze(lam: float, s: float, c: int) -> Analysis:
    wq = mmc_wait(lam, s, c)
    return Analysis(
        rate=lam,
        service_mean=s,
        workers=c,
        utilization=utilization(lam, s, c),
        p_wait=erlang_c(lam, s, c),
        wait_mean=wq,
        queue_len_mean=mmc_queue_length(lam, s, c),
        sojourn_mean=wq + s,  # mmc_sojourn_mean, without computing Wq twice
        in_system_mean=littles_law(lam, wq + s),
        wait_p95=mmc_wait_quantile(0.95, lam, s, c),
        sojourn_p95=mmc_sojourn_quantile(0.95, lam, s, c),
    )


def mmc_applies(s: Scenario) -> bool:
    """Whether the scenario is exactly the M/M/c queue Erlang C describes, c = all slots.

    Poisson arrivals, exponential service, nothing failing, crashing, deploying or sharing a core,
    no per-task overhead (``overhead.model = "none"``), a pool of fixed size (no node autoscaler,
    and ``--autoscale`` only as MAX = MIN), one task type in one shared FIFO queue:
    under late ack with multiplier 1 a busy slot holds no message back, while any other prefetch
    lets a busy worker reserve a task an idle one could run (lesson 02), and the queue is no
    longer work-conserving.
    """
    f, w = s.failures, s.workers
    return (
        not s.tasks
        and not s.pools
        and s.arrivals.process == "poisson"
        and s.service.dist == "exponential"
        and f.probability == 0
        and f.crash_probability == 0
        and not f.outage
        and w.cores == 0
        and w.deploy_every == 0
        and not w.processes_vary
        and not w.node_autoscaled
        and s.overhead.model == "none"
        and s.overhead.dispatch == 0
        and s.overhead.record == 0
        and s.ack.late
        and w.prefetch_multiplier == 1
    )


def mmc_sojourn_quantiles(
    scenario: Scenario, counts: tuple[int, ...], q: float = 0.95
) -> dict[int, float] | None:
    """Erlang C's q-quantile of the sojourn at each worker count where the queue is stable, or
    None where the scenario is not the M/M/c queue the formula describes (``mmc_applies``)."""
    if not mmc_applies(scenario):
        return None
    rate, mean = scenario.arrivals.rate, scenario.service.mean
    slots = {c: c * scenario.workers.processes for c in counts}
    return {
        c: mmc_sojourn_quantile(q, rate, mean, n)
        for c, n in slots.items()
        if utilization(rate, mean, n) < 1
    }


def arrival_rate(scenario: Scenario, peak: bool = False) -> float | None:
    """The run's long-run arrival rate in tasks per second, or None where it has none; with
    ``peak``, a rate that varies over time at its highest.

    Poisson, constant and renewal arrivals come at ``arrivals.rate``, and so do bursts over their
    period (but only a run of two or more bursts has a period: one burst's waits grow with its
    size whatever the pool) and a rate that varies over time, averaged over its period. A
    trace's rate is that of the arrivals the run replays, (n − 1) / span (a resampled trace: of
    one resampling, at a fixed seed).
    """
    a = scenario.arrivals
    if peak and a.process in VARYING:
        return max(a.rates) if a.process == "piecewise" else a.rate * (1 + a.amplitude)
    if a.process in ("poisson", "constant", "renewal", *VARYING):
        return a.rate
    times = arrival_times(scenario, np.random.default_rng(0))
    if len(times) < 2 or times[-1] == times[0]:
        return None
    return a.rate if a.process == "burst" else (len(times) - 1) / float(times[-1] - times[0])


def type_rates(scenario: Scenario, peak: bool = False) -> list[float] | None:
    """Each task type's arrival rate (at its peak, with ``peak``): its share of [arrivals]'
    rate, or its own arrivals' rate; None where one of them has no rate."""
    types = scenario.task_types
    shared = arrival_rate(scenario, peak) if any(t.arrivals is None for t in types) else 0.0
    own = [arrival_rate(replace(scenario, arrivals=t.arrivals), peak) for t in types if t.arrivals]
    if shared is None or None in own:
        return None
    rates = iter(own)
    return [
        shared * share if t.arrivals is None else next(rates)
        for t, share in zip(types, scenario.shares, strict=True)
    ]


def executions_per_task(kind: TaskType) -> float:
    """The mean executions a task of this type makes as its failed attempts are retried: 1 + p +
    … + p^R for failure probability p and R retries (``most_retries``: the 1,000 the simulator
    follows of a task retried for ever). Outages, crashes and soft time limits add more. A type
    that retries for ever and always fails (``never_ends``) has no end to its work, which its
    own warning says; the simulator's 1,001 executions would have called 5 such tasks on mmc an
    overload that 802 workers keep up with: it counts one."""
    if never_ends(kind):
        return 1.0
    p, most = kind.failures.probability, most_retries(kind.retry.max_retries)
    return most + 1.0 if p == 1 else (1 - p ** (most + 1)) / (1 - p)


def pool_demand(scenario: Scenario, peak: bool = False) -> dict[str, float] | None:
    """Per pool, the work routed to it: slot-seconds of service per second (at the arrivals'
    peak, with ``peak``), a hard time limit's cut service as it holds a slot
    (``slot_moments``), each task run as often as its failed attempts are retried
    (``executions_per_task``: flaky_api's 20 % failing made its ρ 0.375 where its slots were
    45 % busy); None where the arrivals have no rate. A queue several pools consume splits its
    work by their slots."""
    rates = type_rates(scenario, peak)
    if rates is None:
        return None
    demand = dict.fromkeys((p.name for p in scenario.worker_pools), 0.0)
    for kind, rate in zip(scenario.task_types, rates, strict=True):
        takers = [p for p in scenario.worker_pools if kind.queue in p.queues]
        slots = sum(p.workers.full_speed_slots for p in takers)
        for p in takers:
            part = p.workers.full_speed_slots / slots  # 1.0 for a queue one pool consumes
            held = slot_moments(kind, p.workers.process_start)[0] * executions_per_task(kind)
            demand[p.name] += rate * held * part
    return demand


def pool_intensities(scenario: Scenario) -> dict[str, float] | None:
    """ρ of each pool: the work routed to it over the slots that compute at full speed (see
    ``Workers.full_speed_slots``), or None where the arrivals have no rate. At ρ ≥ 1 its
    queues grow for as long as tasks arrive. Outages, crashes and deploys add work on top, so
    the real load is at least this."""
    demand = pool_demand(scenario)
    if demand is None:
        return None
    slots = {p.name: p.workers.full_speed_slots for p in scenario.worker_pools}
    return {name: work / slots[name] for name, work in demand.items()}


def arrival_cv(scenario: Scenario) -> float | None:
    """The cv of the gaps between arrivals, for G/G/c approximations; None for bursts and
    traces, whose gaps are not independent draws of one distribution."""
    a = scenario.arrivals
    if a.process == "constant":
        return 0.0
    if a.process in ("poisson", "renewal"):
        return cv_of(of_gaps(a))
    return None


def traffic_intensity(scenario: Scenario) -> float | None:
    """ρ of the busiest pool (of the one pool, without ``[[pools]]``), or None where the
    arrivals have no rate."""
    rho = pool_intensities(scenario)
    return max(rho.values()) if rho else None


def workers_to_keep_up(
    scenario: Scenario, pool: str | None = None, peak: bool = False
) -> int | None:
    """The fewest worker nodes that bring ``pool``'s ρ (at the arrivals' peak, with ``peak``)
    below 1 (default: the first pool), each node as the pool's."""
    demand = pool_demand(scenario, peak)
    if demand is None:
        return None
    p = next(p for p in scenario.worker_pools if pool in (None, p.name))
    per_worker = p.workers.full_speed_slots // p.workers.count
    # a share of 1 − 0.8 is 0.19999…: at exactly ρ = 1 the pool is not stable either
    return math.floor(demand[p.name] / per_worker + 1e-9) + 1


def varies(scenario: Scenario) -> bool:
    """Whether the load or the capacity changes over the run: a rate that varies over time (of a
    stream the task types read, ``rate_over_time.streams``: [arrivals] only where a type takes
    a share of it) or a node autoscaler. Mean ρ then hides the peaks."""
    return any(a.process in VARYING for a in streams(scenario)) or any(
        p.workers.node_autoscaled for p in scenario.worker_pools
    )


def most_nodes(pool: Pool) -> tuple[int, str]:
    """The most nodes a pool can reach, and what sets it (``max_nodes`` or ``count``). Its
    slots per node are already the most: MAX processes under --autoscale."""
    w = pool.workers
    return (w.max_nodes, "max_nodes") if w.node_autoscaled else (w.count, "count")


def intensities_at_most(scenario: Scenario, peak: bool = False) -> dict[str, float] | None:
    """ρ of each pool against the most slots it can reach (``most_nodes``), at the arrivals'
    mean rate or, with ``peak``, at their peak; None where the arrivals have no rate."""
    demand = pool_demand(scenario, peak)
    if demand is None:
        return None
    most = {}
    for p in scenario.worker_pools:
        per_node = p.workers.full_speed_slots // p.workers.count
        most[p.name] = most_nodes(p)[0] * per_node
    return {name: work / most[name] for name, work in demand.items()}


def overload_warning(scenario: Scenario) -> str | None:
    """One line for a scenario a pool cannot keep up with, else None. Such a run's wait and
    sojourn are set by its length, not by the queue, and still look like ordinary figures.
    ρ is taken against the most nodes a pool can reach (a node autoscaler's ``max_nodes``);
    where load or capacity varies, a mean ρ below 1 still hides the peaks (``peak_warning``)."""
    rho = intensities_at_most(scenario)
    if not rho:
        return None
    name, worst = max(rho.items(), key=lambda item: item[1])
    if worst < 1:
        return peak_warning(scenario) if varies(scenario) else None
    pool = next(p for p in scenario.worker_pools if p.name == name)
    (count, field), where = most_nodes(pool), f"pool {name}: " if scenario.pools else ""
    most = f" (workers.{field})" if field == "max_nodes" else ""
    return (
        f"{where}ρ = {worst:.2f} ≥ 1 at {counted(count, 'worker')}{most}{retried(scenario)}: "
        "the queue is overloaded, so wait and sojourn grow with the number of tasks and are not "
        f"a steady state; at least {workers_to_keep_up(scenario, name)} workers keep it stable"
    )


def retried(scenario: Scenario) -> str:
    """Said after a ρ that counts retries, which λs/c does not: ", counting failed attempts'
    retries", or nothing where no type retries a failure."""
    if any(executions_per_task(t) > 1 for t in scenario.task_types):
        return ", counting failed attempts' retries"
    return ""


def peak_warning(scenario: Scenario) -> str | None:
    """For a scenario whose load or capacity varies: ρ at the arrivals' peak rate against the
    most nodes its busiest pool can reach, naming both; None where even that keeps up."""
    rho = intensities_at_most(scenario, peak=True)
    if not rho:
        return None
    name, worst = max(rho.items(), key=lambda item: item[1])
    if worst < 1:
        return None
    pool = next(p for p in scenario.worker_pools if p.name == name)
    (nodes, field), where = most_nodes(pool), f"pool {name}: " if scenario.pools else ""
    return (
        f"{where}peak ρ = {worst:.2f} ≥ 1 (at the arrivals' peak rate, on the most the pool "
        f"reaches: {counted(nodes, 'worker')}, workers.{field}){retried(scenario)}: the queue "
        "grows through every peak and drains after it, so wait and sojourn are set by the peaks; "
        f"at least {workers_to_keep_up(scenario, name, peak=True)} workers keep up with the peak"
    )


def cobham_waits(rates: list[float], s: float, c: int) -> list[float]:
    """Mean wait of each class in the M/M/c queue with non-preemptive priorities, classes in
    priority order, every class served in ``s`` on average (Cobham 1954; Kleinrock, vol. II
    §3.7): Wq_k = C(c, a) / (cμ) / ((1 − σ_{k−1})(1 − σ_k)), σ_k the load of classes 1..k."""
    lam = sum(rates)
    w0 = erlang_c(lam, s, c) * s / c
    waits, sigma = [], 0.0
    for rate in rates:
        before, sigma = sigma, sigma + rate * s / c
        waits.append(w0 / ((1 - before) * (1 - sigma)))
    return waits


def slot_moments(task: TaskType, process_start: float) -> tuple[float, float]:
    """The mean and second moment of the time an execution of ``task`` holds its slot: its
    service, or with a hard ``time_limit`` T, min(service, T) plus, where the limit killed the
    pool child, the ``process_start`` of its replacement. A limit near the mean cuts the
    service's tail and its cv (a 20 s lognormal of cv 1 under 60 s: mean 18.8 s, cv 0.78),
    which Allen–Cunneen's wait follows: 4.5 s untruncated against 2.0 s on 12 slots at 0.5/s."""
    mean, cv = service_mean(task.service), service_cv(task.service)
    if not task.time_limit:
        return mean, mean**2 * (1 + cv**2)
    cut, square, killed = limited_moments(of_service(task.service), task.time_limit)
    extra = killed * (2 * task.time_limit * process_start + process_start**2)
    return cut + killed * process_start, square + extra


def pool_waits(scenario: Scenario) -> dict[str, float]:
    """The textbook's mean wait of each pool that serves its queues alone, fed by Poisson
    arrivals: Allen–Cunneen with the service of the mix of task types the pool runs (Erlang C,
    exact, when that mix is exponential); a Poisson stream split by share, or merged with
    another, stays Poisson, so ca = 1. Left out: a pool sharing a queue with another (the split
    of its work is Celery's, not a formula's), one fed by other arrivals, one at ρ ≥ 1, one
    serving a type with a soft time limit (its retries are new work) or a rate limit (its
    tokens are a server of their own, and its messages grow no --autoscale pool), one whose
    nodes a node autoscaler adds (``count`` is where it starts). A hard time limit is in
    the service (``slot_moments``). No prefetch, retries, crashes or Celery's per-task costs,
    as ``allen_cunneen``."""
    rates, types, pools = type_rates(scenario), scenario.task_types, scenario.worker_pools
    if rates is None:
        return {}
    waits = {}
    for pool in pools:
        mine = [i for i, t in enumerate(types) if t.queue in pool.queues]
        lam = sum(rates[i] for i in mine)
        shared = any(
            types[i].queue in other.queues for other in pools if other is not pool for i in mine
        )
        poisson = all((types[i].arrivals or scenario.arrivals).process == "poisson" for i in mine)
        limited = any(types[i].soft_time_limit or rate_limited(types[i]) for i in mine)
        if shared or not poisson or limited or pool.workers.node_autoscaled or lam <= 0:
            continue
        held = {i: slot_moments(types[i], pool.workers.process_start) for i in mine}
        s = sum(rates[i] * held[i][0] for i in mine) / lam
        second = sum(rates[i] * held[i][1] for i in mine)
        cs = math.sqrt(max(second / lam / s**2 - 1, 0.0))
        try:
            waits[pool.name] = allen_cunneen(lam, s, pool.workers.full_speed_slots, 1.0, cs)
        except UnstableError:
            continue
    return waits
