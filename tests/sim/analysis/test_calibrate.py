import pytest

from sim.analysis.calibrate import CalibrationError, fit_overheads
from sim.engine.model import simulate
from tests.sim.helpers import make


def test_fit_recovers_the_overheads_a_trace_was_made_with():
    sc = make(
        **{
            "run.tasks": 2000,
            "workers.count": 4,
            "workers.concurrency": 2,
            "arrivals.rate": 2.0,
            "failures.probability": 0.2,
            "retry.backoff": 1.0,
            "overhead.dispatch": 0.2,
            "overhead.record": 0.05,
        }
    )
    fit = fit_overheads(simulate(sc), sc)
    assert fit.dispatch == pytest.approx(0.2, abs=1e-9)
    assert fit.record == pytest.approx(0.05, abs=1e-9)
    assert fit.executions_used > 2000 and fit.tasks_used > 500


def test_a_trace_with_no_overheads_fits_zero():
    sc = make(**{"run.tasks": 500, "arrivals.rate": 1.0})
    fit = fit_overheads(simulate(sc), sc)
    assert fit.dispatch == 0.0 and fit.record == pytest.approx(0.0, abs=1e-9)


def test_too_short_a_trace_is_refused_with_a_remedy():
    sc = make(**{"run.tasks": 3})
    with pytest.raises(CalibrationError, match="run more tasks"):
        fit_overheads(simulate(sc), sc)
