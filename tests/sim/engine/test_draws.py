import numpy as np
import pytest

from sim import scenario
from sim.engine.draws import BLOCK_SHIFT, SEQUENTIAL, Draws
from tests.sim.helpers import make


def test_each_task_is_the_same_task_at_any_worker_count():
    a = Draws(make(**{"workers.count": 2, "run.tasks": 1000}))
    b = Draws(make(**{"workers.count": 16, "run.tasks": 1000}))
    assert np.array_equal(a.arrivals, b.arrivals)
    for k in range(3):
        assert np.array_equal(a.attempt(k).service, b.attempt(k).service)
        assert np.array_equal(a.attempt(k).fail, b.attempt(k).fail)


def test_a_task_keeps_its_draws_when_more_tasks_are_added():
    short = Draws(make(**{"run.tasks": 100}))
    long = Draws(make(**{"run.tasks": 5000}))
    assert np.array_equal(short.attempt(1).service, long.attempt(1).service[:100])
    assert np.array_equal(short.crash(0, 2), long.crash(0, 2)[:100])


def test_attempts_deliveries_and_seeds_are_independent_streams():
    d = Draws(make(**{"run.tasks": 20000}))
    a0, a1 = d.attempt(0).fail, d.attempt(1).fail
    assert abs(np.corrcoef(a0, a1)[0, 1]) < 0.03
    assert not np.array_equal(d.crash(0, 0), d.crash(0, 1))  # a redelivery is a new chance
    other = Draws(make(**{"run.tasks": 20000}), seed=2)
    assert not np.array_equal(d.attempt(0).service, other.attempt(0).service)


def test_service_distributions_have_their_stated_mean():
    n = {"run.tasks": 200_000}
    for dist, extra, mean in [
        ("exponential", {"service.mean": 2.0}, 2.0),
        ("lognormal", {"service.mean": 2.0, "service.cv": 3.0}, 2.0),
        ("uniform", {"service.low": 1.0, "service.high": 3.0}, 2.0),
        ("empirical", {"service.values": [1.0, 3.0]}, 2.0),
        ("constant", {"service.mean": 2.0}, 2.0),
    ]:
        d = Draws(make(**n, **{"service.dist": dist}, **extra))
        # lognormal with cv 3 has a heavy tail: 200k samples put its mean within ~2 %
        assert abs(d.attempt(0).service.mean() - mean) / mean < 0.03, dist


def test_arrival_processes():
    poisson = Draws(make(**{"run.tasks": 100_000, "arrivals.rate": 5.0})).arrivals
    assert abs(len(poisson) / poisson[-1] - 5.0) < 0.1
    const = Draws(make(**{"run.tasks": 10, "arrivals.process": "constant", "arrivals.rate": 2.0}))
    assert np.allclose(np.diff(const.arrivals), 0.5)
    burst = Draws(
        make(
            **{
                "run.tasks": 30,
                "arrivals.process": "burst",
                "arrivals.rate": 10.0,
                "arrivals.burst_size": 10,
            }
        )
    ).arrivals
    assert list(np.unique(burst)) == [0.0, 1.0, 2.0]
    timed = Draws(make(**{"run.duration": 100.0, "arrivals.rate": 3.0})).arrivals
    assert timed.max() < 100.0 and 200 < len(timed) < 400


def test_trace_replay_reads_arrival_times(tmp_path):
    (tmp_path / "a.csv").write_text("t\n10.0\n10.5\n12.0\n")
    d = Draws(make(**{"arrivals.process": "trace", "arrivals.file": str(tmp_path / "a.csv")}))
    assert list(d.arrivals) == [0.0, 0.5, 2.0]


def test_failures_are_the_fail_draws_below_each_types_probability():
    """``failures`` draws without keeping; it must agree with the kept uniforms, per type, and
    be all False without drawing when no type fails."""
    for p in (0.0, 0.3):
        d = Draws(make(**{"run.tasks": 2000, "failures.probability": p}))
        for k in range(2):
            assert np.array_equal(d.failures(k), d.attempt(k).fail < p)
    sc = scenario.load("scenarios/thumbnails_and_reports.toml")
    sc = sc.replace(**{"run.tasks": 2000, "failures.probability": 0.2})
    d = Draws(sc)
    p = np.array([t.failures.probability for t in sc.task_types])[d.type_of]
    assert p.any() and len(set(d.type_of.tolist())) == 2
    assert np.array_equal(d.failures(1), d.attempt(1).fail < p)
    assert np.array_equal(
        np.frombuffer(memoryview(d.services(0)), np.float64), d.attempt(0).service
    )


SHAPES = {  # every shape, with the fields it reads
    "exponential": {},
    "constant": {},
    "lognormal": {"service.cv": 2.0},
    "uniform": {"service.low": 0.5, "service.high": 2.0},
    "erlang": {"service.cv": 0.5},
    "hyperexponential": {"service.cv": 3.0},
    "pareto": {"service.cv": 1.5},
    "weibull": {"service.cv": 0.7},
    "empirical": {"service.values": [0.1, 0.5, 2.0]},
}


@pytest.mark.parametrize("dist", SHAPES)
def test_service_blocks_are_the_draw_of_every_task_read_in_any_order(dist):
    """A run reads a block of service times at a time, and an old block again for a
    redelivery: each must be that part of ``services(k)``, float for float, whichever order
    they are read in."""
    n = 3 * (1 << BLOCK_SHIFT) + 123
    d = Draws(make(**{"run.tasks": n, "service.dist": dist, **SHAPES[dist]}))
    for k in (0, 2):
        blocks = d.service_blocks(k)
        blocked = dist in SEQUENTIAL
        assert blocks.shift == BLOCK_SHIFT if blocked else (n - 1) >> blocks.shift == 0
        got = np.empty(n)
        for b in (2, 0, 3, 1, 0, 2) if blocked else (0, 0):  # ahead, back, again once let go
            lo = b << blocks.shift
            values = np.asarray(blocks.block(b))
            got[lo : lo + len(values)] = values
        assert np.array_equal(got, d.services(k))


def test_several_types_draw_their_service_times_as_one_block():
    sc = make(**{"run.tasks": 2000})
    two = sc.replace(tasks=[{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}])
    d = Draws(two)
    assert np.array_equal(np.asarray(d.service_blocks(0).block(0)), d.services(0))
