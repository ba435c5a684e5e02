"""The capacity samples of nodes that joined a live run from elsewhere (`queuelab worker`),
handed to the run through its Redis.

The run samples, in /proc, only the nodes it started; a joining process samples its own with
the same sampler (``live.capacity``) and appends what changed to the run's ``joined_capacity``
list (one of its own keys, ``live.run_keys``: renewed, expired and deleted with them), which the
collector reads and the run turns into capacity rows beside its own nodes'. So a joined node's
slots count in the run's worker-seconds, as its executions count in its busy time: without
them a run of one node joined by two read a utilisation of 216 %.

Times are the joining host's wall clock, as its nodes' event rows are: the run converts both
with its own clock, so the hosts' clocks are taken to agree (NTP), as for the events.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from live.capacity import Sample
from live.celery_app import LiveConfig
from live.run_keys import KEEP

PART = "joined_capacity"  # the run's key part (``run_keys.PARTS``)
SEPARATOR = "|"  # as ``live.events``: node names never contain it

# appends only while the run lives (its config, deleted when it ends, is there): a sample
# taken as the joined nodes stop, after the run deleted its keys, made the list again, left
# on a shared Redis for ``KEEP`` seconds; the list is made with its expiry, as every own key
APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""


def encode(sample: Sample) -> str:
    wall, node, up, processes = sample
    return SEPARATOR.join((f"{wall:.6f}", node, str(int(up)), str(processes)))


def decode(raw: bytes | str) -> Sample:
    text = raw.decode() if isinstance(raw, bytes) else raw
    wall, node, up, processes = text.split(SEPARATOR)
    return float(wall), node, up == "1", int(processes)


def hand_over(client: redis.Redis, config: LiveConfig, samples: Sequence[Sample]) -> None:
    """Append ``samples`` (wall time, node, up, processes) to the run's list, if it still
    runs."""
    if samples:
        keys = (config.key("config"), config.key(PART))
        client.eval(APPEND, len(keys), *keys, KEEP, *map(encode, samples))


def read(client: redis.Redis, config: LiveConfig, start: int = 0) -> list[Sample]:
    """The joined nodes' samples from index ``start`` on."""
    return [decode(raw) for raw in client.lrange(config.key(PART), start, -1)]
