"""A live run's node-autoscaler decisions, recorded in its Redis as it makes them.

Each poll of a pool's node autoscaler (``live.node_autoscaler``) appends its ``Decision`` (the
simulator's, ``sim.rules.node_autoscale``: the queue it read, the nodes it wanted, what the
cooldown kept, the nodes started and stopped) to the run's ``node_decisions`` list, one of its
own keys (``live.run_keys``: made with its expiry, renewed, deleted when the run ends). The
collector reads the list as it reads the event rows and gives the decisions in the trace, so
whoever draws the run (the Live page) reads what the run recorded and writes nothing. Times are
scenario seconds: a poll is due on the simulator's grid of ``node_interval``.
"""

from __future__ import annotations

import dataclasses
import json

import redis

from live.celery_app import LiveConfig
from sim.rules.node_autoscale import Decision

PART = "node_decisions"  # the run's key part (``run_keys.PARTS``)


def encode(decision: Decision) -> str:
    """One decision as JSON (node names may hold any character; floats keep their digits)."""
    return json.dumps(dataclasses.asdict(decision), separators=(",", ":"))


def decode(raw: bytes | str) -> Decision:
    fields = json.loads(raw)
    return Decision(
        **fields | {"added": tuple(fields["added"]), "removed": tuple(fields["removed"])}
    )


def record(client: redis.Redis, config: LiveConfig, decision: Decision) -> None:
    """Append ``decision`` to the run's list."""
    client.rpush(config.key(PART), encode(decision))


def read(client: redis.Redis, config: LiveConfig, start: int = 0) -> list[Decision]:
    """The run's decisions from index ``start`` on."""
    return [decode(raw) for raw in client.lrange(config.key(PART), start, -1)]
