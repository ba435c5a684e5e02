"""`queuelab live` and `queuelab worker` as a user runs them: real processes, clean exits."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import stoppable

pytestmark = pytest.mark.live

QUEUELAB = [sys.executable, "-m", "queuelab.cli"]


def awaited(seen, proc: subprocess.Popen, deadline: float, what: str):
    """What ``seen()`` gives once it is true, polled while ``proc`` runs, before ``deadline``:
    else the test fails saying ``what`` never happened."""
    while not (value := seen()):
        assert time.monotonic() < deadline and proc.poll() is None, what
        time.sleep(0.01)
    return value


def frozen(pid: int, proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """``proc``'s output once it ends while the Redis of process ``pid`` is stopped (SIGSTOP:
    a paused VM); Redis goes on after, and ``proc`` is killed if it outlives ``timeout``."""
    os.kill(pid, signal.SIGSTOP)
    try:
        return proc.communicate(timeout=timeout)
    finally:
        os.kill(pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()


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


def test_a_summary_no_one_reads_still_writes_the_trace(redis_url, tmp_path, no_leftovers):
    """The summary's reader gone (``| head``): printing it fails (a broken pipe, unbuffered
    as PYTHONUNBUFFERED makes it, as a summary past the buffer does anyway), and the run's
    trace, written after it, was lost; it is written all the same."""
    from sim.trace import read

    trace = tmp_path / "t.csv"
    reader, out = os.pipe()
    os.close(reader)  # gone before the summary: a `| head` that has its lines
    subprocess.run(
        [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", redis_url]
        + ["--time-scale", "0.02", "--set", "run.tasks=30", "--trace", str(trace)],
        stdout=out,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=180,
    )
    os.close(out)
    assert set(read(trace).task) == set(range(30))


def test_a_scenario_named_from_its_folder_runs_live_with_its_data_files(redis_url, tmp_path):
    """`queuelab live mine.toml` in the folder of a recording: its arrivals and service files
    are named relative to it. The workers read the scenario from a temp folder, where those
    names were looked up and missed (exit 2, "data file ... does not exist")."""
    (tmp_path / "mine-arrivals.csv").write_text("t\n" + "\n".join(f"{i / 4}" for i in range(12)))
    (tmp_path / "mine-service.csv").write_text("seconds\n0.1\n0.2\n")
    (tmp_path / "mine.toml").write_text(
        '[arrivals]\nprocess = "trace"\nfile = "mine-arrivals.csv"\n[run]\ntasks = 12\n'
        '[service]\ndist = "empirical"\nfile = "mine-service.csv"\n[workers]\ncount = 2\n'
    )
    r = subprocess.run(
        [*QUEUELAB, "live", "mine.toml", "--redis-url", redis_url, "--time-scale", "0.2"]
        + ["--json"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tasks_succeeded"] == 12


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
    """Quickly: within 10 s of a start-up measured in the same test (importing the CLI and the
    live mode takes seconds on a busy host, and is not what this checks)."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import queuelab.cli, live.run"], check=True, timeout=120)
    start_up = time.monotonic() - started
    started = time.monotonic()
    r = subprocess.run(
        [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", "redis://127.0.0.1:1/0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "cannot reach Redis" in r.stderr
    assert "leave out --redis-url and a private redis-server is started" in r.stderr  # remedy
    assert "Traceback" not in r.stderr
    assert time.monotonic() - started < 1.5 * start_up + 10


def warned_before_the_run(setting: str, scale: str, command: str = "live") -> str:
    """The stderr of a live mmc run at ``scale`` with ``setting``, on a Redis URL where nothing
    listens: what it says before the run, then that it cannot reach Redis (exit 2)."""
    r = subprocess.run(
        [*QUEUELAB, command, "scenarios/mmc.toml", "--redis-url", "redis://127.0.0.1:1/0"]
        + ["--set", setting, "--time-scale", scale],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    return r.stderr


def test_a_time_scale_the_host_cannot_carry_is_warned_before_the_run():
    """10,000 tasks a wall second at 10 ms of CPU each would need 100 cores: the warning comes
    before the run starts; at time scale 10 (0.1 core) none."""
    fast = warned_before_the_run("arrivals.rate=100", "0.01")
    assert "sends about 10000 tasks a wall second" in fast
    assert "use a larger --time-scale" in fast
    assert "tasks a wall second" not in warned_before_the_run("arrivals.rate=100", "10")


def test_a_run_long_in_wall_time_is_warned_with_how_the_time_scale_reads():
    """--time-scale 5 read as five times faster: 580 tasks at 3.2 a second take 15 minutes of
    wall time, said before the run; at 0.1 nothing."""
    slow = warned_before_the_run("run.tasks=580", "5")
    assert "the arrivals alone take 15 minutes of wall time at --time-scale 5" in slow
    assert "minutes of wall time" not in warned_before_the_run("run.tasks=580", "0.1")
    # compare says it before its probe of the host's costs (it came after the probe's seconds)
    assert "the arrivals alone take 15" in warned_before_the_run("run.tasks=580", "5", "compare")


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


def running(proc: subprocess.Popen, processes: int) -> None:
    """Wait until the run below ``proc`` has ``processes`` processes, then a second more, so its
    pools have settled and tasks flow."""
    from tests.conftest import descendants

    deadline = time.monotonic() + 120
    while len(tree := descendants(proc.pid)) < processes and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(tree) >= processes, f"the run did not start: {len(tree)} processes"
    time.sleep(1.0)


def test_ctrl_c_mid_run_stops_cleanly(redis_url, no_leftovers):
    proc = subprocess.Popen(
        stoppable(
            [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", redis_url]
            + ["--time-scale", "0.05", "--json"]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running(proc, 8)  # 4 nodes and a pool child each (not a fixed sleep: a busy host is slow)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert "the summary holds what ran until then" in err  # no --trace: the summary alone
    assert 0 < json.loads(out)["tasks_submitted"] < 20000


def test_ctrl_c_while_the_nodes_start_stops_there(redis_url, tmp_path, no_leftovers):
    """Ctrl-C while the run's nodes start, one of them hung in its boot: exit 130, no task
    sent, the (empty) trace written as a stopped run's is, nothing left on Redis. The wait for
    the nodes looked at no Ctrl-C: it waited 90 s for the hung one, then failed, exit 2."""
    import redis

    from sim.trace import read
    from tests.conftest import hang_first_node

    client = redis.Redis.from_url(redis_url)
    before = set(client.keys("queuelab:*"))
    trace = tmp_path / "t.csv"
    proc = subprocess.Popen(
        stoppable(
            [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", redis_url]
            + ["--time-scale", "0.2", "--set", "run.tasks=100", "--trace", str(trace), "--json"]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert hang_first_node(proc.pid)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "interrupted: stopped the run" in err and "Traceback" not in err
    assert f"the summary and the trace ({trace}) hold what ran until then" in err  # kept
    assert json.loads(out)["tasks_submitted"] == 0
    assert len(read(trace)) == 0
    assert set(client.keys("queuelab:*")) <= before


def test_worker_on_another_machine_joins_the_run(redis_url, tmp_path, no_leftovers):
    joiner = subprocess.Popen(
        stoppable([*QUEUELAB, "worker", "--redis-url", redis_url, "--count", "1"]),
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


def test_a_worker_whose_redis_goes_says_so(no_leftovers):
    """`queuelab worker` waiting for a run when its Redis is killed: one line, exit 2 (it was a
    redis ConnectionError traceback)."""
    import redis

    from live.redis_server import private_redis

    with private_redis() as url:
        joiner = subprocess.Popen(
            [*QUEUELAB, "worker", "--redis-url", url, "--count", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 60
        # the worker polls for a run (GET): past its first PING, whose client counted as a second
        # connection too, and whose loss says "cannot reach" instead
        while time.monotonic() < deadline and not any(
            c["cmd"] == "get" for c in client.client_list()
        ):
            time.sleep(0.05)
        os.kill(client.info("server")["process_id"], signal.SIGKILL)
        _, err = joiner.communicate(timeout=60)
    assert joiner.returncode == 2, err
    assert f"lost Redis at {url}" in err and "Traceback" not in err


def test_a_worker_whose_redis_freezes_says_it_answered_nothing(no_leftovers):
    """`queuelab worker` waiting for a run when its Redis is stopped (SIGSTOP): one line that
    says Redis answered nothing for TIMEOUT, as every lost-Redis line does (it said only
    "Timeout reading from socket"), exit 2."""
    import redis

    from live.redis_server import private_redis

    with private_redis() as url:
        pid = redis.Redis.from_url(url).info("server")["process_id"]
        joiner = subprocess.Popen(
            [*QUEUELAB, "worker", "--redis-url", url, "--count", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert joiner.stderr.readline().startswith("waiting for a live run")
            _, err = frozen(pid, joiner, timeout=60)
        finally:
            if joiner.poll() is None:
                joiner.kill()
    assert joiner.returncode == 2, err
    assert f"lost Redis at {url} while joining" in err and "Traceback" not in err
    assert "no answer within 10 s, as from a Redis stopped or paused" in err


def test_compare_reports_every_section_and_a_second_live_run(redis_url):
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
            "--again",
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
    # by default Celery's costs are probed on this host before the run: the simulation pays
    # them, or (a probe too crowded to fit any, as at load 20) the run says it uses its own
    probed = ("Celery's costs on this host now: delivery ", "could not measure Celery's costs")
    assert any(said in r.stderr for said in probed), r.stderr
    # --again: a second live run of the same draws, judged against the first; the same
    # attempts fail, so both retried as often, and only timing figures can be outside
    again = report["again"]
    assert again["ok"] == (not again["outside"])
    assert not {"retries", "executions", "tasks_failed", "tasks_lost"} & set(again["outside"])
    assert 0 <= again["ks"]["wait"] <= 1 and 0 <= again["ks"]["sojourn"] <= 1


def test_compare_judges_each_pool_and_queue_of_a_live_run_of_several(redis_url):
    """Two pools on two queues, run live: each pool's utilisation and each queue's mean length
    is a figure of its own, measured on the live side (each pool ran its tasks), with a verdict
    and a miss's cause, as the run's own figures."""
    r = subprocess.run(
        [
            *QUEUELAB,
            "compare",
            "scenarios/thumbnails_and_reports.toml",
            "--redis-url",
            redis_url,
            "--time-scale",
            "0.1",
            "--set",
            "run.tasks=150",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode in (0, 1), r.stderr
    figures = {f["figure"]: f for f in json.loads(r.stdout)["figures"]}
    pools = {f"by_pool.{p}.utilization" for p in ("fast", "slow")}
    queues = {f"by_queue.{q}.queue_len_mean" for q in ("fast", "slow")}
    assert {name for name in figures if name.startswith("by_")} == pools | queues
    assert all(0 < figures[name]["live"] <= 1 and figures[name]["sim"] > 0 for name in pools)
    for f in figures.values():
        assert f["ok"] or f["likely_cause"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_compare_stopped_while_it_measures_the_host_stops_cleanly(sig, redis_url, no_leftovers):
    """Ctrl-C or SIGTERM while the probe runs, before the run compared: exit 130 saying so (a
    SIGTERM killed it, a Ctrl-C raised through the probe), and nothing of the probe is left on
    the user's Redis (its run stayed announced, for `queuelab worker` to join). The probe's
    nodes report ready in Redis, as every run's do; it is the first run."""
    import redis

    client = redis.Redis.from_url(redis_url)
    before = set(client.keys("queuelab:*"))
    proc = subprocess.Popen(
        stoppable(
            [*QUEUELAB, "compare", "scenarios/mmc.toml", "--redis-url", redis_url]
            + ["--time-scale", "0.1", "--set", "run.tasks=100"]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not set(client.keys("queuelab:*:ready")) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "interrupted while measuring Celery's costs" in err and "Traceback" not in err
    assert set(client.keys("queuelab:*")) <= before


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_a_killed_or_hung_up_run_leaves_no_process_behind(sig, no_leftovers, tmp_path):
    """The run's private redis-server and every Celery node and pool child die with it, found
    by their parent chain; a hang-up stops the run as Ctrl-C does. Its folders are made in a
    temp folder of this test's: another test's live run, starting meanwhile, sweeps /tmp."""
    from live.lifeline import sweep_orphans
    from tests.conftest import alive, descendants

    proc = subprocess.Popen(
        stoppable([*QUEUELAB, "live", "scenarios/mmc.toml", "--time-scale", "0.05"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        running(proc, 9)  # redis-server, 4 nodes and a pool child each
        tree = descendants(proc.pid)
        os.kill(proc.pid, sig)
        proc.wait(timeout=180)
        deadline = time.monotonic() + 20
        while alive(tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(tree), f"left behind: {sorted(alive(tree))}"
    finally:
        if proc.poll() is None:
            proc.kill()
    folders = list(tmp_path.glob(f"queuelab-*-{proc.pid}-*"))
    if sig == signal.SIGKILL:
        assert folders, "a killed run cannot remove its own folders"
        assert set(sweep_orphans(tmp_path)) >= set(folders)
    assert not [f for f in folders if f.exists()]


def test_a_run_whose_terminal_closes_keeps_its_trace(redis_url, tmp_path, no_leftovers):
    """The terminal closed mid-run: the hang-up stops the run as Ctrl-C does, exit 130, and
    its trace is written. Every write to a closed terminal fails (EIO): the progress bar's
    ended the command before the trace was written, exit 1, and the run was lost."""
    import fcntl
    import re
    import select
    import termios

    from sim.trace import read

    trace = tmp_path / "t.csv"
    master, terminal = os.openpty()
    proc = subprocess.Popen(
        stoppable(
            [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", redis_url]
            + ["--time-scale", "0.05", "--trace", str(trace)]
        ),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # its controlling terminal
    )
    os.close(terminal)
    try:
        shown = b""  # read as it comes: a full terminal would block the run's writes
        ended = re.compile(rb"running \[[#.]+\] [1-9]")  # the bar, once a task has ended
        deadline = time.monotonic() + 120
        while not ended.search(shown) and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                shown += os.read(master, 65536)
        assert ended.search(shown), shown
    finally:
        os.close(master)  # the terminal closes: its session gets SIGHUP
    assert proc.wait(timeout=120) == 130
    assert len(read(trace)) > 0


def test_a_run_started_ignoring_hang_ups_outlives_its_terminal(redis_url, no_leftovers):
    """`nohup queuelab live …`: started with SIGHUP ignored, so that closing the terminal
    leaves it running; the run's own handler replaced nohup's ignore, and a hang-up stopped it
    (exit 130, the run cut short)."""
    proc = subprocess.Popen(
        [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", redis_url]
        + ["--time-scale", "0.05", "--set", "run.tasks=200", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # as nohup starts it
    )
    running(proc, 8)  # 4 nodes and a pool child each
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert json.loads(out)["tasks_succeeded"] == 200


def test_a_run_killed_while_its_nodes_start_leaves_none_behind(no_leftovers, tmp_path):
    """Killed while its Celery nodes still import Celery (seconds, before each starts watching
    its parent): a node must find its parent gone then, not watch its adopter (init, or this
    test, a subreaper) for ever. Its folders are swept only after: a node that cannot read its
    scenario file exits for that reason instead."""
    from live.lifeline import sweep_orphans
    from tests.conftest import alive, command_line, descendants

    proc = subprocess.Popen(
        [*QUEUELAB, "live", "scenarios/mmc.toml", "--time-scale", "0.05"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        deadline, tree = time.monotonic() + 120, set()
        while time.monotonic() < deadline and not any(
            "live.worker_main" in command_line(pid) for pid in tree
        ):
            time.sleep(0.02)
            tree = descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 30
    while alive(tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(tree), f"left behind: {[command_line(pid) for pid in alive(tree)]}"
    sweep_orphans(tmp_path)


def test_a_killed_runs_announcement_goes_with_it(redis_url, no_leftovers):
    """A run SIGKILLed mid-run cannot delete the announcement `queuelab worker` joins: it must
    lapse on its own, or a worker started any time later joins that dead run (then leaves
    when the next run announces itself, the run it was started for)."""
    import redis

    from live.run import CURRENT

    client = redis.Redis.from_url(redis_url)
    proc = subprocess.Popen(
        [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", redis_url]
        + ["--time-scale", "0.05", "--set", "run.tasks=300"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    running(proc, 8)
    run_id = client.get(CURRENT)
    assert run_id and client.exists(f"queuelab:{run_id.decode()}:t0")  # this run's, under way
    proc.kill()
    proc.wait(timeout=60)
    deadline = time.monotonic() + 60
    while client.get(CURRENT) == run_id and time.monotonic() < deadline:
        time.sleep(0.5)
    assert client.get(CURRENT) != run_id


@contextlib.contextmanager
def live_on_its_own_redis(trace: Path, tasks: int, events: int, tmp: Path | None = None):
    """``queuelab live`` of mmc on a redis-server of the test's own, past its first ``events``
    Celery events: yields the run's process and Redis's pid, for the test to stop Redis.
    ``tmp``: the run's temp dir."""
    import redis

    from live.redis_server import private_redis

    with private_redis() as url:
        client = redis.Redis.from_url(url)
        pid = client.info("server")["process_id"]
        proc = subprocess.Popen(
            [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", url, "--time-scale", "0.05"]
            + ["--set", f"run.tasks={tasks}", "--json", "--trace", str(trace)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **({"TMPDIR": str(tmp)} if tmp else {})},
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
            client.llen(key) > events for key in client.keys("queuelab:*:events")
        ):
            time.sleep(0.1)
        yield proc, pid


def test_compare_stopped_between_its_two_runs_sends_nothing_more(redis_url, no_leftovers):
    """Ctrl-C once the first run is over, while the simulation runs beside it: the signal was
    dropped, and `--again` ran its second run whole; it now sends none of it, prints the first
    run's comparison (whole: a Ctrl-C while that run wound up discarded it) and exits 130."""
    import redis

    from live.run import CURRENT

    client = redis.Redis.from_url(redis_url)
    proc = subprocess.Popen(
        stoppable(
            [*QUEUELAB, "compare", "scenarios/mmc.toml", "--costs", "scenario", "--again"]
            + ["--redis-url", redis_url, "--time-scale", "0.05", "--set", "run.tasks=100"]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    first = awaited(lambda: client.get(CURRENT), proc, deadline, "the first run never began")
    # deleted as the first run ends
    awaited(lambda: client.get(CURRENT) != first, proc, deadline, "the first run never ended")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "interrupted: no second run" in err and "Traceback" not in err
    assert "tasks_succeeded" in out and "A second live run" not in out  # the first comparison


def test_a_trace_whose_folder_went_away_is_written_to_a_temp_folder(tmp_path, no_leftovers):
    """--trace's folder removed mid-run: the summary was printed, and the run's trace, which no
    second run gives again, lost with an error; it is now written under a new temp folder,
    said on stderr, exit 2."""
    import shutil

    from sim.trace import read

    (tmp_path / "gone").mkdir()
    (tmp_path / "tmp").mkdir()
    trace = tmp_path / "gone" / "t.csv"
    with live_on_its_own_redis(trace, 300, 20, tmp_path / "tmp") as (proc, _):
        shutil.rmtree(tmp_path / "gone")
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert json.loads(out)["tasks_succeeded"] == 300
    saved = next((tmp_path / "tmp").glob("t-*/t.csv"))
    assert f"could not write {trace}" in err
    assert f"wrote it to {saved} instead" in err and "Traceback" not in err
    assert len(read(saved)) > 300 * 3


def test_redis_dying_mid_run_keeps_what_was_collected(tmp_path, no_leftovers):
    """The user's Redis is killed mid-run: one line saying so, exit 2, and the summary and
    trace of every row collected until then."""
    trace = tmp_path / "t.csv"
    with live_on_its_own_redis(trace, 2000, 50) as (proc, pid):
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "lost the connection to Redis mid-run" in err
    summary = json.loads(out)
    assert 0 < summary["tasks_succeeded"] < 2000
    assert trace.exists() and len(trace.read_text().splitlines()) > 50


@contextlib.contextmanager
def restartable_redis(folder: Path):
    """A redis-server keeping nothing on disk, on a free loopback port; yields its URL and a
    function that kills it and starts another, empty, on the same port."""
    import redis

    from live.redis_server import free_port, stop_process

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
    servers = []

    def start() -> None:
        servers.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        deadline = time.monotonic() + 10
        while not with_answer(redis.Redis.from_url(url)):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.01)

    def restart() -> None:
        servers[-1].kill()
        servers[-1].wait()
        start()

    start()
    try:
        yield url, restart
    finally:
        for server in servers:
            if server.poll() is None:
                stop_process(server)


def with_answer(client) -> bool:
    import redis

    try:
        return client.ping()
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def test_redis_restarted_empty_mid_run_ends_it_as_lost(tmp_path, no_leftovers):
    """The user's Redis restarted mid-run without its data (no RDB or AOF): the run's rows were
    gone, the collector read on from where it had got to in the new list, skipping what the
    workers wrote there, and the run ended well (exit 0) with the tasks it skipped counted lost.
    It now ends as on a lost Redis: one line, exit 2, and what was collected until then."""
    import redis

    with restartable_redis(tmp_path) as (url, restart):
        client = redis.Redis.from_url(url)
        proc = subprocess.Popen(
            [*QUEUELAB, "live", "scenarios/mmc.toml", "--redis-url", url, "--time-scale", "0.05"]
            + ["--set", "run.tasks=300", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        awaited(
            lambda: any(client.llen(key) > 100 for key in client.keys("queuelab:*:events")),
            proc,
            time.monotonic() + 120,
            "the run never began",
        )
        restart()
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 2, err
    assert "lost the connection to Redis mid-run" in err and "Traceback" not in err
    assert json.loads(out)["tasks_submitted"] > 0


def test_redis_out_of_memory_mid_run_is_said_as_such_with_its_remedy(tmp_path, no_leftovers):
    """The user's Redis reaches its maxmemory mid-run (policy noeviction): it is up but refuses
    writes, which read 'lost the connection to Redis mid-run'; now it says out of memory and
    what to do, and keeps what was collected, as a lost Redis does."""
    import redis

    trace = tmp_path / "t.csv"
    with live_on_its_own_redis(trace, 2000, 50) as (proc, pid):
        url = proc.args[proc.args.index("--redis-url") + 1]  # the test's own redis-server
        redis.Redis.from_url(url).config_set("maxmemory", "1")
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Redis ran out of memory mid-run (" in err and "lost the connection" not in err
    assert "Free memory there or raise its maxmemory, then run again." in err
    assert "Traceback" not in err and json.loads(out)["tasks_submitted"] > 0 and trace.exists()


@pytest.mark.slow
def test_a_frozen_redis_ends_the_run_instead_of_hanging_it(tmp_path, no_leftovers):
    """Redis stopped mid-run (SIGSTOP: a paused VM, a network that drops packets) answers
    nothing and closes nothing: the run hung on it for good, Ctrl-C included. Its commands now
    give up, and it ends as on a lost Redis, keeping what was collected, and saying that Redis
    answered nothing (the first command's timeout, ``redis_server.TIMEOUT``: it took a minute,
    as the producer's send was retried and the nodes got a warm shutdown)."""
    trace = tmp_path / "t.csv"
    with live_on_its_own_redis(trace, 300, 20) as (proc, pid):
        out, err = frozen(pid, proc, timeout=300)
    assert proc.returncode == 2, err
    assert "lost the connection to Redis mid-run" in err and "Traceback" not in err
    assert "no answer within 10 s, as from a Redis stopped or paused" in err
    assert json.loads(out)["tasks_submitted"] > 0 and trace.exists()


def test_redis_dying_mid_compare_says_the_run_is_lost(no_leftovers):
    """compare prints no summary or trace of a run cut short: the error says the run is lost
    (it said 'the trace and summary hold what was collected until then')."""
    import redis

    from live.redis_server import private_redis

    with private_redis() as url:
        client = redis.Redis.from_url(url)
        pid = client.info("server")["process_id"]
        proc = subprocess.Popen(
            [*QUEUELAB, "compare", "scenarios/mmc.toml", "--costs", "scenario"]
            + ["--redis-url", url, "--time-scale", "0.05", "--set", "run.tasks=300"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
            client.llen(key) > 20 for key in client.keys("queuelab:*:events")
        ):
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "lost the connection to Redis mid-run" in err and "and with it the run" in err
    assert "trace and summary" not in err and "Traceback" not in err and not out


def test_redis_dying_in_compares_second_run_keeps_the_first_runs_comparison(no_leftovers):
    """`--again` whose Redis is killed during the second run: the first run's comparison, whole
    and judged by then, was thrown away with that run (exit 2, nothing printed); it is now
    printed, and one line says the second run is lost and why, exit 2."""
    import redis

    from live.redis_server import private_redis
    from live.run import CURRENT

    with private_redis() as url:
        client = redis.Redis.from_url(url)
        pid = client.info("server")["process_id"]
        proc = subprocess.Popen(
            [*QUEUELAB, "compare", "scenarios/mmc.toml", "--costs", "scenario", "--again"]
            + ["--redis-url", url, "--time-scale", "0.05", "--set", "run.tasks=300", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        first = awaited(lambda: client.get(CURRENT), proc, deadline, "no first run")
        second = awaited(  # the second run's announcement
            lambda: (now := client.get(CURRENT)) not in (None, first) and now,
            proc,
            deadline,
            "no second run",
        ).decode()
        events = f"queuelab:{second}:events"
        awaited(lambda: client.llen(events) > 20, proc, deadline, "no second run's rows")
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    assert "the second live run is lost" in err and "lost the connection to Redis" in err
    result = json.loads(out)  # the first run's comparison, without a second run's
    assert "headline" in result and "again" not in result


def test_a_late_ack_run_whose_node_takes_a_message_with_it_ends_and_names_it(tmp_path):
    """Late ack, nodes killed at random (the issue's scenario): a node killed while its BRPOP
    is pending still takes the next message from Redis with it, so a task can vanish before
    any worker received it (kombu/Redis behaviour, see DESIGN.md). The run ends anyway, soon
    after the rest is done, and names any such task; none is lost after a worker received it."""
    scenario = tmp_path / "crashy.toml"
    scenario.write_text(
        'seed = 21\n[run]\ntasks = 200\n[arrivals]\nrate = 40\n[service]\ndist = "constant"\n'
        "mean = 0.05\n[workers]\ncount = 3\nconcurrency = 2\n[failures]\n"
        "crash_probability = 0.03\n[ack]\nlate = true\nvisibility_timeout = 3\n"
    )
    trace = tmp_path / "t.csv"
    r = subprocess.run(
        [*QUEUELAB, "live", str(scenario), "--json", "--trace", str(trace)],
        capture_output=True,
        text=True,
        timeout=240,  # the default drain alone was 553 s before the run could end on its own
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["tasks_succeeded"] + summary["tasks_lost"] == 200
    named = [line for line in r.stderr.splitlines() if " lost, " in line]
    assert sum(int(line.split()[1]) for line in named) == summary["tasks_lost"]
    assert all("never reached a worker" in line for line in named), named
