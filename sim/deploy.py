"""Rolling deploys: every ``workers.deploy_every`` seconds the workers restart one by one.

As a deploy tool does it: each node gets SIGTERM (a warm shutdown, see ``Worker.redeploy``) and
the next one only when the previous is back. Deploys happen while tasks arrive: after the last
arrival the run drains undisturbed, so it ends even when deploys come faster than a task can
finish (which, under late ack, would otherwise kill and redeliver it for ever).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.model import Model


def rolling_deploys(model: Model):
    """The SimPy process of a run's deploys."""
    while True:
        yield model.env.timeout(model.scenario.workers.deploy_every)
        if model.produced:
            return
        for worker in model.workers:
            yield worker.redeploy()
