"""``queuelab check``: invariants, lost tasks by ack mode, and traces of another scenario."""

import json

import pytest

from tests.queuelab.helpers import queuelab


def test_check_exits_1_listing_violations(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text(
        "task_id,attempt,state,t,worker\n1,0,PENDING,0.0,\n1,0,STARTED,1.0,w1\n1,0,SUCCESS,2.0,w1\n"
    )
    r = queuelab("check", str(bad))
    assert r.returncode == 1
    assert "started-without-received" in r.stdout and "FAILED" in r.stdout


DEPLOY = "scenarios/lessons/05_rolling_deploy.toml"  # early ack: deploys lose running tasks


@pytest.fixture(scope="module")
def deploy_trace(tmp_path_factory):
    """A trace of the rolling-deploy lesson, with its summary: more than 20 tasks lost."""
    path = tmp_path_factory.mktemp("deploy") / "t.parquet"
    r = queuelab("simulate", DEPLOY, "--trace", str(path), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["tasks_lost"] > 20
    return path, summary


def test_check_reports_early_ack_losses_as_information(deploy_trace):
    path, summary = deploy_trace
    lost = summary["tasks_lost"]
    r = queuelab("check", str(path), "--scenario", DEPLOY, "--json")
    assert r.returncode == 0, r.stdout
    report = json.loads(r.stdout)
    assert (report["ok"], report["tasks_lost"], report["lost_violations"]) == (True, lost, 0)
    assert len(set(report["lost_task_ids"])) == lost
    text = queuelab("check", str(path), "--scenario", DEPLOY).stdout.splitlines()
    assert text[-2].startswith(f"lost: {lost} tasks never reached a terminal state (early ack")
    assert text[-2].endswith(f"… and {lost - 10} more")
    assert text[-1] == (
        f"ok: 0 violations, {lost} lost, {report['redeliveries']} redeliveries, "
        f"{report['duplicate_terminals']} duplicate terminals"
    )


def test_check_counts_every_late_ack_loss_as_a_violation(deploy_trace):
    path, summary = deploy_trace
    lost = summary["tasks_lost"]
    late = ["--scenario", DEPLOY, "--set", "ack.late=true"]
    r = queuelab("check", str(path), *late, "--json")
    assert r.returncode == 1
    report = json.loads(r.stdout)
    rules = [v["rule"] for v in report["violations"]]
    assert rules.count("lost-under-late-ack") == report["tasks_lost"] == lost
    text = queuelab("check", str(path), *late).stdout
    assert f"… and {lost - 20} more lost-under-late-ack" in text
    assert f"FAILED: {lost} violations, {lost} lost" in text


@pytest.fixture(scope="module")
def mmc_trace(tmp_path_factory):
    """A 2,000-task trace of the M/M/4 scenario."""
    path = str(tmp_path_factory.mktemp("mmc") / "t.csv")
    made = queuelab("simulate", "scenarios/mmc.toml", "--set", "run.tasks=2000", "--trace", path)
    assert made.returncode == 0, made.stderr
    return path


@pytest.mark.parametrize(
    ("against", "message"),
    [
        (["scenarios/flaky_api.toml"], "the trace holds 2000 tasks, the scenario submits 10000"),
        (
            ["scenarios/mmc.toml", "--set", "run.tasks=5"],
            "holds 2000 tasks, the scenario submits 5",
        ),
        (
            ["scenarios/mmc.toml", "--set", "run.tasks=2000", "--set", "workers.count=2"],
            "worker w3 is not one of the scenario's 2 workers",
        ),
    ],
)
def test_check_refuses_a_trace_from_another_scenario(mmc_trace, against, message):
    r = queuelab("check", mmc_trace, "--scenario", *against)
    assert (r.returncode, r.stderr.count("\n")) == (2, 1), r.stderr
    assert "is not a run of scenario" in r.stderr and message in r.stderr
