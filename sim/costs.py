"""Celery's own costs at a run's time scale: wall-clock seconds turned into scenario seconds.

What Celery spends on a task and around it (the hand-over between tasks, a pool process's
start, dispatch and result writes) is wall-clock time, and does not shrink when a live run
compresses time: at time scale s a cost of w wall seconds is w ÷ s seconds of scenario time.
A scenario states these costs in wall seconds; ``at_time_scale`` gives the scenario a run at
time scale s simulates, so one scenario predicts a real deployment (time scale 1, the costs as
measured) and a compressed live run alike. The [overhead] table is declared here, with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.fields import setting
from sim.rules import restore
from sim.sections import MAX_SECONDS, wall_seconds

if TYPE_CHECKING:
    from sim.scenario import Scenario

OVERHEAD_MODELS = ("celery", "none")
OVERHEAD_COSTS = (
    *("dispatch", "record", "handover", "handover_late", "delivery", "delivery_spread"),
    "restore_interval",
)
POOL_COSTS = ("process_start", "kill_linger")  # each pool's [workers] fields in wall seconds


@dataclass(frozen=True)
class Overhead:
    """Time Celery itself takes, in wall seconds (``sim.costs`` turns them into scenario
    seconds at a run's time scale): measured defaults, or none of them for the textbook queue."""

    model: str = setting(
        "celery",
        "celery: Celery's measured costs are in the model (the hand-over, the delivery, "
        "serialised forks); "
        "none: the textbook queue without them (dispatch, record and process_start apply as set)",
        choices=OVERHEAD_MODELS,
    )
    dispatch: float = wall_seconds(
        0.0,
        "broker-to-worker delay per delivery, in either model: on top of Celery's delivery, "
        "or the textbook queue's only one",
    )
    record: float = wall_seconds(0.0, "result-backend write per state change (calibrated)")
    handover: float = wall_seconds(
        0.010,
        "model = celery, early ack: a slot takes its next task this long after its last one "
        "ended (result hand-back, next job; measured on a loaded 2-core host)",
    )
    handover_late: float = wall_seconds(
        0.019, "model = celery, late ack: the hand-over with the ack's round trip (measured)"
    )
    delivery: float = wall_seconds(
        0.005,
        "model = celery: a message reaches its worker's pool at least this long after the broker "
        "hands it out (the reply to BRPOP, kombu, the pool's write of the job; measured)",
    )
    delivery_spread: float = wall_seconds(
        0.003,
        "model = celery: plus a wait drawn per (task, attempt), exponential with this mean (the "
        "worker's event loop busy with other work; measured)",
    )
    restore_interval: float = setting(
        10.0,
        "model = celery: kombu's unacked_restore_interval, the period of each node's restore "
        "timer (none: a message is restored exactly at its visibility deadline)",
        unit="wall s",
        above=0,
        max=MAX_SECONDS,
    )
    restore_throttle: int = setting(
        10,
        "model = celery: kombu's unacked_restore_throttle: a node scans Redis for messages past "
        "their visibility timeout as it starts and at every throttle-th call of its timer",
        unit="calls",
        min=1,
        max=1_000_000,
    )


def at_time_scale(scenario: Scenario, time_scale: float) -> Scenario:
    """``scenario`` with every wall-clock cost in scenario seconds of a run at ``time_scale``
    (wall ÷ time scale): what ``compare``, ``calibrate`` and the Live page simulate."""
    if time_scale == 1:
        return scenario
    changes = {
        f"overhead.{name}": getattr(scenario.overhead, name) / time_scale for name in OVERHEAD_COSTS
    }
    for pool in scenario.worker_pools:
        for name in POOL_COSTS:
            changes[scenario.pool_field(pool.name, name)] = getattr(pool.workers, name) / time_scale
    return scenario.replace(**changes)


LIVE_RESTORE_THROTTLE = 1  # a live run's nodes scan at every call of their restore timer


def live_restore_interval(visibility_timeout: float) -> int:
    """Wall seconds between a live run's node's restore scans (kombu's
    ``unacked_restore_interval``, whole seconds, throttle ``LIVE_RESTORE_THROTTLE``) for a wall
    visibility timeout: a quarter of it, 1 to 10 s, so a time-scaled run redelivers soon."""
    return max(1, min(10, int(visibility_timeout / 4)))


def beside_live_run(scenario: Scenario, time_scale: float) -> Scenario:
    """``scenario`` as a live run of it at ``time_scale`` runs: Celery's costs in scenario
    seconds (``at_time_scale``) and the nodes scanning for messages to restore as the live app
    sets kombu (``live_restore_interval``), under ``overhead.model = "celery"``."""
    visibility = scenario.ack.visibility_timeout * time_scale
    live = scenario.replace(
        **{
            "overhead.restore_interval": float(live_restore_interval(visibility)),
            "overhead.restore_throttle": LIVE_RESTORE_THROTTLE,
        }
    )
    return at_time_scale(live, time_scale)


def handover(scenario: Scenario) -> float:
    """How long a slot takes to start its next task after its last one ended (scenario
    seconds): Celery's measured hand-over in its ack mode, none for the textbook queue."""
    if scenario.overhead.model == "none":
        return 0.0
    o = scenario.overhead
    return o.handover_late if scenario.ack.late else o.handover


def delivery(scenario: Scenario) -> tuple[float, float]:
    """Celery's delivery of a message to a worker (scenario seconds): its least time and the
    mean of the exponential wait on top, none for the textbook queue. ``overhead.dispatch``
    comes on top, as set, in either model."""
    if scenario.overhead.model == "none":
        return 0.0, 0.0
    return scenario.overhead.delivery, scenario.overhead.delivery_spread


def restore_scan(scenario: Scenario) -> float | None:
    """Seconds between a node's restore scans (scenario seconds), or None for the textbook
    queue, which restores a message exactly at its visibility deadline."""
    if scenario.overhead.model == "none":
        return None
    o = scenario.overhead
    return restore.scan_period(o.restore_interval, o.restore_throttle)


def serial_forks(scenario: Scenario) -> bool:
    """A node forks its new pool processes one after another on its event loop (measured):
    in the Celery model, not in the textbook queue."""
    return scenario.overhead.model == "celery"
