import tomllib

import numpy as np
import pytest

from sim import scenario
from sim.analysis.calibrate import (
    CalibrationError,
    Fit,
    calibrated_text,
    delivery_fit,
    fit_overheads,
    slot_waits,
)
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
            "overhead.model": "none",
            "overhead.dispatch": 0.2,
            "overhead.record": 0.05,
        }
    )
    fit = fit_overheads(simulate(sc), sc)
    assert (fit.delivery, fit.delivery_spread) == pytest.approx((0.2, 0.0), abs=1e-9)
    assert fit.record == pytest.approx(0.05, abs=1e-9)
    assert fit.executions_used > 2000 and fit.tasks_used > 500


def test_a_trace_with_no_overheads_fits_zero():
    sc = make(**{"run.tasks": 500, "arrivals.rate": 1.0, "overhead.model": "none"})
    fit = fit_overheads(simulate(sc), sc)
    assert (fit.delivery, fit.delivery_spread) == (0.0, 0.0)
    assert fit.record == pytest.approx(0.0, abs=1e-9)


def test_fit_recovers_the_drawn_delivery_a_trace_was_made_with():
    """A quiet run (rate 1 on 8 slots): most tasks find a slot idle and wait only the
    delivery, 0.03 s plus an exponential of mean 0.02 s. Read from two quantiles of ~1,700
    draws, each comes back within 15 % (the quantiles' standard errors are under 5 %)."""
    sc = make(
        **{
            "run.tasks": 2000,
            "workers.count": 4,
            "workers.concurrency": 2,
            "arrivals.rate": 1.0,
            "overhead.delivery": 0.03,
            "overhead.delivery_spread": 0.02,
        }
    )
    fit = fit_overheads(simulate(sc), sc)
    assert fit.tasks_used > 1500
    assert fit.delivery == pytest.approx(0.03, rel=0.15)
    assert fit.delivery_spread == pytest.approx(0.02, rel=0.15)


def test_the_fit_says_the_deliverys_least_time_and_the_mean_on_top_apart():
    fit = Fit(0.0023, 0.0012, 0.0017, 100, 100, handover=0.0026)
    assert fit.describe() == (
        "delivery at least 2.3 ms and 1.2 ms more on average, record 1.7 ms, hand-over 2.6 ms"
    )


def test_delivery_fit_reads_a_shifted_exponential_and_a_constant():
    rng = np.random.default_rng(5)
    lags = 0.005 + rng.exponential(0.002, 20_000)
    assert delivery_fit(lags) == pytest.approx((0.005, 0.002), rel=0.03)
    assert delivery_fit(np.full(50, 0.2)) == pytest.approx((0.2, 0.0))


def test_too_short_a_trace_is_refused_with_a_remedy():
    sc = make(**{"run.tasks": 3})
    with pytest.raises(CalibrationError, match="run more tasks"):
        fit_overheads(simulate(sc), sc)


def test_too_few_idle_deliveries_are_refused_with_the_count_and_every_remedy():
    """One node at 50 tasks a second: only the first of 12 finds it idle. The error said to
    lower the rate or add workers, where a live run of 10 tasks needed more tasks."""
    sc = make(**{"run.tasks": 12, "workers.count": 1, "arrivals.rate": 50.0})
    with pytest.raises(CalibrationError) as err:
        fit_overheads(simulate(sc), sc)
    assert str(err.value) == (
        "1 of 12 executions found an idle worker, and the delivery is fitted from at least 5: "
        "calibrate with more tasks (run.tasks), at a lower arrival rate or with more workers"
    )


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
    fit = Fit(0.02, 0.004, record=0.01, executions_used=100, tasks_used=50)
    out.write_text(calibrated_text(given, fit, out, "a live run with --set run.tasks=600"))

    sc = scenario.load(out)
    assert (sc.seed, sc.workers.count, sc.run.tasks) == (7, 3, scenario.load(None).run.tasks)
    o = sc.overhead
    assert (o.delivery, o.delivery_spread, o.record, o.dispatch) == (0.02, 0.004, 0.01, 0.0)
    assert sc.service.file == str(tmp_path / "out" / "../in/service.csv")
    assert sc.tasks[0].service.file == sc.service.file  # a task type's data file too
    assert set(tomllib.loads(out.read_text())) == {
        "description",
        "seed",
        "workers",
        "service",
        "tasks",
        "overhead",
    }
    assert "--set run.tasks=600" in out.read_text().splitlines()[1]  # said, not applied
    assert sc.description == (
        "mine with Celery's costs fitted by queuelab calibrate on a live run with --set "
        f"run.tasks=600: {fit.describe()}."
    )


def test_a_calibrated_textbook_scenario_no_longer_says_it_is_without_celerys_costs(tmp_path):
    out = tmp_path / "mmc.toml"
    fit = Fit(0.002, 0.0005, record=0.001, executions_used=100, tasks_used=50)
    out.write_text(calibrated_text("scenarios/mmc.toml", fit, out, "a live run"))
    sc = scenario.load(out)
    assert "Without Celery" in scenario.load("scenarios/mmc.toml").description
    assert sc.overhead.model == "celery" and "Without Celery" not in sc.description
    assert sc.description.startswith("mmc with Celery's costs fitted")


@pytest.mark.parametrize("late", [False, True])
def test_fit_recovers_the_handover_a_trace_was_made_with(late):
    """Busy slots (rate 7 on 8 slots) hand over back to back; the fit is in the ack mode's
    field and puts Celery's costs in the calibrated file."""
    handover = 0.03 if late else 0.01
    field = "handover_late" if late else "handover"
    sc = make(
        **{
            "run.tasks": 2000,
            "workers.count": 4,
            "workers.concurrency": 2,
            "arrivals.rate": 7.0,
            "ack.late": late,
            f"overhead.{field}": handover,
        }
    )
    fit = fit_overheads(simulate(sc), sc)
    assert fit.handover_field == field
    assert fit.handover == pytest.approx(handover, abs=1e-9)
    assert fit.handovers_used > 500


def test_slot_waits_match_each_node_first_in_first_out():
    """Node 0's first two tasks found slots idle since it began; its slots end at 1.0 and 1.2
    and start their waiting tasks 0.05 later; the task that came at 2.9, after a slot freed,
    found it idle (a dispatch of 0.1); node 1's ends are its own, and a NaN is neither."""
    node = np.array([0, 0, 0, 0, 0, 1, 1])
    start = np.array([0.0, 0.1, 1.05, 1.25, 3.0, 0.0, 2.02])
    end = np.array([1.0, 1.2, 2.0, 2.1, 4.0, 2.0, 3.0])
    ready = np.array([0.0, 0.0, 0.5, 1.1, 2.9, 0.0, np.nan])
    handover, dispatch = slot_waits(node, start, end, ready)
    nan = np.nan
    assert handover == pytest.approx([nan, nan, 0.05, 0.05, nan, nan, nan], nan_ok=True)
    assert dispatch == pytest.approx([0.0, 0.1, nan, nan, 0.1, 0.0, nan], nan_ok=True)


def test_too_few_waiting_tasks_fit_no_handover_and_write_none(tmp_path):
    """A quiet run (rate 0.5 on 4 slots) rarely queues: the hand-over keeps its default."""
    sc = make(**{"run.tasks": 200, "arrivals.rate": 0.5, "workers.count": 4})
    fit = fit_overheads(simulate(sc), sc)
    assert fit.handover is None and fit.handovers_used < 10
    out = tmp_path / "calibrated.toml"
    out.write_text(calibrated_text("scenarios/mmc.toml", fit, out, "a test"))
    fitted = {"model", "dispatch", "delivery", "delivery_spread", "record"}
    assert set(tomllib.loads(out.read_text())["overhead"]) == fitted
