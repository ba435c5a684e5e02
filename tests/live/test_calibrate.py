"""Calibrate on a live run at 2 workers; the simulation then predicts a live run at 4."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from live.run import run_live
from sim import costs, scenario
from sim.analysis.metrics import summarize
from sim.engine.model import simulate

# alone, each live test marked so (a new one too), but where it checks no fitted figure
pytestmark = pytest.mark.live

SCALE = 0.05
# relative, on p50 and p95 sojourn; same seed, so both engines see the same tasks. 15 % holds on
# a quiet machine; on a busy one the 4-node run competes for the 2 cores more than the 2-node run
# it was calibrated on, and misses of 27-29 % were measured (issue #14: Celery's per-task cost
# grows with the machine's load, which calibrate cannot yet see).
TOLERANCE = 0.35
BASE = [
    "run.tasks=300",
    "service.dist=exponential",
    "service.mean=1.0",
    "workers.prefetch_multiplier=1",
    "ack.late=true",
    "seed=3",
]


@pytest.mark.alone
def test_calibrated_simulation_predicts_another_worker_count(redis_url, tmp_path, no_leftovers):
    out = tmp_path / "calibrated.toml"
    sets = [arg for s in [*BASE, "workers.count=2", "arrivals.rate=1.2"] for arg in ("--set", s)]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "queuelab.cli",
            "calibrate",
            "scenarios/mmc.toml",
            *sets,
            "--redis-url",
            redis_url,
            "--time-scale",
            str(SCALE),
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    fit = json.loads(r.stdout)
    assert fit["delivery"] > 0 and fit["record"] > 0  # real Celery costs something per task
    assert fit["handover_field"] == "handover_late" and 0 < fit["handover"] < 0.2

    # the file is mmc.toml with the fitted fields, not the calibration run's --set overrides
    fitted = {
        "overhead.model": "celery",
        "overhead.dispatch": 0.0,  # the fitted delivery holds it
        "overhead.delivery": fit["delivery"],
        "overhead.delivery_spread": fit["delivery_spread"],
        "overhead.record": fit["record"],
        "overhead.handover_late": fit["handover"],
    }
    said = scenario.load(out).description  # what it is now, not mmc's "without Celery's costs"
    assert said.startswith("mmc with Celery's costs fitted by queuelab calibrate on a live run")
    fitted["description"] = said
    raw = scenario.load("scenarios/mmc.toml", [*BASE, "workers.count=4", "arrivals.rate=2.4"])
    assert scenario.load(out) == scenario.load("scenarios/mmc.toml").replace(**fitted)
    calibrated = scenario.load(out, [*BASE, "workers.count=4", "arrivals.rate=2.4"])
    assert calibrated == raw.replace(**fitted)
    live = summarize(run_live(raw, redis_url, time_scale=SCALE), 4, engine="live")
    # the fit is in wall seconds: at the live run's time scale it is fit ÷ SCALE scenario seconds
    predicted = summarize(simulate(costs.at_time_scale(calibrated, SCALE)), 4)
    uncalibrated = summarize(simulate(costs.at_time_scale(raw, SCALE)), 4)
    for figure in ("sojourn_p50", "sojourn_p95"):
        real, guess, naive = (getattr(s, figure) for s in (live, predicted, uncalibrated))
        assert abs(guess - real) < abs(naive - real), (figure, real, guess, naive)
        assert guess == pytest.approx(real, rel=TOLERANCE), (figure, real, guess, naive)


# not alone: it checks where the fit is written and what is said, not the fitted figures
def test_a_fit_whose_out_folder_went_away_is_written_to_a_temp_folder(
    redis_url, tmp_path, no_leftovers
):
    """--out's folder removed mid-run: the run and its fit were lost with an error naming the
    file; they are now written under a new temp folder, said on stderr, exit 2."""
    (tmp_path / "gone").mkdir()
    (tmp_path / "tmp").mkdir()
    sets = [arg for s in [*BASE, "workers.count=2", "arrivals.rate=1.2"] for arg in ("--set", s)]
    calibrating = subprocess.Popen(
        [sys.executable, "-m", "queuelab.cli", "calibrate", "scenarios/mmc.toml", *sets]
        + ["--redis-url", redis_url, "--time-scale", str(SCALE), "--json"]
        + ["--out", str(tmp_path / "gone" / "calibrated.toml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")},
    )
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 120
    while not any(client.llen(key) > 20 for key in client.keys("queuelab:*:events")):
        assert time.monotonic() < deadline and calibrating.poll() is None, "the run never began"
        time.sleep(0.1)
    shutil.rmtree(tmp_path / "gone")
    out, err = calibrating.communicate(timeout=300)
    assert calibrating.returncode == 2, err
    saved = Path(json.loads(out)["out"])
    assert saved.parent.parent == tmp_path / "tmp" and saved.name == "calibrated.toml"
    assert f"could not write {tmp_path / 'gone' / 'calibrated.toml'}" in err
    assert f"wrote it to {saved} instead" in err and "Traceback" not in err
    assert scenario.load(saved).overhead.delivery == json.loads(out)["delivery"]
