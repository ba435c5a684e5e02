"""`queuelab live` and `queuelab worker` as a user runs them: real processes, clean exits."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

QUEUELAB = [sys.executable, "-m", "queuelab.cli"]


def test_live_json_summary_and_trace(redis_url, tmp_path, no_leftovers):
    r = subprocess.run(
        [
            *QUEUELAB,
            "live",
            "scenarios/mmc.toml",
            "--redis-url",
            redis_url,
            "--time-scale",
            "0.02",
            "--set",
            "run.tasks=100",
            "--json",
            "--trace",
            str(tmp_path / "t.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["engine"] == "live" and data["tasks_succeeded"] == 100
    check = subprocess.run(
        [*QUEUELAB, "check", str(tmp_path / "t.csv")], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout


def test_private_redis_server_is_started_and_stopped(no_leftovers):
    r = subprocess.run(
        [
            *QUEUELAB,
            "live",
            "scenarios/mmc.toml",
            "--time-scale",
            "0.01",
            "--set",
            "run.tasks=20",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tasks_submitted"] == 20


def test_unreachable_redis_url_exits_2_quickly():
    started = time.monotonic()
    r = subprocess.run(
        [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", "redis://127.0.0.1:1/0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "cannot reach Redis" in r.stderr
    assert "Traceback" not in r.stderr
    assert time.monotonic() - started < 15


def test_missing_redis_server_exits_2_with_the_remedy():
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    r = subprocess.run(
        [*QUEUELAB, "live", "scenarios/mmc.toml"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert r.returncode == 2
    assert "apt-get install redis-server" in r.stderr and "--redis-url" in r.stderr


def test_ctrl_c_mid_run_stops_cleanly(redis_url, no_leftovers):
    proc = subprocess.Popen(
        [
            *QUEUELAB,
            "live",
            "scenarios/mmc.toml",
            "--redis-url",
            redis_url,
            "--time-scale",
            "0.05",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(8)  # workers up, tasks flowing
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert 0 < json.loads(out)["tasks_submitted"] < 20000


def test_worker_on_another_machine_joins_the_run(redis_url, tmp_path, no_leftovers):
    joiner = subprocess.Popen(
        [*QUEUELAB, "worker", "--redis-url", redis_url, "--count", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        r = subprocess.run(
            [
                *QUEUELAB,
                "live",
                "scenarios/mmc.toml",
                "--redis-url",
                redis_url,
                "--time-scale",
                "0.02",
                "--set",
                "run.tasks=200",
                "--set",
                "workers.count=1",
                "--set",
                "arrivals.rate=1.5",
                "--trace",
                str(tmp_path / "t.csv"),
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert r.returncode == 0, r.stderr
    finally:
        joiner.send_signal(signal.SIGINT)
        joiner.communicate(timeout=60)
    workers = {
        line.split(",")[4].strip('"') for line in (tmp_path / "t.csv").read_text().splitlines()[1:]
    }
    assert "w1" in workers
    assert any(w.endswith("-w1") for w in workers), workers  # the joined node ran tasks too


def test_compare_reports_every_section(redis_url):
    r = subprocess.run(
        [
            *QUEUELAB,
            "compare",
            "scenarios/flaky_api.toml",
            "--redis-url",
            redis_url,
            "--time-scale",
            "0.05",
            "--set",
            "run.tasks=150",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode in (0, 1), r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] == (r.returncode == 0)
    figures = {f["figure"]: f for f in report["figures"]}
    assert {"wait_p95", "sojourn_p50", "sojourn_p95", "throughput", "retries"} <= set(figures)
    for f in figures.values():
        assert f["ok"] or f["likely_cause"]
    # the same draws: both engines retried the same number of times and finished every task
    assert figures["retries"]["sim"] == figures["retries"]["live"]
    assert figures["tasks_lost"]["live"] == 0
    assert 0 <= report["ks"]["wait"] <= 1 and 0 <= report["ks"]["sojourn"] <= 1
    sim_flows, live_flows = report["state_flows"]["sim"], report["state_flows"]["live"]
    assert sim_flows["STARTED→RETRY"] == live_flows["STARTED→RETRY"] > 0
    assert sim_flows["PENDING→RECEIVED"] == live_flows["PENDING→RECEIVED"] == 150
