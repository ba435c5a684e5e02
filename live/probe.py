"""Celery's costs on this host, now: a short live run of a fixed probe, fitted as ``calibrate``
fits a run.

The model's defaults for Celery's per-task costs (the hand-over, the delivery, the result's
write) were measured on one machine; on another, or on the same one under other load, they
differ several-fold (DESIGN.md, "Celery's costs: measured"): a quiet fast host hands over in
under a millisecond where a loaded one takes ten. A live run judged against its simulation is
simulated with the costs of the host it runs on, measured just before it on another workload:
fitted on the run being judged, the model would be graded on its own answer.

The probe is one ``--concurrency 1`` node in the run's ack mode and prefetch, sent a task every
``SPACING`` seconds, each sleeping an exponential time of mean ``BODY``: about half the slot's
time busy, so most tasks find the slot idle (a delivery) and some wait for it (hand-overs), even
on a host whose costs are several times a quiet one's. The tasks come one at a time as a
Poisson run's do: bursts sent back to back slowed the deliveries measured beside them (2.4-2.6
against 2.0-2.3 ms on a quiet host, early ack). About 9 s wall, the node's start included.
"""

from __future__ import annotations

import threading

from live.run import run_live
from sim.analysis.calibrate import Fit, fit_overheads
from sim.scenario import Scenario

TASKS = 150  # ~100 deliveries and ~25 hand-overs on a quiet host (calibrate needs 5 and 10)
SPACING = 0.04  # wall s between sends
BODY = 0.015  # wall s a task sleeps on average, exponential: some tasks queue behind a long one
PROBE_WALL = 9.0  # wall s the probe usually takes on 2 cores, its node's start included


def probe_scenario(sc: Scenario) -> Scenario:
    """The probe for a run of ``sc``: its ack mode and its first pool's prefetch, at time scale 1
    (the probe's seconds are wall seconds, the costs' unit)."""
    return Scenario().replace(
        **{
            "name": "probe",
            "run.tasks": TASKS,
            "arrivals.process": "constant",
            "arrivals.rate": 1 / SPACING,
            "service.dist": "exponential",
            "service.mean": BODY,
            "workers.count": 1,
            "workers.concurrency": 1,
            "workers.prefetch_multiplier": sc.worker_pools[0].workers.prefetch_multiplier,
            "ack.late": sc.ack.late,
            "overhead.model": "celery",
        }
    )


def host_costs(
    sc: Scenario, redis_url: str | None = None, stop: threading.Event | None = None
) -> Fit:
    """Celery's delivery, record and hand-over (in ``sc``'s ack mode) on this host now, in wall
    seconds; ``sc.replace(**fit.fields())`` is ``sc`` paying them. ``stop`` ends it early:
    then it raises ``ProbeStopped``."""
    probe = probe_scenario(sc)
    trace = run_live(probe, redis_url, 1.0, probe.seed, stop=stop)
    if stop is not None and stop.is_set():
        raise ProbeStopped("stopped while measuring this host's Celery costs")
    return fit_overheads(trace, probe, probe.seed)


class ProbeStopped(RuntimeError):
    """The probe was stopped before it had measured anything."""
