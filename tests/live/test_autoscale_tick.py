"""A pool that ``--autoscale`` grew on a keepalive tick shrinks on the next tick, live and
simulated alike (DESIGN, `--autoscale`'s Down rule, where the figures are).

A rate-limited task's message calls no ``maybe_scale`` (celery/worker/strategy.py: the bucket
path returns before the ``on_task_message`` callbacks; the consumer's ``_limit_move_to_pool``
only reserves the request), so its pool grows on the autoscaler's timer tick, from
``len(reserved_requests)``. kombu's ``Timer.call_repeatedly`` re-arms that timer keepalive
seconds after the tick's own work (``enter_after`` from ``monotonic()`` once the forks are
done), while ``scale_up`` noted its time before forking: the next tick is more than keepalive
after that scale-up, and it shrinks the pool there, not one keepalive later.
"""

import pytest

from sim.engine.model import simulate
from tests.live.measuring import closely_sampled_run
from tests.sim.helpers import make

KEEPALIVE = 2.0  # wall seconds at time scale 1


def rate_limited_burst(times_file):
    """One node of ``--autoscale 4,1``: a lone task at 0, a burst of eight 0.3 s tasks at
    keepalive / 2 (between two ticks: a burst on a tick could be reserved before a late tick
    ran), and a last task at 10 s that keeps the run going past the shrink. The tick at 2 s
    finds at least five reserved (at most three of the burst ended on the one process) and
    grows the pool to 4; the rest end well before the next tick."""
    times_file.write_text("0\n" + "1\n" * 8 + "10\n")
    return make(
        **{
            "run.tasks": 10,
            "arrivals.process": "trace",
            "arrivals.file": str(times_file),
            "service.dist": "constant",
            "service.mean": 0.3,
            "workers.count": 1,
            "workers.autoscale_max": 4,
            "workers.autoscale_min": 1,
            "workers.autoscale_keepalive": KEEPALIVE,
            "workers.prefetch_multiplier": 4,
        }
    ).replace(tasks=[{"name": "scrape", "rate_limit": "100/s"}])


@pytest.mark.live
@pytest.mark.alone
def test_a_pool_grown_on_a_tick_shrinks_on_the_next_tick(redis_url, no_leftovers, tmp_path):
    """The simulated pool grows on the 2 s tick (its forks one after another) and shrinks on the
    4 s tick. Live, sampled every 0.2 s, the pool grows on the tick too (not on the burst's
    messages, 1 s before it) and is seen back at one process more than one keepalive and less
    than two after its last fork. The band holds on a busy host: the next tick is re-armed
    keepalive after the tick's forks, so it comes more than keepalive after the last fork, and
    only the tick's lateness, the reaping and a look (0.2 s) add to that; a pool kept one tick
    more would shrink at least two keepalives after its last fork. About 15 s wall."""
    sc = rate_limited_burst(tmp_path / "times.txt")
    simulated = [(t, n) for t, _, _, n in simulate(sc).capacity]
    assert simulated == [(0.0, 1), (2.2, 2), (2.4, 3), (2.6, 4), (2 * KEEPALIVE, 1)]

    trace, samples = closely_sampled_run(sc, redis_url)
    grown = next(t for t, _, _, n in trace.capacity if n > 1)  # scenario s, the origin a tick
    assert KEEPALIVE - 0.5 < grown < 1.5 * KEEPALIVE, trace.capacity
    looks = [(wall, n) for wall, _, up, n in samples if up]
    peak = max(n for _, n in looks)
    top = next(i for i, (_, n) in enumerate(looks) if n == peak)
    last_fork, shrunk = looks[top][0], next(w for w, n in looks[top:] if n < peak)
    forks = last_fork - next(w for w, n in looks if n > 1)
    print(f"grown at {grown:.2f} s, forks {forks:.2f} s, shrunk {shrunk - last_fork:.2f} s later")
    assert peak == 4 and looks[-1][1] == 1, looks
    assert KEEPALIVE < shrunk - last_fork < 2 * KEEPALIVE, (shrunk - last_fork, looks)
