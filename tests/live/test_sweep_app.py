"""Sweeps on a Celery cluster (``live.sweep_app``): real sweep workers on the session's
redis-server give the local sweep's numbers, also when a worker dies mid-sweep.

Wall time: 111 s for the file on 2 cores shared with other jobs at load average 10-17 (199 s at
17), nearly all of it Python starting the CLI and the workers under that load (1.3 s of CPU
each); the killed worker's replication waits out a 2 s visibility timeout.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from live import sweep_app
from live.redis_server import free_port, private_redis
from sim import scenario
from sim.analysis import sweep
from tests.conftest import stoppable
from tests.queuelab.helpers import stopped_after

pytestmark = pytest.mark.live

QUEUELAB = [sys.executable, "-m", "queuelab.cli"]
MMC = "scenarios/mmc.toml"


@contextlib.contextmanager
def sweep_workers(redis_url: str, count: int, *options: str):
    """``count`` ``queuelab sweep-worker`` nodes of one pool process each, each in its own
    session (so a test can kill a whole node), stopped after, with what they left in Redis: a
    replication outliving a short visibility timeout is queued again while it runs."""
    procs = [
        subprocess.Popen(
            [*QUEUELAB, "sweep-worker", "--redis-url", redis_url, "--concurrency", "1", *options],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(count)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        with contextlib.suppress(redis.ConnectionError):  # a Redis the test killed holds nothing
            redis.Redis.from_url(redis_url).delete(
                sweep_app.QUEUE, *sweep_app.UNACKED_KEYS.values()
            )


def local_points(tasks: int, workers: list[int], reps: int) -> list[dict]:
    """What the local sweep answers, serially in this process."""
    sc = scenario.load(MMC, [f"run.tasks={tasks}"])
    return [p.to_dict() for p in sweep.sweep(sc, workers, reps=reps, processes=1)]


def cluster_sweep(redis_url: str, tasks: int, workers: str, reps: int) -> subprocess.Popen:
    return subprocess.Popen(
        stoppable(
            [*QUEUELAB, "sweep", MMC, "--workers", workers, "--reps", str(reps), "--json"]
            + ["--set", f"run.tasks={tasks}", "--redis-url", redis_url]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_cluster_sweep_gives_the_local_sweeps_numbers(redis_url, no_leftovers):
    with sweep_workers(redis_url, 2):
        out, err = cluster_sweep(redis_url, 2000, "4,5", 2).communicate(timeout=120)
    assert json.loads(out)["points"] == local_points(2000, [4, 5], 2), err


def wait_consuming(client: redis.Redis, count: int, seconds: float = 120) -> None:
    """Until ``count`` clients wait in BRPOP: the nodes consume (boots take long on a loaded
    machine). Started before them, a sweep's replications could all run on the node that booted
    first, on a fast host in less time than the other takes to boot."""
    deadline = time.monotonic() + seconds
    while sum(c.get("cmd") == "brpop" for c in client.client_list()) < count:
        assert time.monotonic() < deadline, "the sweep workers never consumed"
        time.sleep(0.1)


def test_a_killed_workers_replication_runs_again_on_another(redis_url, no_leftovers):
    """Even while another app's node, dead, holds kombu's default restore lock: the sweep's
    un-acked messages and its lock are its own (with the shared lock, its restore waited the
    lock's 300 s)."""
    client = redis.Redis.from_url(redis_url)
    client.set("unacked_mutex", "another-apps-dead-node", px=300_000)
    try:
        with sweep_workers(redis_url, 2, "--visibility-timeout", "2") as (doomed, _):
            wait_consuming(client, 2)
            sweeping = cluster_sweep(redis_url, 10000, "4,5", 2)
            try:
                deadline = time.monotonic() + 120
                while (
                    client.hlen(sweep_app.UNACKED) < 2
                ):  # each node runs one replication (prefetch 1)
                    assert time.monotonic() < deadline, "the two workers never ran together"
                    time.sleep(0.05)
                os.killpg(
                    doomed.pid, signal.SIGKILL
                )  # the node and its pool child, mid-replication
                out, err = sweeping.communicate(timeout=180)
            finally:
                sweeping.kill()
                sweeping.wait()
    finally:
        client.delete("unacked_mutex")  # the session's Redis serves other apps' tests
    assert sweeping.returncode == 0, err
    assert json.loads(out)["points"] == local_points(10000, [4, 5], 2)


def test_without_workers_it_says_so_and_withdraws_what_waits(redis_url):
    heard: list[str] = []

    def notice(text: str) -> None:
        heard.append(text)
        if len(heard) == 1:
            raise KeyboardInterrupt  # the user gives up: Ctrl-C

    sc = scenario.load(MMC)
    with pytest.raises(sweep.Stopped) as stopped:
        sweep_app.sweep_field(redis_url, sc, "workers.count", [4, 5], 3, notice=notice, quiet=0.5)
    assert isinstance(stopped.value.cause, KeyboardInterrupt) and not stopped.value.finished
    assert heard[0].startswith("6 replications waiting in queuelab-sweep")
    assert "queuelab sweep-worker --redis-url" in heard[0]
    assert heard[1] == "withdrew the 6 replications still waiting in queuelab-sweep"
    assert redis.Redis.from_url(redis_url).llen(sweep_app.QUEUE) == 0


def test_a_replication_that_is_nowhere_is_sent_again(redis_url, monkeypatch):
    """As when a worker killed while it waited in BRPOP takes the next message with it: the
    sweep sends it again rather than wait for ever."""
    client = redis.Redis.from_url(redis_url)
    monkeypatch.setattr(sweep_app, "REMIND", 0.5)
    heard: list[str] = []

    def notice(text: str) -> None:
        heard.append(text)
        if len(heard) == 1:
            client.delete(sweep_app.QUEUE)  # the messages vanish: no worker ran them
        if len(heard) == 3:
            raise KeyboardInterrupt

    sc = scenario.load(MMC)
    with pytest.raises(sweep.Stopped):
        sweep_app.sweep_field(redis_url, sc, "workers.count", [4], 2, notice=notice, quiet=0.5)
    assert heard[0].startswith("2 replications waiting in queuelab-sweep")
    assert heard[1].startswith("sent 2 replications again: they were neither waiting")
    assert heard[2].startswith("2 replications waiting in queuelab-sweep")  # back in the queue


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stopped_cluster_sweep_withdraws_what_waits(sig, redis_url, no_leftovers):
    """Ctrl-C, a supervisor's SIGTERM or a closed terminal: the replications still waiting are
    withdrawn (SIGTERM and SIGHUP killed the sweep, leaving them for sweep workers to run for
    nothing)."""
    sweeping = cluster_sweep(redis_url, 100, "4", 2)
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    while client.llen(sweep_app.QUEUE) < 2:  # both replications published, none taken
        assert time.monotonic() < deadline, "the sweep never published its replications"
        time.sleep(0.05)
    sweeping.send_signal(sig)
    _, err = sweeping.communicate(timeout=30)
    assert sweeping.returncode == 130, err
    assert "withdrew the 2 replications" in err
    assert client.llen(sweep_app.QUEUE) == 0


STOPPED_SWEEP = ["sweep", MMC, "--workers", "4,5,6", "--reps", "2", "--json"]
# about a second a replication on a quiet host (40,000 took 0.2 s: a sweep's bar, drawn from its
# first second on, then already showed four of six back, and five had come back when stopped)
STOPPED_TASKS = 200_000


def came_back(data: dict, err: str) -> list[int]:
    """The worker counts a stopped cluster sweep printed, checked: the one sweep worker runs
    the replications in the order sent, so a first count or two came back whole, and each
    has the numbers the local sweep gives; the rest are named missing."""
    shown = [p["workers"] for p in data["points"]]
    assert shown in ([4], [4, 5]), shown
    assert data["points"] == local_points(STOPPED_TASKS, shown, 2)  # same seeds, same numbers
    assert data["missing"] == [5, 6][len(shown) - 1 :]
    assert f"kept the {len(shown)} of 3 worker counts whose replications all finished" in err
    return shown


def stopped_cluster_sweep(redis_url: str, stop) -> tuple[int, dict, str]:
    """A cluster sweep of three counts, two replications each, on one sweep worker of one
    process, which runs them in the order sent: ``stop(proc)`` once the sweep's progress bar
    shows the first count's two back. Returns its exit code, its JSON and its stderr."""
    with sweep_workers(redis_url, 1):
        code, out, err = stopped_after(
            [*STOPPED_SWEEP, "--set", f"run.tasks={STOPPED_TASKS}", "--redis-url", redis_url],
            done=2,
            stop=stop,
        )
    return code, json.loads(out), err


def test_a_stopped_cluster_sweep_prints_the_counts_that_came_back(redis_url, no_leftovers):
    """Ctrl-C printed nothing of the replications that had come back: minutes of work lost."""
    code, data, err = stopped_cluster_sweep(redis_url, lambda p: p.send_signal(signal.SIGINT))
    assert code == 130, err
    came_back(data, err)
    assert "queuelab: interrupted: stopped the sweep; kept the " in err
    assert "replications still waiting in queuelab-sweep" in err  # withdrawn


def test_a_sweep_whose_redis_is_lost_prints_the_counts_that_came_back(no_leftovers):
    """It ended with one line, exit 2, the replications that had come back discarded."""
    with private_redis() as url:
        pid = redis.Redis.from_url(url).info("server")["process_id"]
        code, data, err = stopped_cluster_sweep(url, lambda _: os.kill(pid, signal.SIGKILL))
    assert code == 2, err
    came_back(data, err)
    assert f"queuelab: error: lost Redis at {url} during the sweep" in err
    assert "Traceback" not in err, err


def ended_by_a_frozen_redis(command: list[str], ready) -> tuple[int, str, str]:
    """``queuelab COMMAND --redis-url URL`` on a redis-server of the test's own, stopped
    (SIGSTOP: a paused VM, a network that drops packets) once ``ready(client)``: a Redis that
    answers nothing and closes nothing. Returns its exit code, its stderr and the URL."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        pid = client.info("server")["process_id"]
        proc = subprocess.Popen(
            [*QUEUELAB, *command, "--redis-url", url],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not ready(client):
                assert time.monotonic() < deadline, f"{command[0]} never got going"
                time.sleep(0.05)
            os.kill(pid, signal.SIGSTOP)
            _, err = proc.communicate(timeout=120)
        finally:
            os.kill(pid, signal.SIGCONT)
            proc.kill()
            proc.wait()
    return proc.returncode, err, url


def test_a_frozen_redis_ends_the_sweep_instead_of_hanging_it(no_leftovers):
    """The sweep waited on it for good, Ctrl-C included; its commands now give up after
    ``redis_server.TIMEOUT``, and it ends as on a lost Redis."""
    code, err, url = ended_by_a_frozen_redis(
        ["sweep", MMC, "--workers", "4", "--reps", "2"],
        lambda client: client.llen(sweep_app.QUEUE) == 2,  # both published, no worker to run them
    )
    assert code == 2, err
    assert f"queuelab: error: lost Redis at {url} during the sweep" in err
    assert "Traceback" not in err


def test_a_frozen_redis_ends_the_sweep_worker_instead_of_hanging_it(no_leftovers):
    """The worker waited on it for good, and a Ctrl-C (or two) hung in its shutdown; it now
    stops once Redis has answered nothing for ``redis_server.TIMEOUT``, one line, exit 2."""
    code, err, url = ended_by_a_frozen_redis(
        ["sweep-worker", "--concurrency", "1"],
        lambda client: any(c.get("cmd") == "brpop" for c in client.client_list()),
    )
    assert code == 2, err
    said = f"queuelab: error: lost Redis at {url} (Timeout"
    assert any(line.startswith(said) for line in err.splitlines()), err  # not a log line
    assert "Traceback" not in err


def test_a_redis_out_of_memory_is_said_as_such_with_its_remedy(no_leftovers):
    """At its maxmemory (policy noeviction) Redis refuses the sweep's messages: that read 'lost
    Redis ...; start Redis there', of a Redis that was up."""
    with private_redis() as url:
        redis.Redis.from_url(url).config_set("maxmemory", 1)  # every write refused
        r = subprocess.run(
            [*QUEUELAB, "sweep", MMC, "--workers", "4", "--redis-url", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 2, r.stderr
    assert f"queuelab: error: Redis at {url} is out of memory during the sweep (" in r.stderr
    assert r.stderr.rstrip().endswith("free memory there or raise its maxmemory")


@pytest.mark.parametrize("command", [["sweep", MMC, "--workers", "4"], ["sweep-worker"]])
def test_an_unreachable_redis_is_a_clear_error(command, no_leftovers):
    url = f"redis://127.0.0.1:{free_port()}/0"
    r = subprocess.run(
        [*QUEUELAB, *command, "--redis-url", url], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    assert f"queuelab: error: cannot reach Redis at {url}" in r.stderr
    assert "start Redis there" in r.stderr and ".;" not in r.stderr


# Early ack and no prefetch limit: at one worker the tasks wait reserved behind each other past
# a 0.5 s visibility timeout, handed out again and again until the broker's bound ends the run
# (RunawayError, on the sweep worker); at 8 none waits.
FAILS_AT_ONE = ["ack.late=false", "workers.prefetch_multiplier=0", "ack.visibility_timeout=0.5"]


def test_a_replication_that_fails_on_its_worker_keeps_the_counts_that_came_back(
    redis_url, no_leftovers
):
    """The failure threw away the count whose replications had come back, and ended as bad
    input. One sweep worker of one process runs the replications in the order sent: 8's two,
    then 1's, whose first fails."""
    sets = ["run.tasks=200", *FAILS_AT_ONE]
    with sweep_workers(redis_url, 1):
        r = subprocess.run(
            [*QUEUELAB, "sweep", MMC, "--workers", "8,1", "--reps", "2", "--json"]
            + [arg for s in sets for arg in ("--set", s)]
            + ["--redis-url", redis_url],
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert r.returncode == 2, r.stderr
    data = json.loads(r.stdout)
    whole = sweep.sweep(scenario.load(MMC, sets), [8], reps=2, processes=1)
    assert data["points"] == [p.to_dict() for p in whole]  # same seeds, same numbers
    assert data["missing"] == [1]
    said = "queuelab: error: replication 0 (seed 1) at workers.count = 1 failed on its worker: "
    assert said + "more than 30000 redeliveries by ack.visibility_timeout = 0.5s" in r.stderr
    assert "kept the 1 of 2 worker counts whose replications all finished" in r.stderr
    assert "Traceback" not in r.stderr
