"""Small helpers the simulator tests share."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence

import numpy as np

from sim import scenario
from sim.engine.broker import Message
from sim.engine.draws import Draws
from sim.engine.model import Model
from sim.rules import fate
from sim.rules.states import STARTED
from sim.scenario import Scenario
from sim.trace import Trace

# What one node (concurrency 1) held, as (un-acked, queued), at ``look`` seconds after the first
# send: a situation is (tasks as (send time, countdown or None), look), then the counts per
# (multiplier, late ack), multiplier 0 being no limit. Measured on Celery 5.7 / redis-server 7
# and pinned by tests/live/test_celery_prefetch.py (DESIGN.md, "A worker keeps consuming").
PREFETCH_HELD = {
    # six 4 s tasks at once: kombu keeps consuming while the limit allows, and under early ack
    # the running task no longer counts against it
    "plain": (
        ((0.0, None),) * 6,
        1.5,
        {(1, False): (1, 4), (1, True): (1, 5), (4, False): (4, 1), (4, True): (4, 2)}
        | {(0, False): (5, 0), (0, True): (6, 0)},
    ),
    # three 20 s countdowns, then four 4 s tasks: held ETA messages do not count
    "eta held": (
        ((0.0, 20.0),) * 3 + ((0.3, None),) * 4,
        1.8,
        {(1, False): (4, 2), (1, True): (4, 3), (4, False): (6, 0), (4, True): (7, 0)}
        | {(0, False): (6, 0), (0, True): (7, 0)},
    ),
    # a 1 s countdown running from 1 s, then four 4 s tasks at 2.5 s: once due, it counts again
    # (sent 1.5 s after it was due, so that the BRPOP the node had waiting, which kombu no
    # longer renews, has timed out: ``brpop_timeout``, 1 s)
    "eta due": (
        ((0.0, 1.0),) + ((2.5, None),) * 4,
        3.5,
        {(1, False): (1, 3), (1, True): (1, 4), (4, False): (4, 0), (4, True): (4, 1)}
        | {(0, False): (4, 0), (0, True): (5, 0)},
    ),
}


def make(**fields) -> Scenario:
    """The default scenario with dotted fields replaced: make(**{"workers.count": 2})."""
    return scenario.load(None).replace(**fields)


def joined_as(trace: Trace, node: str, name: str) -> Trace:
    """``trace`` with ``node`` renamed ``name`` in its workers and capacity rows: as if it had
    joined the run from elsewhere (`queuelab worker`), the scenario naming it no more."""
    renamed = {node: name}
    return dataclasses.replace(
        trace,
        workers=tuple(renamed.get(w, w) for w in trace.workers),
        capacity=tuple((t, renamed.get(n, n), *rest) for t, n, *rest in trace.capacity),
    )


def sent_with_countdowns(sc: Scenario, tasks: Sequence[tuple[float, float | None]]) -> Model:
    """A model of ``sc`` whose task i is sent at ``tasks[i][0]``, with the countdown
    ``tasks[i][1]`` (None: none) as a retry is sent: an ETA message. Its producer's call to
    publish is replaced (a compiled ``Producer``'s methods cannot be, ``sim.compiled``)."""
    model = Model(sc, arrivals=np.array([at for at, _ in tasks]))
    publish = model.producer._publish

    def send(message: Message) -> None:
        countdown = tasks[message.task][1]
        if countdown is not None:
            message.eta = model.env.now + countdown
        publish(message)

    model.producer._publish = send
    return model


# a small live run whose crashes kill nodes mid-task: 40 tasks, three single-slot nodes
CRASHY = {
    "run.tasks": 40,
    "workers.count": 3,
    "arrivals.rate": 1.0,
    "service.mean": 2.0,
    "service.dist": "constant",
    "failures.crash_probability": 0.1,
    "ack.visibility_timeout": 60.0,
    "workers.prefetch_multiplier": 1,
    "workers.restart_delay": 5.0,
}


def crashing_tasks(sc: Scenario) -> set[int]:
    """Tasks whose first execution of their first attempt dies (the same draw in both engines)."""
    draws = Draws(sc)
    return {t for t in range(draws.n_tasks) if fate.work(draws, t, 0, 0).crash_at is not None}


def first_start_and_worker(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """Per task, the time of its first STARTED row and the worker that ran it."""
    rows = np.flatnonzero(trace.state == STARTED)
    tasks, first = np.unique(trace.task[rows], return_index=True)
    t = np.full(trace.n_tasks, np.nan)
    w = np.full(trace.n_tasks, -1)
    t[tasks] = trace.t[rows[first]]
    w[tasks] = trace.worker[rows[first]]
    return t, w


def web_and_batch(shared: str, batch: str, run: str = "") -> Scenario:
    """A "web" type taking [arrivals] (``shared``'s fields) beside a "batch" type with its own
    [tasks.arrivals] (``batch``'s), ``run`` the [run] table's fields: TOML lines each."""
    return scenario.loads(
        f'[run]\n{run}\n[arrivals]\n{shared}\n[[tasks]]\nname = "web"\n'
        f'[[tasks]]\nname = "batch"\n[tasks.arrivals]\n{batch}\n'
    )


def run_digest(sc: Scenario) -> str:
    """A digest of ``sc``'s simulated trace, its task names and workers, and its summary: equal
    for two runs exactly when they are the same byte for byte."""
    from sim.analysis import runs
    from sim.engine.model import simulate

    trace = simulate(sc)
    digest = hashlib.sha256(repr((trace.types, trace.workers)).encode())
    for column in (trace.task, trace.attempt, trace.state, trace.t, trace.worker):
        digest.update(column.tobytes())
    digest.update(json.dumps(runs.summarize(trace, sc).to_dict(), sort_keys=True).encode())
    return digest.hexdigest()


def check_decisions_against_capacity(trace, first: list[str], late: float = 0.0) -> None:
    """A node-autoscaled run's ``decisions`` against what its capacity rows say happened: each
    poll starts from the node count the one before went to, starts and stops as many nodes as
    it names; the nodes started, in order, are those the capacity rows show appearing after the
    run's ``first`` nodes, each down with 0 processes at its decision (within ``late``); each
    node stopped is down from its decision on (its row within ``late``), never up again."""
    decisions = trace.decisions
    assert [d.nodes for d in decisions[1:]] == [d.goal for d in decisions[:-1]]
    for d in decisions:
        assert d.goal - d.nodes == len(d.added) - len(d.removed)
        assert not (d.added and d.removed)
    appeared = [
        n for n in dict.fromkeys(node for _, node, _, _ in trace.capacity) if n not in first
    ]
    assert [n for d in decisions for n in d.added] == appeared
    rows = {}
    for t, node, up, processes in trace.capacity:
        rows.setdefault(node, []).append((t, up, processes))
    for d in decisions:
        for node in d.added:
            t, up, processes = rows[node][0]
            assert d.t <= t <= d.t + late and (up, processes) == (False, 0), (node, d.t, t)
        for node in d.removed:
            after = [(t, up) for t, up, _ in rows[node] if t >= d.t]
            assert after and after[0][0] <= d.t + late, (node, d.t, rows[node])
            assert not any(up for _, up in after), (node, rows[node])
