"""The worker nodes of a run: where the run's clock starts under --autoscale."""

import pytest

from live.celery_app import LiveConfig
from live.workers import Node, WorkerPool, on_keepalive_grid
from tests.sim.helpers import make


def pool_ready_at(sc, ready_at: dict[str, float], time_scale: float) -> WorkerPool:
    config = LiveConfig("redis://127.0.0.1:1/0", "unused.toml", time_scale, 1, "run")
    nodes = [Node(name, p.name, p.workers.concurrency) for name, p in sc.nodes]
    pool = WorkerPool(config, nodes, restart_delay=1.0)
    pool.ready_at = ready_at
    return pool


def test_an_autoscaling_run_starts_on_its_first_nodes_keepalive_tick():
    """Keepalive 30 s at time scale 0.05 ticks every 1.5 wall s from the node's ready time
    (100.0): a run that could start at 104.0 starts at 104.5, on the tick, as the simulator's
    timer ticks from the node's start at 0; one at 106.0 exactly stays there."""
    sc = make(**{"workers.count": 2, "workers.autoscale_max": 4, "workers.autoscale_min": 1})
    pool = pool_ready_at(sc, {"w1": 100.0, "w2": 100.7}, 0.05)
    assert on_keepalive_grid(pool, sc, 104.0) == pytest.approx(104.5)
    assert on_keepalive_grid(pool, sc, 106.0) == pytest.approx(106.0)


def test_a_fixed_pool_starts_at_once():
    sc = make(**{"workers.count": 2})
    assert on_keepalive_grid(pool_ready_at(sc, {"w1": 100.0}, 0.05), sc, 104.0) == 104.0
