import numpy as np
import pytest

from sim.analysis import groups
from sim.analysis.groups import step_peak
from sim.analysis.metrics import step_counts


@pytest.mark.parametrize("seed", range(20))
def test_the_step_peak_is_the_highest_level_of_the_step_counts(seed, monkeypatch):
    """Times on a coarse grid, so rises and falls tie often; falls before any rise too; in
    blocks of 7 steps, so a peak can sit in any block."""
    monkeypatch.setattr(groups, "_BLOCK", 7)
    rng = np.random.default_rng(seed)
    up = rng.integers(0, 30, rng.integers(0, 60)).astype(float)
    down = rng.integers(0, 30, rng.integers(0, 60)).astype(float)
    _, level = step_counts(up, down)
    assert step_peak(np.sort(up), np.sort(down)) == (float(level.max()) if len(level) else 0.0)


def test_a_fall_at_the_time_of_a_rise_comes_first():
    assert step_peak(np.array([1.0, 2.0]), np.array([2.0])) == 1.0
    assert step_peak(np.array([]), np.array([1.0])) == -1.0
    assert step_peak(np.array([]), np.array([])) == 0.0
