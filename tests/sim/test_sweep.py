import pytest

from sim import analytic, sweep
from tests.sim.helpers import make

MMC = make(
    **{"arrivals.rate": 3.2, "workers.prefetch_multiplier": 1, "ack.late": True, "run.tasks": 20000}
)


def test_estimate_has_a_student_t_interval():
    e = sweep.estimate([1.0, 2.0, 3.0])
    assert e.mean == 2.0
    # t(0.975, 2) = 4.303, s = 1, n = 3
    assert e.high - e.mean == pytest.approx(4.303 / 3**0.5, rel=1e-3)
    assert sweep.estimate([5.0]) == sweep.Estimate(5.0, None, None)


def test_sweep_in_processes_matches_a_serial_sweep_and_erlang_c():
    serial = sweep.sweep(MMC, [4, 8], reps=3, processes=1)
    parallel = sweep.sweep(MMC, [4, 8], reps=3, processes=2)
    assert serial == parallel
    at4 = serial[0]
    assert at4.wait_mean.low < analytic.mmc_wait(3.2, 1.0, 4) * 1.1
    assert at4.wait_mean.high > analytic.mmc_wait(3.2, 1.0, 4) * 0.9
    assert serial[1].wait_mean.mean < at4.wait_mean.mean  # more workers, less waiting
    assert serial[1].utilization.mean == pytest.approx(0.4, rel=0.05)


def test_common_random_numbers_make_more_workers_never_slower():
    points = sweep.sweep(MMC, [4, 5, 6], reps=2, processes=1)
    waits = [p.wait_mean.mean for p in points]
    assert waits == sorted(waits, reverse=True)
