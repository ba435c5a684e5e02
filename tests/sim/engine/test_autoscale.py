"""--autoscale in the simulator: a burst grows the pool at once and it shrinks on the timer
keepalive seconds after the last task received; processes stay within min and max, never below
the tasks running; max = min is a fixed pool."""

import math

import numpy as np
import pytest
from hypothesis import given, settings

from sim.analysis.metrics import execution_spans
from sim.engine.broker import RunawayError
from sim.engine.model import simulate
from sim.rules.states import RECEIVED, STARTED
from sim.scenario import ScenarioError
from sim.strategies import scenarios
from tests.sim.helpers import make

BURST = {
    "run.tasks": 40,
    "arrivals.process": "burst",
    "arrivals.burst_size": 40,
    "arrivals.rate": 1.0,
    "service.dist": "constant",
    "service.mean": 2.0,
    "workers.count": 1,
    "workers.autoscale_max": 8,
    "workers.autoscale_min": 1,
    "workers.process_start": 0.5,
}


def test_a_burst_grows_the_pool_to_max_at_once_and_it_shrinks_after_keepalive():
    # without Celery's costs each process takes work process_start after its scale-up
    # (tests/sim/test_costs.py: the serialised forks of the Celery model)
    trace = simulate(make(**BURST, **{"overhead.model": "none"}))
    processes = [(t, n) for t, _, _, n in trace.capacity]
    assert processes[0] == (0.0, 1)  # the pool starts with min
    assert processes[1:8] == [(0.0, n) for n in range(2, 9)]  # a process per message received
    received = trace.t[trace.state == RECEIVED]
    # prefetch: max 8 × multiplier 4 reserved (not 1 × 4), and the first task, acked early
    assert np.count_nonzero(received == 0) == 32 + 1
    starts = np.sort(trace.t[trace.state == STARTED])
    assert starts[0] == 0.0 and np.all(starts[1:8] == 0.5)  # new processes take work 0.5 s later
    # shrink: on the first timer tick (every keepalive from the start) more than keepalive
    # seconds after the last task received
    last = received.max()
    tick = 30.0 * (math.floor((last + 30.0) / 30.0) + 1)
    assert processes[8:] == [(tick, 1)]
    assert trace.t.max() < tick  # the run's tasks were all done long before


def test_autoscale_max_equal_to_min_is_a_fixed_pool_row_for_row():
    fixed = make(
        **{
            **BURST,
            "workers.autoscale_max": 0,
            "workers.autoscale_min": 0,
            "workers.concurrency": 3,
        }
    )
    scaled = make(**{**BURST, "workers.autoscale_max": 3, "workers.autoscale_min": 3})
    a, b = simulate(fixed), simulate(scaled)
    for column in ("task", "attempt", "state", "t", "worker"):
        assert np.array_equal(getattr(a, column), getattr(b, column))
    assert a.capacity == b.capacity


def running_within_processes(trace) -> bool:
    """At every capacity row and every start, a node runs no more tasks than it has processes."""
    spans = execution_spans(trace)
    for index, node in enumerate(trace.workers):
        rows = [(t, n) for t, name, _, n in trace.capacity if name == node]
        mine = spans["worker"] == index
        start, end = spans["start"][mine], spans["end"][mine]
        for t in sorted({t for t, _ in rows} | set(start.tolist())):
            processes = [n for at, n in rows if at <= t][-1]
            if np.count_nonzero((start <= t) & (end > t)) > processes:
                return False
    return True


@settings(max_examples=40, deadline=None)
@given(scenarios(max_tasks=120, crashes=False, autoscale=True))
def test_processes_stay_within_min_and_max_and_above_the_running_tasks(sc):
    trace = simulate(sc)
    w = sc.workers
    assert all(w.autoscale_min <= n <= w.autoscale_max for _, _, _, n in trace.capacity)
    assert running_within_processes(trace)
    assert [row[0] for row in trace.capacity] == sorted(row[0] for row in trace.capacity)


@pytest.mark.parametrize(
    "fields",
    [
        {"workers.autoscale_keepalive": 1e-6},  # ticked a million times a second of the run
        {"service.mean": 1e7},  # ticked every 30 s through months of a task
        {"workers.process_start": 1e9},  # ticked every 30 s until the processes came up
    ],
)
def test_a_keepalive_timer_that_would_tick_for_hours_stops_the_run_naming_its_field(fields):
    sc = make(**{"run.tasks": 50, "workers.count": 2, "workers.autoscale_max": 4, **fields})
    with pytest.raises(RunawayError, match=r"the autoscaler's timer fired more than 15,000 times"):
        simulate(sc)
    with pytest.raises(RunawayError, match=r"Raise pools\.slow\.autoscale_keepalive"):
        simulate(sc.replace(pools=[{"name": "slow", "count": 2, "autoscale_max": 4}]))


def test_a_keepalive_below_the_clocks_step_is_refused_with_its_range():
    """5e-324 overflowed the count of the timer's ticks (OverflowError)."""
    with pytest.raises(ScenarioError, match=r"autoscale_keepalive = 5e-324 .*>= 1e-06"):
        make(**{"workers.autoscale_keepalive": 5e-324})


def test_a_pool_grown_on_a_tick_shrinks_on_the_next_tick():
    """A rate-limited task grows the pool only on a timer tick (its message calls no
    maybe_scale, strategy.py:216-221). kombu re-arms the timer keepalive after the tick's own
    work (call_repeatedly), so the next tick is more than keepalive after that scale-up and the
    pool shrinks there, as a live run did; the model had it wait one keepalive more (a pool of
    4 held 10 s longer: its utilisation 30 % under the live run's)."""
    small = {"run.tasks": 8, "arrivals.burst_size": 8, "service.mean": 3.0}
    rate_limited = make(
        **{**BURST, **small, "workers.autoscale_max": 4, "workers.process_start": 0.1},
        **{"overhead.model": "none", "workers.autoscale_keepalive": 10.0},
    ).replace(tasks=[{"name": "scrape", "rate_limit": "100/s"}])
    trace = simulate(rate_limited)
    processes = [(t, n) for t, _, _, n in trace.capacity]
    assert processes[0] == (0.0, 1)
    # the 10 s tick finds 5 reserved on 1 process: grown to 4, then shrunk on the 20 s tick
    assert processes[1:] == [(10.0, 4), (20.0, 1)]
