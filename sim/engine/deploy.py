"""Rolling deploys: every ``workers.deploy_every`` seconds the workers restart one by one; and
a node autoscaler's removal, the same warm shutdown without the restart.

As a deploy tool does it: each node gets SIGTERM, a warm shutdown, and the next one only when
the previous is back. Deploys happen while tasks arrive: after the last arrival the run drains
undisturbed, so it ends even when deploys come faster than a task can finish (which, under late
ack, would otherwise kill and redeliver it for ever).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING

import simpy

if TYPE_CHECKING:
    from sim.engine.producer import Producer
    from sim.engine.worker import Worker


def rolling_deploys(
    env: simpy.Environment, workers: Sequence[Worker], every: float, producer: Producer
) -> Generator[simpy.Event, None, None]:
    """The SimPy process of a run's deploys."""
    while True:
        yield env.timeout(every)
        if producer.produced:
            return
        for worker in workers:
            if not worker.retired:
                yield warm_shutdown(worker)


def warm_shutdown(worker: Worker) -> simpy.Event:
    """Restart ``worker`` as SIGTERM does: it takes and starts no more messages and lets running
    tasks finish. What it reserved (ETA messages too) stays un-acked in Redis until the node
    exits, when kombu restores it as the connection closes; killed because its tasks outlast
    ``shutdown_grace``, it restores nothing, and those messages wait out the visibility timeout
    (as Celery 5.7 on Redis does: see DESIGN.md). Returns an event fired when it is back up."""
    back = worker.when_back()
    if worker.down:
        return back  # already dead: back when it restarts
    worker.stop_taking()
    grace = worker.env.timeout(worker.policy.shutdown_grace)
    grace.callbacks.append(lambda _: _grace_over(worker, back))
    worker.exit_if_idle()
    return back


def _grace_over(worker: Worker, back: simpy.Event) -> None:
    """SIGKILL after the grace period, if this shutdown still waits: running tasks die too."""
    if worker.stopping and worker.back is back:
        worker.crash()


def remove(worker: Worker) -> None:
    """Take ``worker`` away for good (a node autoscaler's scale-down): a warm shutdown and no
    restart. One already stopping or down just stays down; a deploy waiting for it goes on."""
    worker.retired = True
    if not (worker.stopping or worker.down):
        warm_shutdown(worker)
    elif worker.back is not None:
        worker.back.succeed()
        worker.back = None
