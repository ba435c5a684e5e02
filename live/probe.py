"""Celery's costs on this host, now: a short live run of a fixed probe, fitted as ``calibrate``
fits a run.

The model's defaults for Celery's per-task costs (the hand-over, the delivery, the result's
write) were measured on one machine; on another, or on the same one under other load, they
differ several-fold (DESIGN.md, "Celery's costs: measured"): a quiet fast host hands over in
under a millisecond where a loaded one takes ten. A live run judged against its simulation is
simulated with the costs of the host it runs on, measured just before it on another workload:
fitted on the run being judged, the model would be graded on its own answer.

The probe has the run's nodes (its pools' slots spread evenly over them) in the run's ack mode
and first pool's prefetch, and is sent Poisson arrivals at the run's own mean rate in wall
seconds (what its slots get through where they cannot keep up; at least ``MIN_RATE`` and
``MIN_TASKS``), each task sleeping an exponential time sized so that about ``WAITING`` of them
wait for a slot (Erlang C): those give the hand-over, the others, which find a slot idle, the
delivery. At the run's rate the probe puts the run's own load on the host (the producer, the
collector, Celery's per-task work): at a small time scale that load is what makes the costs
grow, several-fold on 2 cores. Bursts sent back to back would slow the deliveries measured
beside them (2.4-2.6 against 2.0-2.3 ms on a quiet host, early ack). It sends for about
``SECONDS`` (longer for ``MIN_TASKS`` at a slow rate), after its nodes have started. The costs
occupy the slots too: where they are a large part of the tasks' sleep (a loaded host: 25-55 ms
a task against mmc's 81 ms at time scale 0.1), the slots were busy nearly all the time and 4-13
of 128 tasks found one idle, too few to fit the delivery from; a probe that crowded
(``CROWDED``) is run again with its tasks' sleep shortened by the costs it met. Where a
pool autoscales, a second probe (``fork_probe``) measures how long a pool process takes to
start, which a quiet host does three times as fast as a busy one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from live.redis_server import RedisUnavailable, described
from live.run import RedisLost, check_live, run_live
from live.workers import BOOT
from sim.analysis.analytic import arrival_rate, erlang_c
from sim.analysis.calibrate import CalibrationError, Fit, fit_overheads, overheads
from sim.analysis.metrics import first_time
from sim.engine.budget import attempts
from sim.engine.distributions import service_mean
from sim.rules import retry
from sim.rules.states import PENDING, STARTED
from sim.scenario import Scenario
from sim.trace import Trace

WAITING = 0.3  # share of the probe's tasks that wait for a slot: its hand-overs
# share of the probe's tasks finding a slot idle below which it is run again, its tasks
# shortened by the costs it met: half of what it plans (1 - WAITING)
CROWDED = (1 - WAITING) / 2
SECONDS = 4.0  # wall s of sends, or longer where MIN_TASKS at the run's rate takes longer
MIN_TASKS = 80  # ~55 deliveries and ~25 hand-overs (calibrate needs 5 and 10)
# tasks/s wall: the probe's floor; a host idle between tasks delivers them slower (mmc at time
# scale 0.5, 6.4 a second: least delivery 2.2-2.4 ms, as its run's, against 1.9-2.0 at 30)
MIN_RATE = 5.0
RETRY_COUNTDOWN = 0.05  # wall s a probe's failed task waits before its retry
FORK_BODY = 3.0  # wall s the fork probe's tasks sleep: longer than a busy host's forks (8 x 0.3)


def probe_scenario(sc: Scenario, time_scale: float = 1.0, costs: float = 0.0) -> Scenario:
    """The probe for a run of ``sc`` at ``time_scale``: its nodes, ack mode and first pool's
    prefetch at its wall rate, at time scale 1 (the probe's seconds are wall seconds, the
    costs' unit); its tasks' sleep shortened by ``costs``, the wall seconds an attempt holds its
    slot beyond it (``slot_costs``), so that its slots are busy the planned share."""
    wall_rate = max(MIN_RATE, throughput(sc) / time_scale)
    nodes = len(sc.nodes)
    concurrency = max(1, round(sc.slots / nodes))
    slots = nodes * concurrency
    sleep = busy_share(slots) * slots / (wall_rate * _attempts(sc)) - costs
    if sleep <= 0:
        raise CalibrationError(
            f"this host's Celery costs ({costs * 1000:.0f} ms a task) keep the probe's slots "
            f"busy at the run's {wall_rate:.0f} tasks a wall second: no task finds one idle"
        )
    return Scenario().replace(
        **{
            "name": "probe",
            "run.tasks": max(MIN_TASKS, round(wall_rate * SECONDS)),
            "arrivals.process": "poisson",
            "arrivals.rate": wall_rate,
            "service.dist": "exponential",
            "service.mean": sleep,
            "workers.count": nodes,
            "workers.concurrency": concurrency,
            "workers.prefetch_multiplier": sc.worker_pools[0].workers.prefetch_multiplier,
            "ack.late": sc.ack.late,
            # a failed attempt costs the worker more (the traceback, a retry's new message):
            # as often as in the run, with retries coming back at once
            "failures.probability": sc.failures.probability,
            "retry.max_retries": retry.most_retries(sc.retry.max_retries),
            "retry.backoff": 0.0,
            "retry.countdown": RETRY_COUNTDOWN,
            "overhead.model": "celery",
        }
    )


def throughput(sc: Scenario) -> float:
    """Tasks a scenario second a run of ``sc`` asks of the host: its arrival rate, or what its
    slots get through where they cannot keep up or it has no rate (one burst)."""
    capacity = sc.slots / (service_mean(sc.service) * _attempts(sc))
    return min(arrival_rate(sc) or capacity, capacity)


def _attempts(sc: Scenario) -> float:
    """Mean attempts a task of the probe makes: it fails as the scenario's [failures] says."""
    return attempts(sc.failures.probability, sc.retry.max_retries)


def expected_seconds(sc: Scenario, time_scale: float = 1.0) -> float:
    """Wall seconds the probe for a run of ``sc`` at ``time_scale`` usually takes."""
    p = probe_scenario(sc, time_scale)
    forks = BOOT + FORK_BODY if fork_probe(sc) else 0.0
    return BOOT + p.run.tasks / p.arrivals.rate + forks


def busy_share(slots: int) -> float:
    """The slots' busy share at which about ``WAITING`` of Poisson arrivals wait for one of
    ``slots`` (M/M/c, in steps of 0.05): 0.3 for one slot, 0.75 for eight."""
    share = 0.05
    while share < 0.9 and erlang_c(share * slots, 1.0, slots) < WAITING:
        share += 0.05
    return round(share, 2)


@dataclass(frozen=True)
class HostCosts:
    """What the probe measured, in wall seconds: Celery's per-task costs and, where a pool of
    the run autoscales, how long a pool process takes to start."""

    fit: Fit
    process_start: float | None = None

    def fields(self, sc: Scenario) -> dict[str, float | str]:
        """The fields that make ``sc`` pay these costs (``sc.replace(**fields)``)."""
        fields = self.fit.fields()
        if self.process_start is not None:
            for pool in sc.worker_pools:
                if pool.workers.autoscale_max:
                    fields[sc.pool_field(pool.name, "process_start")] = self.process_start
        return fields

    def describe(self) -> str:
        """The costs in wall milliseconds, for a person."""
        if self.process_start is None:
            return self.fit.describe()
        return f"{self.fit.describe()}, a pool process's start {self.process_start * 1000:.0f} ms"


def host_costs(
    sc: Scenario,
    time_scale: float = 1.0,
    redis_url: str | None = None,
    stop: threading.Event | None = None,
) -> HostCosts:
    """Celery's delivery, record and hand-over (in ``sc``'s ack mode) on this host now, under a
    run of ``sc`` at ``time_scale``, and a pool process's start where ``sc`` autoscales.
    ``stop`` ends it early: then it raises ``ProbeStopped``; a probe too short to fit from (a
    host so busy that no task found a slot idle) raises ``CalibrationError``; a scenario that
    cannot run live, ``ScenarioError`` (before the probe, not after it); no Redis, or one lost
    on the way, ``RedisUnavailable``."""
    check_live(sc, time_scale=time_scale)
    probe = probe_scenario(sc, time_scale)
    trace = _probed(probe, redis_url, stop)
    costs = slot_costs(trace, probe)
    if costs is not None:
        probe = probe_scenario(sc, time_scale, costs)
        trace = _probed(probe, redis_url, stop)
    fit = fit_overheads(trace, probe, probe.seed)
    forking = fork_probe(sc)
    if forking is None:
        return HostCosts(fit)
    return HostCosts(fit, fork_time(_probed(forking, redis_url, stop), forking))


def slot_costs(trace: Trace, probe: Scenario) -> float | None:
    """Wall seconds an attempt of ``probe``'s run held its slot beyond its sleep (the record,
    the median, and the hand-over, the mean) where fewer than ``CROWDED`` of its executions found a
    slot idle; None where enough did."""
    extra, handovers, idle = overheads(trace, probe, probe.seed)
    if len(idle) >= CROWDED * len(extra):
        return None
    return float(np.median(extra)) + (float(np.mean(handovers)) if len(handovers) else 0.0)


def fork_probe(sc: Scenario) -> Scenario | None:
    """For a run of ``sc`` with an ``--autoscale MAX,MIN`` pool, one node of its first such
    pool's MAX from one process, sent MAX tasks at once: the node forks MAX - 1 processes one
    after another, and the tasks beyond the first start once the last fork is done (measured:
    DESIGN.md, "Autoscale: measured"). None when no pool autoscales."""
    pool = next((p for p in sc.worker_pools if p.workers.autoscale_max > 1), None)
    if pool is None:
        return None
    n = pool.workers.autoscale_max
    return Scenario().replace(
        **{
            "name": "fork-probe",
            "run.tasks": n,
            "arrivals.process": "burst",
            "arrivals.burst_size": n,
            "arrivals.rate": 1.0,
            "service.dist": "constant",
            "service.mean": FORK_BODY,
            "workers.count": 1,
            "workers.autoscale_max": n,
            "workers.autoscale_min": 1,
            # a live run starts on a tick of its keepalive timer: one second, not thirty, away
            "workers.autoscale_keepalive": 1.0,
            "workers.prefetch_multiplier": pool.workers.prefetch_multiplier,
            "ack.late": sc.ack.late,
            "overhead.model": "celery",
        }
    )


def fork_time(trace: Trace, probe: Scenario) -> float:
    """A pool process's start (wall s) from the fork probe's run: the median wait of the tasks
    that waited for new processes, over the forks made one after another before they began."""
    waits = np.sort(first_time(trace, STARTED) - first_time(trace, PENDING))
    return float(np.median(waits[1:])) / (probe.workers.autoscale_max - 1)


def _probed(probe: Scenario, redis_url: str | None, stop: threading.Event | None) -> Trace:
    try:
        trace = run_live(probe, redis_url, 1.0, probe.seed, stop=stop, joinable=False)
    except RedisLost as err:  # what it collected measures nothing: no Redis for the run either
        raise RedisUnavailable(
            f"lost Redis while measuring this host's Celery costs ({described(err.error)}); "
            "check that Redis is up and not out of memory, then run again"
        ) from None
    if stop is not None and stop.is_set():
        raise ProbeStopped("stopped while measuring this host's Celery costs")
    return trace


class ProbeStopped(RuntimeError):
    """The probe was stopped before it had measured anything."""
