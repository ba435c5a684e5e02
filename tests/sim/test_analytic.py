import math

import numpy as np
import pytest

from sim import analytic


@pytest.mark.parametrize(("lam", "c", "wq"), [(3.2, 4, 0.7455), (2.8, 4, 0.3572), (7.2, 8, 0.8769)])
def test_erlang_c_reference_values(lam, c, wq):
    assert analytic.mmc_wait(lam, 1.0, c) == pytest.approx(wq, abs=5e-5)


def test_mm1_has_closed_forms():
    lam, s = 0.5, 1.0
    assert analytic.erlang_c(lam, s, 1) == pytest.approx(0.5)  # P(wait) = ρ
    assert analytic.mmc_wait(lam, s, 1) == pytest.approx(1.0)  # ρ/(μ − λ)


def test_erlang_b_is_stable_for_large_pools():
    assert 0 < analytic.erlang_c(900, 1.0, 1000) < 1


def test_little_and_the_tail():
    r = analytic.analyze(3.2, 1.0, 4)
    assert r.queue_len_mean == pytest.approx(3.2 * r.wait_mean)
    assert r.in_system_mean == pytest.approx(3.2 * (r.wait_mean + 1.0))
    assert analytic.mmc_wait_exceeds(r.wait_p95, 3.2, 1.0, 4) == pytest.approx(0.05)


def test_allen_cunneen_reduces_to_erlang_c_for_exponential():
    assert analytic.allen_cunneen(3.2, 1.0, 4, 1.0, 1.0) == analytic.mmc_wait(3.2, 1.0, 4)
    assert analytic.allen_cunneen(3.2, 1.0, 4, 1.0, 0.0) == pytest.approx(0.5 * 0.7455, abs=1e-4)


def test_kingman_is_mm1_for_exponential():
    assert analytic.kingman(0.8, 1.0, 1.0, 1.0) == pytest.approx(analytic.mmc_wait(0.8, 1.0, 1))


def test_unstable_load_is_refused_with_a_remedy():
    with pytest.raises(analytic.UnstableError, match="at least 5 workers"):
        analytic.erlang_c(4.5, 1.0, 4)
    assert math.isclose(analytic.utilization(3.2, 1.0, 4), 0.8)


def test_sojourn_tail_reduces_to_mm1():
    # M/M/1: the sojourn is exponential with rate μ − λ
    assert analytic.mmc_sojourn_exceeds(2.0, 0.5, 1.0, 1) == pytest.approx(math.exp(-0.5 * 2.0))
    assert analytic.mmc_sojourn_quantile(0.95, 0.5, 1.0, 1) == pytest.approx(math.log(20) / 0.5)


def test_sojourn_quantile_matches_the_simulator():
    from sim.metrics import sojourns
    from sim.model import simulate
    from tests.sim.helpers import make

    sc = make(
        **{
            "workers.count": 4,
            "arrivals.rate": 3.2,
            "workers.prefetch_multiplier": 1,
            "ack.late": True,
            "run.tasks": 200_000,
        }
    )
    p95 = float(np.percentile(sojourns(simulate(sc)), 95))
    assert p95 == pytest.approx(analytic.mmc_sojourn_quantile(0.95, 3.2, 1.0, 4), rel=0.04)
