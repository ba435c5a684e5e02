"""The queuelab command as a user runs it: a real subprocess, exit codes, one-line errors."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.queuelab.helpers import as_a_user, env, queuelab, stopped_after


def test_simulate_json_is_one_object_in_the_design_layout(tmp_path):
    r = queuelab(
        "simulate",
        "scenarios/mmc.toml",
        "--set",
        "run.tasks=2000",
        "--json",
        "--trace",
        str(tmp_path / "t.parquet"),
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    expected = {
        "engine",
        "scenario",
        "seed",
        "tasks_submitted",
        "tasks_succeeded",
        "tasks_failed",
        "tasks_lost",
        "executions",
        "retries",
        "duplicate_executions",
        "wait_mean",
        "wait_p50",
        "wait_p95",
        "wait_p99",
        "sojourn_mean",
        "sojourn_p50",
        "sojourn_p95",
        "sojourn_p99",
        "throughput",
        "utilization",
        "queue_len_mean",
        "makespan",
        "worker_seconds",
        "node_seconds",
        "by_task",
        "by_queue",
        "by_pool",
    }
    assert set(data) == expected
    assert data["engine"] == "sim" and data["tasks_submitted"] == 2000
    assert data["by_task"]["task"]["tasks"] == 2000 and set(data["by_queue"]) == {"celery"}
    assert data["by_pool"]["workers"]["executions"] == data["executions"]
    assert "warning" not in r.stderr  # ρ = 0.8
    assert (tmp_path / "t.parquet").stat().st_size > 0
    check = queuelab(
        "check",
        str(tmp_path / "t.parquet"),
        "--scenario",
        "scenarios/mmc.toml",
        "--set",
        "run.tasks=2000",
    )
    assert check.returncode == 0, check.stdout
    assert check.stdout.strip().endswith("0 duplicate terminals")


def test_simulate_table_and_seed():
    a = queuelab("simulate", "scenarios/newsletter.toml", "--seed", "5")
    assert a.returncode == 0 and "tasks_succeeded" in a.stdout and "5000" in a.stdout
    assert "overloaded" not in a.stderr  # one burst: no rate, so no load to speak of


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("queuelab: warning:")]


def test_an_overloaded_simulation_warns_once_and_still_succeeds():
    r = queuelab(
        "simulate", "scenarios/mmc.toml", "--set", "workers.count=3", "--set", "run.tasks=2000"
    )
    assert r.returncode == 0, r.stderr
    assert warnings(r.stderr) == [
        "queuelab: warning: ρ = 1.07 ≥ 1 at 3 workers: the queue is overloaded, so wait and "
        "sojourn grow with the number of tasks and are not a steady state; "
        "at least 4 workers keep it stable"
    ]
    assert "wait_mean" in r.stdout


def test_a_pool_consuming_a_queue_nothing_is_sent_to_warns_and_still_runs(tmp_path):
    """Legal, as Celery lets a worker consume any queue (a warning, not an error), but its
    workers idle for the whole run: said once, before the run, by simulate and sweep alike."""
    path = tmp_path / "s.toml"
    path.write_text(
        '[run]\ntasks = 50\n[arrivals]\nrate = 1.0\n[[pools]]\nname = "main"\nqueues = ["celery"]\n'
        '[[pools]]\nname = "spare"\nqueues = ["slwo"]\n'
    )
    said = (
        "queuelab: warning: pool spare consumes queue 'slwo', to which no task type is sent: "
        "its workers idle for the whole run (task types are sent to 'celery')"
    )
    for args in (
        ["simulate", str(path)],
        ["sweep", str(path), "--workers", "2,3", "--pool", "main"],
    ):
        r = queuelab(*args)
        assert r.returncode == 0, r.stderr
        assert warnings(r.stderr) == [said]


def test_a_run_retried_for_ever_that_always_fails_warns_and_counts_its_tasks_lost():
    """``--set retry.max_retries=inf`` with every attempt failing: the run still ends, its
    tasks still retrying after ``retry.FOLLOWED`` retries, counted lost, and says why."""
    sets = ["retry.max_retries=inf", "failures.probability=1.0", "run.tasks=5"]
    r = queuelab(
        "simulate", "scenarios/mmc.toml", *[a for k in sets for a in ("--set", k)], "--json"
    )
    assert r.returncode == 0, r.stderr
    said, told = warnings(r.stderr)
    assert said.startswith("queuelab: warning: max_retries = inf and failure probability 1: ")
    assert "1000 retries (about 1,001 executions a task, 5,005 a run)" in said
    assert "tasks_lost" in said
    assert told.startswith("queuelab: warning: 5 of 5 tasks never ended (retried for ever")
    s = json.loads(r.stdout)
    assert (s["tasks_lost"], s["tasks_failed"], s["retries"]) == (5, 0, 5 * 1001)


def test_an_outage_for_the_whole_run_retried_for_ever_warns_before_and_after_it(tmp_path):
    """An outage of probability 1 past every retry fails every attempt as probability 1 does:
    simulate said nothing, and its summary of sojourn 0 and throughput 0 read as a perfect
    queue. Before the run it says so; after it, how many tasks never ended, the same whether
    the run kept its trace or only its summary."""
    path = tmp_path / "outage.toml"
    path.write_text(
        "[run]\ntasks = 5\n[retry]\nmax_retries = inf\ncountdown = 1.0\n"
        "[[failures.outage]]\nstart = 0.0\nend = 100000.0\nprobability = 1.0\n"
    )
    told = []
    for trace in ([], ["--trace", str(tmp_path / "t.csv")]):
        r = queuelab("simulate", str(path), *trace)
        assert r.returncode == 0, r.stderr
        said, after = warnings(r.stderr)
        assert said.startswith(
            "queuelab: warning: max_retries = inf and failures.outage of probability 1 from 0 "
            "to 100000 s, past the run's arrivals"
        )
        assert "tasks_lost  " in r.stdout and "throughput  " in r.stdout
        told.append(after)
    assert told[0] == told[1]
    assert told[0].startswith("queuelab: warning: 5 of 5 tasks never ended (retried for ever")
    assert "the sojourn figures and the throughput are those of the 0 that ended" in told[0]


def test_a_sweep_of_a_run_retried_for_ever_that_always_fails_warns_as_simulate_does():
    """Its table read sojourn p95 0 and throughput 0 at every count, a perfect queue, without
    the warning ``simulate`` gives: no task ever ends."""
    sets = ["retry.max_retries=inf", "failures.probability=1.0", "run.tasks=5"]
    r = queuelab(
        "sweep",
        "scenarios/mmc.toml",
        *[a for k in sets for a in ("--set", k)],
        "--workers",
        "4,5",
        "--reps",
        "2",
    )
    assert r.returncode == 0, r.stderr
    (said,) = warnings(r.stderr)
    assert said.startswith("queuelab: warning: max_retries = inf and failure probability 1: ")


def test_an_overloaded_sweep_warns_for_each_worker_count_that_cannot_keep_up():
    r = queuelab(
        "sweep",
        "scenarios/mmc.toml",
        "--workers",
        "2,4,3",
        "--reps",
        "2",
        "--set",
        "run.tasks=200",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    assert [w.partition(": the queue")[0] for w in warnings(r.stderr)] == [
        "queuelab: warning: ρ = 1.60 ≥ 1 at 2 workers",
        "queuelab: warning: ρ = 1.07 ≥ 1 at 3 workers",
    ]
    assert [p["workers"] for p in json.loads(r.stdout)["points"]] == [2, 4, 3]  # json unchanged


def test_an_overloaded_live_run_warns_before_it_starts():
    # nothing listens on port 9, so the run fails fast after the warning
    r = queuelab(
        "live",
        "scenarios/mmc.toml",
        "--set",
        "workers.count=2",
        "--set",
        "run.tasks=300",  # arrivals of 94 s: no warning of a long run beside it
        "--redis-url",
        "redis://127.0.0.1:9",
    )
    assert r.returncode == 2
    assert len(warnings(r.stderr)) == 1 and "ρ = 1.60 ≥ 1 at 2 workers" in r.stderr


def test_a_live_run_whose_retry_waits_long_in_wall_time_warns_before_it_starts():
    """A retry countdown of a day at time scale 0.1 waits 144 minutes of wall time, and the
    run drains until it has run: said before the run, as a long run of arrivals is."""
    sets = ["failures.probability=0.5", "retry.max_retries=1", "retry.countdown=86400"]
    # nothing listens on port 9, so the run fails fast after the warning
    r = queuelab(
        "live",
        "scenarios/mmc.toml",
        *[a for k in sets for a in ("--set", k)],
        "--time-scale",
        "0.1",
        "--redis-url",
        "redis://127.0.0.1:9",
    )
    assert r.returncode == 2
    (said,) = [w for w in warnings(r.stderr) if "a retry may wait" in w]
    assert said.startswith("queuelab: warning: a retry may wait 144 minutes of wall time at ")
    assert "--time-scale 0.1" in said and "drains until its last retry has run" in said


def test_calibrating_a_scenario_that_states_celerys_costs_says_it_replaces_them(tmp_path):
    # a recorded file states its nodes' costs; calibrated here, its prediction of them worsened
    recorded = tmp_path / "recorded.toml"
    stated = 'model = "celery"\nhandover = 0.0207\ndelivery = 0.004'
    recorded.write_text(Path("scenarios/mmc.toml").read_text().replace('model = "none"', stated))
    out = str(tmp_path / "calibrated.toml")
    # 300 tasks: no long-run warning beside it; no Redis: fails after it
    args = ["--set", "run.tasks=300", "--out", out, "--redis-url", "redis://127.0.0.1:9"]
    r = queuelab("calibrate", str(recorded), *args)
    assert r.returncode == 2
    (said,) = warnings(r.stderr)
    assert said.startswith(
        f"queuelab: warning: {recorded} states overhead.delivery, overhead.handover; calibrate "
        "replaces them with Celery's costs on queuelab's own workers on this machine."
    )
    assert not warnings(queuelab("calibrate", "scenarios/mmc.toml", *args).stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "nope.toml"], "does not exist"),
        (["sweep", "scenarios/mmc.toml", "--workers", "2,3,2"], "give each worker count once"),
        (["simulate", "scenarios/mmc.toml", "--set", "workers.count=0"], "workers.count = 0"),
        (["simulate", "scenarios/mmc.toml", "--set", "bogus=1"], "unknown field"),
        (
            ["simulate", "scenarios/mmc.toml", "--set", "servce.mean=2"],
            "unknown field (did you mean 'service.mean'?)",
        ),
        (["simulate", "scenarios/mmc.toml", "--trace", "t.json"], ".csv or .parquet"),
        (
            ["analytic", "--rate", "5", "--service-mean", "1", "--workers", "4"],
            "at least 6 workers",
        ),
        (
            ["analytic", "--rate", "-1", "--service-mean", "1", "--workers", "4"],
            "'-1': must be a finite number > 0",
        ),
        (
            ["analytic", "--rate", "inf", "--service-mean", "1", "--workers", "4"],
            "'inf': must be a finite number > 0",
        ),
        (
            ["analytic", "--rate", "1", "--service-mean", "1", "--workers", "2.5"],
            "'2.5' is not a whole number",
        ),
        (
            [
                "analytic",
                "--rate",
                "1",
                "--service-mean",
                "1",
                "--workers",
                "2",
                "--arrival-cv",
                "-1",
            ],
            "--arrival-cv: '-1': must be a finite number >= 0",
        ),  # fmt: skip
        (["sweep", "scenarios/mmc.toml", "--workers", "0,2"], "integers >= 1"),
        (["sweep", "scenarios/mmc.toml", "--workers", "4,,5"], "'4,,5' has an empty item"),
        (["lessons", ""], "no lesson '': the lessons are 01_prefetch, "),  # it listed them
        (["check", "missing.csv"], "does not exist"),
        (
            ["simulate", "scenarios/mmc.toml", "--set", "failures.outage=[{start=5, end=1}]"],
            "failures.outage[0]",
        ),
        (["live", "scenarios/lessons/05_rolling_deploy.toml"], "workers.deploy_every = 0"),
        (["live", "scenarios/lessons/10_concurrency_vs_cores.toml"], "workers.cores = 0"),
        # refused before the probe of this host's costs, which would take seconds for nothing
        (["compare", "scenarios/lessons/05_rolling_deploy.toml"], "workers.deploy_every = 0"),
        # workers booted to print zeros
        (["live", "scenarios/mmc.toml", "--set", "run.duration=1e-9"], "submits no task"),
        (["compare", "scenarios/mmc.toml", "--set", "run.duration=1e-9"], "submits no task"),
        # or measure none (newsletter's one burst comes at 0): live printed zeros, a perfect
        # queue, and compare ran its live side whole, then its simulation refused it
        (
            ["live", "scenarios/newsletter.toml", "--set", "run.warmup=10"],
            "run.warmup = 10 must be <= 0 s, the last arrival",
        ),
        (
            ["compare", "scenarios/newsletter.toml", "--set", "run.warmup=10"],
            "run.warmup = 10 must be <= 0 s, the last arrival",
        ),
        (["compare", "scenarios/mmc.toml", "--costs", "nope"], "invalid choice: 'nope'"),
        (["simulate", "scenarios/mmc.toml", "--seed", "-5"], "seed = -5 is out of range"),
        (
            ["simulate", "scenarios/mmc.toml", "--seed", "99999999999999999999"],
            "seed = 99999999999999999999 is out of range: must be an integer >= 0",
        ),
        (["check", "missing.csv", "--seed", "-1"], "seed = -1 is out of range"),
        (["check", "missing.csv", "--set", "workers.count=2"], "give it with --scenario"),
        (
            ["simulate", "scenarios/mmc.toml", "--set", "run.tasks=99999999999999999999"],
            "run.tasks = 99999999999999999999 is out of range: must be an integer >= 1 and <= ",
        ),
        (
            ["simulate", "scenarios/mmc.toml", "--set", "service.dist=lognormal"]
            + ["--set", "service.cv=1e200"],
            "service.cv = 1e+200 is out of range",
        ),
        (
            ["simulate", "scenarios/mmc.toml", "--set", "service.mean=1e308"],
            "service.mean = 1e+308",
        ),
        (["live", "scenarios/mmc.toml", "--redis-url", "notaurl"], "'notaurl' is not a Redis URL"),
        (["record", "--redis-url", "http://h", "--out", "o.toml"], "'http://h' is not a Redis URL"),
        (["worker", "--redis-url", "redis://h:99999"], "the port must be 0-65535"),
        (["worker", "--redis-url", "redis://[::1"], "'redis://[::1' is not a Redis URL: Invalid"),
        # redis-py raised them as tracebacks, or Celery's kombu in every worker after it started
        (
            ["live", "scenarios/mmc.toml", "--redis-url", "redis://h/0?socket_timeout=abc"],
            "its options are refused: Invalid value for 'socket_timeout' in connection URL",
        ),
        (
            ["sweep", "scenarios/mmc.toml", "--workers", "4", "--redis-url", "redis://h/0?foo=1"],
            "option 'foo' is not one both redis-py and Celery's kombu take",
        ),
        (
            ["worker", "--redis-url", "redis://h/0?socket_timeout=5"],
            "option 'socket_timeout' is not one both redis-py and Celery's kombu take",
        ),
        (
            ["record", "--redis-url", "redis://h/x", "--out", "o.toml"],
            "the database 'x' is not a whole number >= 0: give redis://HOST[:PORT]/N",
        ),
        (  # a number, read "is not a number"
            ["live", "scenarios/mmc.toml", "--redis-url", "redis://h/-1"],
            "the database '-1' is not a whole number >= 0: give redis://HOST[:PORT]/N",
        ),
        (["live", "scenarios/mmc.toml", "--redis-url", "unix:///r.sock"], "takes no unix://"),
        (
            ["worker", "--redis-url", "redis://h", "--count", "100000"],
            "--count: '100000': must be a whole number > 0 and <= 10000",
        ),
        (
            ["sweep-worker", "--redis-url", "redis://h", "--concurrency", "100000"],
            "--concurrency: '100000': must be a whole number > 0 and <= 10000",
        ),
        # a wait of 1e13 wall seconds: an OverflowError traceback once the run had started;
        # refused by the scenario's own longest wait (live.waits), before Redis is asked
        (
            ["live", "scenarios/mmc.toml", "--time-scale", "1e12", "--redis-url", "redis://h:9"],
            "time scale 1e+12 makes the longest time drawn from service = 10.6689 s a wait of "
            "1.07e+13 wall seconds, past the longest a thread or a sleep can wait "
            "(threading.TIMEOUT_MAX), 9.22e+09 s: this scenario runs live at a time scale of "
            "at most 8.64e+08",
        ),
        # a countdown's ETA past datetime's year 9999: Celery's OverflowError in the task
        (
            [
                "compare",
                "scenarios/mmc.toml",
                "--set",
                "retry.countdown=1e9",
                "--set",
                "failures.probability=0.5",
                "--time-scale",
                "1000",
            ],
            "time scale 1000 makes retry.countdown = 1e+09 s a wait of 1e+12 wall seconds, past "
            "the latest ETA Celery can write",
        ),
        # an empty name read as no trace (the run kept nothing) or as the current folder
        (["simulate", "scenarios/mmc.toml", "--trace", ""], "--trace: an empty file name"),
        (["simulate", ""], "argument scenario: an empty file name"),
        (["check", "t.csv", "--scenario", ""], "--scenario: an empty file name"),
        (["record", "--redis-url", "redis://h", "--out", ""], "--out: an empty file name"),
        # a job list of 1e11 replications filled memory before the first run
        (
            ["simulate", "scenarios/mmc.toml", "--reps", "100000000000"],
            "--reps: '100000000000': must be a whole number > 0 and <= 100000",
        ),
        (
            ["simulate", "scenarios/mmc.toml", "--seed", "9223372036854775807", "--reps", "2"],
            "runs seeds up to 9223372036854775808, but a seed must be <= 9223372036854775807",
        ),
        (
            ["sweep", "scenarios/mmc.toml", "--workers", "4", "--reps", "2"]
            + ["--set", "seed=9223372036854775807"],
            "runs seeds up to 9223372036854775808",
        ),
        (
            ["simulate", "scenarios/mmc.toml", "--time-scale", "1e-300"],
            "--time-scale 1e-300 divides Celery's wall-clock costs into scenario seconds past "
            "their range (overhead.handover = 1e+298 is out of range: must be a number >= 0",
        ),
        # an autoscaler's timer that ticked every 30 s until processes 1e9 s late came up
        (
            ["simulate", "scenarios/mmc.toml", "--set", "run.tasks=50"]
            + ["--set", "workers.autoscale_max=4", "--set", "workers.process_start=1e9"],
            "fired more than 15,000 times, every workers.autoscale_keepalive = 30s",
        ),
        (
            ["simulate", "scenarios/mmc.toml", "--set", "workers.autoscale_keepalive=5e-324"],
            "workers.autoscale_keepalive = 5e-324 is out of range: must be a number >= 1e-06",
        ),
        # OverflowError tracebacks, and an Erlang B loop that never ended
        (
            ["analytic", "--rate", "1e308", "--service-mean", "1e308", "--workers", "2"],
            "--rate: '1e308': must be a finite number > 0 and <= 1e+09",
        ),
        (
            ["analytic", "--rate", "1", "--service-mean", "1e308", "--workers", "2"],
            "--service-mean: '1e308': must be a finite number > 0 and <= 1e+09",
        ),
        (
            ["analytic", "--rate", "1", "--service-mean", "1", "--workers", "2"]
            + ["--service-cv", "1e308"],
            "--service-cv: '1e308': must be a finite number >= 0 and <= 100",
        ),
        (
            ["analytic", "--rate", "1", "--service-mean", "1", "--workers", "99999999999999999"],
            "--workers: '99999999999999999': must be a whole number > 0 and <= 1000000",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    r = queuelab(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]  # argparse puts its usage lines first
    assert "error:" in last and message in last


HEADER = b"task_id,attempt,state,t,worker\n"
GOOD_ROW = b"0,0,PENDING,0.0,\n"


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"s.toml": b"\xff\xfe\x00[workers]"}, ["simulate", "s.toml"], "s.toml: not a text file"),
        ({"s.toml": b"service = 5\n"}, ["simulate", "s.toml"], "service must be a table"),
        ({"s.toml": b'arrivals = "x"\n'}, ["simulate", "s.toml"], "arrivals must be a table"),
        ({"s.toml": b"[[service]]\nmean = 2.0\n"}, ["simulate", "s.toml"], "must be a table"),
        ({"s.toml": b"run = [1, 2]\n"}, ["simulate", "s.toml"], "run must be a table"),
        (
            {"s.toml": b'[service]\ndist = "empirical"\nfile = "d.txt"\n', "d.txt": b"\xff\xfe1\n"},
            ["simulate", "s.toml"],
            "d.txt' is not text",
        ),
        (
            {"s.toml": b'[service]\ndist = "empirical"\nfile = "d"\n', "d/x": b"1\n"},
            ["simulate", "s.toml"],
            "d' cannot be read: Is a directory",
        ),
        (
            {"s.toml": b'[service]\ndist = "empirical"\nfile = "d.csv"\n', "d.csv": b"0,5\n"},
            ["simulate", "s.toml"],
            "/d.csv:1: '0,5' has a comma before a digit",
        ),
        (
            {
                "s.toml": b'[arrivals]\nrate = 3.0\n[[tasks]]\nname = "a"\n'
                b"[tasks.arrivals]\nrate = 2.0\n"
            },
            ["simulate", "s.toml"],
            "arrivals.rate is given but no task type reads it: every one has its own "
            "[tasks.arrivals], and tasks.a sets its own rate",
        ),
        ({"t.csv": HEADER}, ["check", "t.csv"], "t.csv: the trace holds no rows"),
        (
            {"t.csv": HEADER + b"0,0,PENDING,soon,\n"},
            ["check", "t.csv"],
            "row 1: t is not a number",
        ),
        (
            {"t.csv": HEADER + GOOD_ROW + b"0,first,RECEIVED,1.0,w1\n"},
            ["check", "t.csv"],
            "row 2: attempt is not an integer",
        ),
        (
            {"t.csv": HEADER + GOOD_ROW + b"-1,0,PENDING,1.0,\n"},
            ["check", "t.csv"],
            "row 2: task_id '-1' cannot be a task: a task_id written as a whole number is the "
            "task's index in its run, from 0 to 999,999,999,999,999,999",
        ),
        (
            {"t.csv": HEADER + b"99999999999999999999,0,PENDING,0.0,\n" + GOOD_ROW},
            ["check", "t.csv"],
            "row 1: task_id '99999999999999999999' cannot be a task",
        ),
        (
            {"t.csv": HEADER + GOOD_ROW, "s.toml": b"\xff\xfe\x00"},
            ["check", "t.csv", "--scenario", "s.toml"],
            "s.toml: not a text file",
        ),
        ({"t.csv/x": b""}, ["check", "t.csv"], "t.csv is a directory, not a trace file"),
    ],
)
def test_bad_files_exit_2_with_one_line(tmp_path, files, args, message):
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(content)
    r = queuelab(*args, cwd=tmp_path, env=env())
    assert (r.returncode, r.stderr.count("\n")) == (2, 1), r.stderr
    assert r.stderr.startswith("queuelab: error: ") and message in r.stderr


def test_a_binary_trace_is_named_never_echoed(tmp_path):
    (tmp_path / "t.csv").write_bytes(HEADER + b"\x1b[2J\xff\xfe\n")  # clears a terminal
    r = queuelab("check", str(tmp_path / "t.csv"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "\x1b" not in r.stderr and "\ufffd" not in r.stderr
    assert "a row has 1 cells where the header has 5" in r.stderr


def test_an_empty_scenario_file_runs_the_defaults_with_one_warning(tmp_path):
    (tmp_path / "s.toml").write_text("")
    r = queuelab("simulate", str(tmp_path / "s.toml"), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["tasks_submitted"] == 10000
    assert r.stderr.splitlines() == [
        f"queuelab: warning: scenario file {tmp_path / 's.toml'} sets no fields: "
        "every field takes its default"
    ]


def test_malformed_scenario_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[workers\ncount = ")
    r = queuelab("simulate", str(bad))
    assert r.returncode == 2 and "malformed TOML" in r.stderr and "Traceback" not in r.stderr


def test_analytic_prints_erlang_c():
    r = queuelab("analytic", "--rate", "3.2", "--service-mean", "1", "--workers", "4", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["wait_mean"] == pytest.approx(0.7455, abs=1e-4)


def test_sweep_json_has_a_point_per_worker_count():
    r = queuelab(
        "sweep",
        "scenarios/mmc.toml",
        "--workers",
        "4,6",
        "--reps",
        "2",
        "--set",
        "run.tasks=2000",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    points = json.loads(r.stdout)["points"]
    assert [p["workers"] for p in points] == [4, 6]
    assert points[0]["sojourn_p95"]["low"] <= points[0]["sojourn_p95"]["mean"]


def test_analytic_adds_allen_cunneen_for_other_distributions():
    r = queuelab(
        "analytic",
        "--rate",
        "3.2",
        "--service-mean",
        "1",
        "--workers",
        "4",
        "--service-cv",
        "0",
        "--json",
    )
    data = json.loads(r.stdout)
    # deterministic service halves the M/M/c wait: (1 + 0) / 2
    assert data["wait_mean_allen_cunneen"] == pytest.approx(0.7455 / 2, abs=1e-4)


def test_analytic_says_its_plain_figures_are_m_m_c_beside_allen_cunneen():
    """M/D/1 at rho 0.8: wait_mean 4 is M/M/1's, not this queue's 2: the table says which."""
    args = ["--rate", "0.8", "--service-mean", "1", "--workers", "1", "--service-cv", "0"]
    text = queuelab("analytic", *args).stdout
    assert "every figure but the last is M/M/c's" in text
    assert "--service-cv 0 the mean wait is Allen-Cunneen's" in text
    assert "Allen-Cunneen" not in queuelab("analytic", *args[:6]).stdout


def test_lessons_lists_the_eighteen_and_each_simulates():
    r = queuelab("lessons", "--json")
    assert r.returncode == 0, r.stderr
    lessons = json.loads(r.stdout)
    assert len(lessons) == 18
    assert {x["name"] for x in lessons if x["live"]} == {
        "01_prefetch",
        "03_visibility_timeout",
        "04_child_death",
        "08_backoff_cap",
        "12_route_long_tasks",
    }
    deploy = queuelab("simulate", lessons[4]["file"], "--json")
    assert deploy.returncode == 0, deploy.stderr
    assert json.loads(deploy.stdout)["tasks_lost"] > 0
    text = queuelab("lessons").stdout
    # a fix as --set would take it, and a task type's own figure
    assert 'tasks.long.queue="slow"; watch by_task.short.wait_p99 (lower)' in text
    assert "workers.prefetch_multiplier=1, ack.late=true;" in text


def test_a_lesson_runs_both_ways_by_name_with_the_figures_no_summary_has():
    """Lesson 07's figure, the time a task shows as PENDING, is in no simulate summary: the
    command gives it as the Learn page shows it, the fix's side lower."""
    from sim.analysis.lessons import LESSONS, load

    r = queuelab("lessons", "07_track_started", "--json")
    assert r.returncode == 0, r.stderr
    ran = json.loads(r.stdout)
    default, fixed = load(LESSONS / "07_track_started.toml").run()
    assert ran["figure"] == "backend_pending_mean" and ran["fix"] == "results.track_started=true"
    assert (ran["as_deployed"], ran["with_the_fix"]) == (
        default[ran["figure"]],
        fixed[ran["figure"]],
    )
    assert ran["with_the_fix"] < ran["as_deployed"]
    text = queuelab("lessons", "08_backoff_cap.toml").stdout.splitlines()
    assert text[1].startswith("tasks failed (lower is better): ")
    assert text[1].endswith(" with the fix (retry.backoff_max=3600.0)")
    text = queuelab("lessons", "09").stdout.splitlines()  # its number; as the Learn tile
    assert text[1].startswith("result-backend memory, peak (lower is better): 872.6 MB as")
    r = queuelab("lessons", "99_nothing")
    assert r.returncode == 2 and "no lesson '99_nothing': the lessons are 01_prefetch" in r.stderr
    r = queuelab("lessons", "1")
    assert r.returncode == 2 and "'1' begins 9 lessons' names, 10_concurrency" in r.stderr


@pytest.mark.parametrize("path", ["/proc/x.csv", "/no/such/folder/t.parquet", "/tmp"])
def test_an_unwritable_trace_is_refused_before_the_run(path, monkeypatch, capsys):
    from queuelab import cli

    def run_anyway(*_a, **_k):
        raise AssertionError("simulated although the trace could not be written")

    monkeypatch.setattr(cli, "simulate", run_anyway)
    assert cli.main(["simulate", "scenarios/mmc.toml", "--trace", path]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--trace" in err and repr(path) in err


def test_the_summary_is_printed_even_when_writing_the_trace_fails(tmp_path, monkeypatch, capsys):
    from queuelab import cli
    from sim.trace import Trace

    def disk_full(self, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(Trace, "write", disk_full)
    out = tmp_path / "t.csv"
    code = cli.main(
        ["simulate", "scenarios/mmc.toml", "--set", "run.tasks=200", "--json", "--trace", str(out)]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert json.loads(captured.out)["tasks_submitted"] == 200
    assert "No space left on device" in captured.err and not out.exists()


def test_a_ctrl_c_while_the_arguments_are_read_is_said_not_a_traceback(monkeypatch, capsys):
    """--redis-url's check imports redis and kombu: a Ctrl-C then printed a traceback."""
    from queuelab import cli

    def ctrl_c():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", ctrl_c)
    assert cli.main(["live", "scenarios/mmc.toml", "--redis-url", "redis://h/0"]) == 130
    assert capsys.readouterr().err == "queuelab: interrupted\n"


def test_a_trace_cut_short_by_a_full_disk_is_removed_and_written_elsewhere(
    tmp_path, monkeypatch, capsys
):
    """A CSV written until the disk filled was left where asked, its rows cut short, to read
    as a shorter trace: it goes, and the whole trace is written to a temp folder, said."""
    from queuelab import cli
    from sim.trace import Trace, read

    out = tmp_path / "t.csv"
    write = Trace.write

    def fills_the_disk_at_out(self, path):
        if Path(path) == out:
            out.write_text("task_id,attempt,state,t,worker\n0,0,PENDING,0.0,\n")
            raise OSError(28, "No space left on device", str(path))
        write(self, path)

    monkeypatch.setattr(Trace, "write", fills_the_disk_at_out)
    args = ["simulate", "scenarios/mmc.toml", "--set", "run.tasks=200", "--trace", str(out)]
    assert cli.main([*args, "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["tasks_submitted"] == 200
    said = captured.err.strip().splitlines()[-1]
    assert said.startswith(f"queuelab: error: could not write {out} (No space left on device)")
    assert not out.exists()
    elsewhere = said.rpartition("wrote it to ")[2].removesuffix(" instead")
    assert read(elsewhere).n_tasks == 200


def test_a_summary_no_one_reads_still_writes_the_trace(tmp_path):
    """``simulate --trace t.csv | head -1``: printing the summary failed (a broken pipe) and
    the run's trace, written after it, was lost; it is written all the same, as a live run's
    is (tests/live/test_cli.py)."""
    from sim.trace import read

    trace = tmp_path / "t.csv"
    reader, out = os.pipe()
    os.close(reader)  # gone before the summary: a `| head` that has its lines
    r = subprocess.run(
        [sys.executable, "-m", "queuelab.cli", "simulate", "scenarios/mmc.toml"]
        + ["--set", "run.tasks=200", "--trace", str(trace)],
        stdout=out,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=120,
    )
    os.close(out)
    assert r.returncode == 1, r.stderr  # the reader's end, not the command's error
    assert set(read(trace).task) == set(range(200))


@pytest.mark.parametrize("name", ["t.csv", "t.parquet"])
def test_a_trace_in_a_read_only_folder_is_refused_before_the_run_with_the_file_it_needs(
    tmp_path, name
):
    """A trace file of the user's, writable, in a folder that is not: it passed the check, and
    the files written beside it failed after the run (its capacity rows; a streamed Parquet's
    rows): the CSV was written over and its run sent to a temp folder, a streamed run's summary
    lost. Now refused before the run, naming the file, and the user's file left as it was."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    theirs = folder / name
    theirs.write_text("their own\n")
    theirs.chmod(0o666)
    folder.chmod(0o555)
    try:
        r = subprocess.run(
            as_a_user([sys.executable, "-m", "queuelab.cli", "simulate", "scenarios/mmc.toml"])
            + ["--set", "run.tasks=200", "--trace", str(theirs)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        folder.chmod(0o755)
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert r.stderr == (
        f"queuelab: error: --trace {str(theirs)!r}: cannot write its capacity rows beside it, "
        f"{theirs}.capacity.csv (Permission denied); give a path in a folder that exists and "
        "is writable\n"
    )
    assert theirs.read_text() == "their own\n" and [*folder.iterdir()] == [theirs]


def test_a_streamed_trace_the_disk_cannot_hold_is_named_and_leaves_nothing(
    tmp_path, monkeypatch, capsys
):
    from queuelab import cli
    from sim.trace import ParquetStream

    def disk_full(self, chunk, recording):
        raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(ParquetStream, "add", disk_full)
    out = tmp_path / "t.parquet"
    args = ["simulate", "scenarios/mmc.toml", "--set", "run.tasks=200", "--trace", str(out)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"queuelab: error: --trace {str(out)!r}: could not write it (Error ")
    assert "No space left on device" in err and not list(tmp_path.iterdir())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_run_stopped_by_a_supervisor_or_a_closed_terminal_leaves_no_half_a_trace(
    tmp_path, sig, no_leftovers
):
    """SIGTERM and SIGHUP killed a single run at once: its streamed trace's ``.partial`` file,
    megabytes of rows that were never to be read, stayed beside where the trace was asked."""
    out = tmp_path / "t.parquet"
    code, _, err = stopped_after(
        ["simulate", "scenarios/mmc.toml", "--set", "run.tasks=3000000", "--trace", str(out)],
        done=1,
        stop=lambda proc: os.killpg(proc.pid, sig),
    )
    assert code == 130 and err.splitlines()[-1] == "queuelab: interrupted", err  # not on the bar
    assert not list(tmp_path.iterdir())


def test_an_output_the_disk_cannot_hold_says_so_without_an_empty_file_name():
    """``queuelab simulate … > out.txt`` on a full disk: stdout's error names no file."""
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [sys.executable, "-m", "queuelab.cli", "simulate", "scenarios/mmc.toml"]
            + ["--set", "run.tasks=50"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert (r.returncode, r.stderr) == (2, "queuelab: error: No space left on device\n")


def test_a_trace_path_ending_in_a_slash_is_refused_not_written_beside_it(tmp_path, capsys):
    """``Path("x.csv/")`` is ``x.csv``: the run wrote a file where a folder was named."""
    from queuelab import cli

    out = f"{tmp_path / 'x.csv'}/"
    code = cli.main(["simulate", "scenarios/mmc.toml", "--set", "run.tasks=50", "--trace", out])
    assert code == 2 and "names a folder: give a file name" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["times.csv", "link.csv", "hard.csv"])
def test_a_trace_named_as_a_data_file_of_the_scenario_is_refused_and_the_file_kept(
    tmp_path, name, capsys
):
    """``--trace times.csv`` where the scenario resamples ``times.csv`` wrote the trace over the
    user's service times (the run had read them), and the next load failed on the rows: by
    its own name, through a symbolic link or a hard link."""
    from queuelab import cli

    times = tmp_path / "times.csv"
    times.write_text("".join(f"{0.1 * (i % 7 + 1):g}\n" for i in range(50)))
    (tmp_path / "link.csv").symlink_to(times)
    os.link(times, tmp_path / "hard.csv")
    before = times.read_bytes()
    path = tmp_path / "s.toml"
    path.write_text('[run]\ntasks = 20\n[service]\ndist = "empirical"\nfile = "times.csv"\n')
    code = cli.main(["simulate", str(path), "--trace", str(tmp_path / name)])
    err = capsys.readouterr().err
    assert code == 2 and times.read_bytes() == before
    assert f"would write over {times}, a data file the scenario reads" in err
    assert err.count("\n") == 1


def test_calibrate_refuses_to_write_its_result_over_the_scenario_it_reads(tmp_path, capsys):
    """``calibrate s.toml --out s.toml`` replaced the user's file, comments and description
    gone: refused before anything starts (no Redis, no workers)."""
    from queuelab import cli

    path = tmp_path / "s.toml"
    path.write_text("# my notes\n[workers]\ncount = 2\n")
    before = path.read_bytes()
    code = cli.main(["calibrate", str(path), "--out", str(tmp_path / "." / "s.toml")])
    assert code == 2 and path.read_bytes() == before
    assert "is the scenario file itself" in capsys.readouterr().err


def test_analytic_says_when_the_workers_it_advises_are_more_than_it_takes():
    r = queuelab("analytic", "--rate", "1e6", "--service-mean", "1", "--workers", "2")
    assert r.returncode == 2
    assert "use at least 1000001 workers, more than --workers takes (1,000,000)" in r.stderr


def test_record_refuses_a_missing_output_folder_before_listening(tmp_path):
    # no Redis at this URL: had it listened first, it would have said it cannot reach Redis
    r = queuelab(
        "record", "--redis-url", "redis://127.0.0.1:9/0", "--out", str(tmp_path / "no" / "x.toml")
    )
    assert r.returncode == 2
    assert "--out" in r.stderr and "cannot write there" in r.stderr and "Traceback" not in r.stderr


def test_a_run_too_large_for_memory_is_refused_naming_the_field():
    r = queuelab(  # 10^8 tasks of ten attempts each: about 400 GiB
        "simulate",
        "scenarios/mmc.toml",
        "--set",
        "run.tasks=100000000",
        *("--set", "failures.probability=0.9", "--set", "retry.max_retries=50"),
    )
    assert r.returncode == 2
    assert r.stderr.startswith("queuelab: error: run.tasks:") and "GiB" in r.stderr
    assert r.stderr.count("\n") == 1


def test_retries_that_fail_every_time_are_legitimate_work():
    """100 tasks failing 201 times each: 20,100 executions and no redelivery, not a runaway."""
    r = queuelab(
        "simulate",
        "scenarios/mmc.toml",
        "--json",
        *("--set", "run.tasks=100", "--set", "failures.probability=1"),
        *("--set", "retry.max_retries=200", "--set", "retry.countdown=0"),
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["executions"] == 100 * 201 and data["tasks_failed"] == 100


def test_a_run_over_a_gibibyte_says_what_it_will_hold_before_it_starts(capsys, monkeypatch):
    """Said on a host with the memory free (a shared one may have less than 2.1 GiB free at
    the time: the refusal is another test's)."""
    from queuelab import cli
    from sim import scenario
    from sim.engine import budget

    monkeypatch.setattr(budget, "available_bytes", lambda: 1 << 40)
    big = scenario.load("scenarios/mmc.toml", ["run.tasks=10000000"])
    cli._say_cost(big, trace=True)
    err = capsys.readouterr().err
    assert "will hold about 2.1 GiB" in err and "10,000,000 tasks" in err
    cli._say_cost(big, trace=False)  # summary only, or the trace streamed to Parquet
    assert "will hold about 1.2 GiB" in capsys.readouterr().err
    cli._say_cost(scenario.load("scenarios/mmc.toml"), trace=True)
    assert capsys.readouterr().err == ""


def test_a_sweep_over_pools_names_the_pool_it_sizes():
    pools = "scenarios/thumbnails_and_reports.toml"
    r = queuelab("sweep", pools, "--workers", "2,3", "--set", "run.tasks=500")
    assert r.returncode == 2 and "give --pool NAME" in r.stderr and "fast, slow" in r.stderr
    r = queuelab("sweep", pools, "--workers", "3,4", "--pool", "slow", "--reps", "2", "--json",
                 "--set", "run.tasks=500")  # fmt: skip
    assert r.returncode == 0, r.stderr
    swept = json.loads(r.stdout)
    assert [p["workers"] for p in swept["points"]] == [3, 4]
    # the pool's own task types, not the run's whole p95, which the other pool's tasks set
    (report,) = swept["pool"]["figures"]["sojourn_p95"].values()
    assert swept["pool"]["pool"] == "slow" and list(swept["pool"]["figures"]["sojourn_p95"]) == [
        "report"
    ]
    assert report[1]["mean"] < report[0]["mean"] and len(swept["pool"]["utilization"]) == 2
    fast = queuelab("sweep", pools, "--workers", "3,5", "--pool", "fast", "--reps", "2",
                    "--set", "run.tasks=500")  # fmt: skip
    assert "pool fast: the task types it serves" in fast.stdout
    assert "thumbnail sojourn_p95" in fast.stdout and "pool fast utilization" in fast.stdout
    r = queuelab("sweep", pools, "--workers", "3", "--pool", "medium", "--set", "run.tasks=500")
    assert r.returncode == 2
    assert "--pool medium: no pool of that name; pools: fast, slow" in r.stderr


def test_a_sweep_of_a_node_autoscaled_pool_says_the_count_only_starts_the_run():
    """Under a node autoscaler workers.count is the nodes a run starts with: a sweep of it would
    print a table of start counts (more workers, worse waits) as if they were pool sizes."""
    r = queuelab("sweep", "scenarios/node_autoscale_cycle.toml", "--workers", "2,3")
    assert r.returncode == 2
    assert "only the node count a run starts with" in r.stderr and "1 to 12 nodes" in r.stderr
    r = queuelab("sweep", "scenarios/node_autoscale_cycle.toml", "--workers", "9", "--reps", "1",
                 "--set", "workers.node_autoscaler=none", "--set", "run.duration=600")  # fmt: skip
    assert r.returncode == 0, r.stderr


def test_simulate_with_reps_gives_each_figure_a_mean_and_interval_over_seeds():
    """Replications at seeds 3, 4, 5: the mean is that of the three single runs, and the
    interval holds it; a wide interval says how many replications would narrow it."""
    args = ("simulate", "scenarios/mmc.toml", "--set", "run.tasks=400", "--json")
    r = queuelab(*args, "--seed", "3", "--reps", "3")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["reps"], out["seeds"]) == (3, "3..5")
    singles = [json.loads(queuelab(*args, "--seed", str(s)).stdout) for s in (3, 4, 5)]
    wait = out["figures"]["wait_mean"]
    assert wait["mean"] == pytest.approx(sum(s["wait_mean"] for s in singles) / 3)
    assert wait["run_low"] <= wait["low"] < wait["mean"] < wait["high"] < wait["run_high"]
    assert 0 <= out["figures"]["utilization"]["low"] <= out["figures"]["utilization"]["high"] <= 1
    assert "--reps" in r.stderr  # 400 tasks: far wider than ±5 %
    r = queuelab(*args, "--reps", "2", "--trace", "out.csv")
    assert r.returncode == 2 and "--trace with --reps" in r.stderr


def test_simulate_with_reps_keeps_the_figures_of_each_task_type_queue_and_pool():
    """Sizing one pool of two needs its own types' p95 with an interval: simulate --reps gave
    only the run's whole figures. Counts are written whole ("20,000", not "2e+04")."""
    args = ("simulate", "scenarios/thumbnails_and_reports.toml", "--set", "run.tasks=20000")
    out = json.loads(queuelab(*args, "--reps", "2", "--json").stdout)["figures"]
    singles = [json.loads(queuelab(*args, "--seed", str(s), "--json").stdout) for s in (1, 2)]
    report = out["by_task.report.sojourn_p95"]
    assert report["mean"] == pytest.approx(
        sum(s["by_task"]["report"]["sojourn_p95"] for s in singles) / 2
    )
    assert {"by_queue.slow.queue_len_max", "by_pool.fast.utilization"} <= set(out)
    text = queuelab(*args, "--reps", "2").stdout
    assert "figures.tasks_submitted" in text and "mean=20,000" in text


def test_simulate_at_a_time_scale_stretches_celerys_wall_clock_costs():
    """At time scale 0.05 a 0.2 s fork and a 10 ms hand-over are 20 times as long in scenario
    time, so a compressed live run's prediction waits longer; a time scale of 0 is refused."""
    args = ("simulate", "scenarios/autoscale_burst.toml", "--set", "run.tasks=200", "--json")
    real, compressed = (queuelab(*args, "--time-scale", x) for x in ("1", "0.05"))
    assert real.returncode == compressed.returncode == 0, compressed.stderr
    assert json.loads(compressed.stdout)["wait_mean"] > json.loads(real.stdout)["wait_mean"]
    refused = queuelab(*args, "--time-scale", "0")
    assert refused.returncode == 2 and "--time-scale" in refused.stderr


def test_simulate_at_a_time_scale_restores_as_the_live_run_at_it_does():
    """--time-scale X predicts a live run at X, whose app sets kombu's restore scan to a quarter
    of the scaled visibility timeout (``costs.beside_live_run``): lesson 11's killed nodes'
    messages come back as that run's would, sooner than at kombu's default 100 s scans."""
    from sim import costs, scenario
    from sim.analysis.runs import simulated

    path = "scenarios/lessons/11_killed_node_takes_a_message.toml"
    r = queuelab("simulate", path, "--time-scale", "0.1", "--json")
    assert r.returncode == 0, r.stderr
    sc = scenario.load(path)
    live, own = (
        simulated(s).to_dict()
        for s in (costs.beside_live_run(sc, 0.1), costs.at_time_scale(sc, 0.1))
    )
    assert live["wait_p99"] < own["wait_p99"]
    assert json.loads(r.stdout)["wait_p99"] == pytest.approx(live["wait_p99"], rel=1e-9)


def test_a_run_that_submits_no_tasks_says_so():
    """Its figures, all zero, would read as a perfect queue."""
    r = queuelab("simulate", "scenarios/mmc.toml", "--set", "run.duration=1e-9", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["tasks_submitted"] == 0
    assert "the run submits no task" in r.stderr
    r = queuelab("simulate", "scenarios/mmc.toml", "--set", "run.tasks=5", "--json")
    assert "submits no task" not in r.stderr


@pytest.mark.parametrize("trace", ["t.parquet", "t.csv"])
def test_a_run_that_stops_with_an_error_leaves_no_trace_file(tmp_path, trace):
    """Streamed to Parquet, a runaway's rows so far stayed at the path, and `check` read them
    as a run: 'ok: 0 violations, 96 lost'."""
    r = queuelab(
        "simulate",
        "scenarios/mmc.toml",
        "--set",
        "run.tasks=100",
        "--set",
        "ack.late=true",
        "--set",
        "ack.visibility_timeout=1e-9",
        "--trace",
        str(tmp_path / trace),
    )
    assert r.returncode == 2 and "redeliveries" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []
