import tomllib

import pytest

from sim import scenario
from sim.analysis.calibrate import CalibrationError, Fit, calibrated_text, fit_overheads
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


def test_the_calibrated_file_is_the_users_scenario_with_only_the_fitted_fields(tmp_path):
    """Not the scenario of the calibration run: its --set overrides stay out of the file, and a
    data file the scenario names is still found from the file's new folder."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "service.csv").write_text("seconds\n0.5\n1.5\n")
    given = tmp_path / "in" / "mine.toml"
    given.write_text(
        'seed = 7\n[workers]\ncount = 3\n[service]\ndist = "empirical"\nfile = "service.csv"\n'
        '[[tasks]]\nname = "a"\n[tasks.service]\ndist = "empirical"\nfile = "service.csv"\n'
    )
    out = tmp_path / "out" / "calibrated.toml"
    out.parent.mkdir()
    fit = Fit(dispatch=0.02, record=0.01, executions_used=100, tasks_used=50)
    out.write_text(calibrated_text(given, fit, out, "a live run with --set run.tasks=600"))

    sc = scenario.load(out)
    assert (sc.seed, sc.workers.count, sc.run.tasks) == (7, 3, scenario.load(None).run.tasks)
    assert (sc.overhead.dispatch, sc.overhead.record) == (0.02, 0.01)
    assert sc.service.file == str(tmp_path / "out" / "../in/service.csv")
    assert sc.tasks[0].service.file == sc.service.file  # a task type's data file too
    assert set(tomllib.loads(out.read_text())) == {
        "seed",
        "workers",
        "service",
        "tasks",
        "overhead",
    }
    assert "--set run.tasks=600" in out.read_text().splitlines()[1]  # said, not applied
