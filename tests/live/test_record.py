"""`queuelab record` on a separate Celery app with events on: the recorded scenario replays it.

Wall time: ~30 s for the recording that is replayed, ~6 s more for the one without task-sent
events (same deployment worker), ~20 s for the two task names on two queues, ~7 s for the one
whose Redis is killed.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import redis
from celery import Celery

from live.broker_wait import QueueSampler
from live.record import Recording, arrival_source, costs_note
from live.redis_server import private_redis
from live.worker_settings import settings_from
from sim import scenario
from sim.analysis.metrics import sojourns, summarize
from sim.engine.model import simulate
from tests.conftest import stoppable

ISO_AT_3 = datetime.fromtimestamp(3.0, tz=UTC).isoformat()  # an ETA 3 s after the epoch
QUEUELAB = [sys.executable, "-m", "queuelab.cli"]
TASKS, RATE = 60, 6.0


def node(name: str, queue: str, concurrency: int, events: bool = True) -> list[str]:
    """A deployment node's `celery worker` arguments: events on (-E) unless not ``events``,
    consuming ``queue``."""
    return ["-A", "tests.live.deployment_app", "worker", *["-E"] * events] + [
        *("-c", str(concurrency), "-Q", queue, "-n", name),
        *("--without-gossip", "--without-mingle", "-l", "WARNING"),
    ]


DEPLOYMENT_WORKER = node("deploy@test", "deployment", 2)


def subscription(redis_url, processes: int = 1):
    """A wait for ``processes`` more connections subscribed to a pattern on the broker than
    there are now: how a Celery process shows it has started to listen (nodes share the
    pidbox pattern, so each is counted by its connection)."""
    client = redis.Redis.from_url(redis_url)

    def listening() -> int:
        return sum(int(c.get("psub", 0)) > 0 for c in client.client_list())

    before = listening()

    def wait() -> None:
        deadline = time.time() + 30
        while listening() < before + processes and time.time() < deadline:
            time.sleep(0.1)

    return wait


@contextlib.contextmanager
def deployment(redis_url, *nodes: list[str]):
    """The user's own deployment: Celery workers (one ``DEPLOYMENT_WORKER`` unless ``nodes``
    gives each one's arguments) with events on (-E), as Flower needs; yields once they listen
    for remote control (their pidbox patterns on the broker)."""
    env = {**os.environ, "DEPLOYMENT_REDIS_URL": redis_url}
    nodes = nodes or (DEPLOYMENT_WORKER,)
    subscribed = subscription(redis_url, len(nodes))
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", *node],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for node in nodes
    ]
    try:
        subscribed()
        yield
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)


@contextlib.contextmanager
def recording(redis_url, out, seconds=120):
    """`queuelab record --json` listening to it for ``seconds`` at most; yields the process once
    its event receiver has subscribed (a new pattern on the broker: ``/0.celeryev/*``)."""
    subscribed = subscription(redis_url)
    recorder = subprocess.Popen(
        stoppable(
            [*QUEUELAB, "record", "--redis-url", redis_url, "--duration", str(seconds)]
            + ["--out", str(out), "--json"]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        subscribed()
        yield recorder
    finally:
        if recorder.poll() is None:
            recorder.kill()


def producer(redis_url, sent_events: bool):
    """The deployment's task, sent by an app that emits task-sent events or not."""
    os.environ["DEPLOYMENT_REDIS_URL"] = redis_url
    from tests.live.deployment_app import resize_image

    resize_image.app.conf.task_send_sent_event = sent_events
    return resize_image


def wait_done(client, tasks: int) -> None:
    deadline = time.time() + 30
    while client.llen("deployment:done") < tasks and time.time() < deadline:
        time.sleep(0.1)


def stopped(recorder, sig) -> tuple[str, str]:
    """Stop the recorder as a user would (Ctrl-C, or a supervisor's SIGTERM); its output."""
    time.sleep(0.5)  # the last events reach the receiver
    recorder.send_signal(sig)
    return recorder.communicate(timeout=60)


def send_work(client, redis_url):
    """Send TASKS resize jobs at RATE a second, 15 % failing, and wait until they are done.

    Returns the drawn failures and each task's send time by id."""
    resize_image = producer(redis_url, sent_events=True)
    rng = np.random.default_rng(5)
    seconds = rng.uniform(0.05, 0.3, TASKS)
    fails = rng.random(TASKS) < 0.15
    sent = {}
    start = time.time()
    for i in range(TASKS):
        time.sleep(max(0.0, start + i / RATE - time.time()))
        sent[resize_image.apply_async((float(seconds[i]), bool(fails[i]))).id] = time.time()
    wait_done(client, TASKS)
    return fails, sent


def observed_sojourns(client, sent) -> list[float]:
    """Each task's time from send to done, as the deployment saw it."""
    rows = (row.decode().split("|") for row in client.lrange("deployment:done", 0, -1))
    return [float(t) - sent[i] for i, t in rows]


@pytest.mark.live
@pytest.mark.alone
def test_record_a_deployment_and_replay_it(redis_url, tmp_path, no_leftovers):
    client = redis.Redis.from_url(redis_url)
    client.delete("deployment:done", "untouched")
    client.rpush("untouched", *[f"m{i}" for i in range(5)])  # a queue nobody consumes
    out = tmp_path / "recorded.toml"
    with deployment(redis_url):
        with recording(redis_url, out) as recorder:
            fails, sent = send_work(client, redis_url)
            stdout, stderr = stopped(recorder, signal.SIGINT)
        assert recorder.returncode == 130, stderr  # interrupted, and what it heard is written
        assert json.loads(stdout)["tasks"] == TASKS and "warning" not in stderr
        assert json.loads(stdout)["arrivals_from"] == "task-sent"
        observed = observed_sojourns(client, sent)
        without_sent_events(redis_url, client, tmp_path / "received.toml")

    sc = scenario.load(out)
    arrivals = np.loadtxt(tmp_path / "recorded-arrivals.csv", skiprows=1)
    sends = np.sort(list(sent.values()))
    # the producer's send times, spaced as sent: the test's clock reading after each send lags
    # the event's by a few ms, more when the machine is busy (0.045 s seen), so the median
    assert np.median(np.abs(np.diff(arrivals) - np.diff(sends))) < 0.01
    assert sc.run.tasks == TASKS and sc.workers.count == 1 and sc.workers.concurrency == 2
    assert sc.workers.prefetch_multiplier == 2 and sc.ack.late  # read from the workers
    assert sc.failures.probability == pytest.approx(fails.mean(), abs=0.02)
    assert sc.retry.max_retries == 0  # the deployment did not retry
    written = tomllib.loads(out.read_text())
    assert "seed" not in written and set(written["retry"]) == {"max_retries"}
    assert "#   retry.jitter = true" in out.read_text()  # not observed: an assumed default
    stated = re.search(r"# observed: ([\d.]+) tasks/s", out.read_text())
    assert float(stated[1]) == pytest.approx(RATE, rel=0.1)  # the rate it saw, stated
    trace = simulate(sc)
    s = summarize(trace, sc.workers.slots)
    assert s.tasks_submitted == TASKS
    # failures are drawn afresh at the recorded rate: within 3 binomial standard deviations
    sigma = np.sqrt(TASKS * sc.failures.probability * (1 - sc.failures.probability))
    assert abs(s.tasks_failed - fails.sum()) <= 3 * sigma
    # p50 sojourn: the recorded scenario replays the deployment within 25 %
    assert float(np.median(sojourns(trace))) == pytest.approx(np.median(observed), rel=0.25)
    assert client.llen("untouched") == 5  # recording read events only


def without_sent_events(redis_url, client, out) -> None:
    """A producer without task-sent events: arrivals are reservations, and the recording says so.
    A burst of 16 on 2 slots × prefetch 2: the last 12 wait in Redis, unseen by the events; 14
    start when a slot frees, so the hand-over between back-to-back tasks is measured."""
    resize_image = producer(redis_url, sent_events=False)
    client.delete("deployment:done")
    with recording(redis_url, out) as recorder:
        for _ in range(16):
            resize_image.apply_async((0.2, False))
        wait_done(client, 16)
        stdout, stderr = stopped(recorder, signal.SIGTERM)
    assert recorder.returncode == 130, stderr
    assert json.loads(stdout)["arrivals_from"] == "task-received"
    assert "warning: no task-sent events" in stderr
    # the 4 beyond 2 slots × prefetch 2 waited in Redis: sampled, a wait is estimated
    wait = re.search(r"LLEN samples of deployment put that wait at ([\d.e-]+) s", stderr)
    assert wait and float(wait[1]) > 0, stderr
    assert "# no task-sent events: arrivals are task-received times" in out.read_text()
    recorded = scenario.load(out)
    assert recorded.run.tasks == 16
    # late ack: test_celery_costs.py measured medians of 17-25 ms on a loaded host and pins
    # 4-60 ms; milliseconds here too, not nothing and not a tenth of a second
    assert 0.001 < recorded.overhead.handover_late < 0.1, out.read_text()
    assert re.search(
        r"# hand-over: a slot started a waiting task a mean [\d.]+ ms", out.read_text()
    )


def test_arrivals_are_send_times_where_heard_and_reservations_otherwise():
    """Task c was sent before the listening began: only its reservation was heard."""
    recording = Recording()
    for kind, uuid, t, retries in [
        ("task-received", "c", 0.5, 0),
        ("task-sent", "a", 1.0, 0),
        ("task-sent", "b", 1.2, 0),
        ("task-received", "a", 1.1, 0),
        ("task-received", "b", 3.0, 0),  # waited in Redis beyond the prefetch window
        ("task-sent", "a", 9.0, 1),  # a retry's send, not an arrival
    ]:
        recording.on_event({"type": kind, "uuid": uuid, "timestamp": t, "retries": retries})
    assert recording.arrivals() == ([0.5, 1.0, 1.2], 1)
    assert recording.reservations() == (["c"], [])  # reserved before a's: sent before listening
    source, (warning,) = arrival_source(1, 2, 5, "an estimate")
    assert source == "both" and "2 of 5" in warning and "(an estimate)" in warning
    assert arrival_source(0, 0, 3, "") == ("task-sent", ())
    assert arrival_source(1, 0, 3, "") == ("both", ())  # started mid-stream: no warning


def test_only_tasks_reserved_without_a_send_are_warned_of_with_their_own_wait(tmp_path):
    """A recording started mid-stream: task c was in flight, then 10 tasks sent with task-sent
    and 5 by a producer without, while 6 messages waited in Redis. It warned "6 of 16 arrivals
    are task-received times" and put the wait at the queue's mean over all 16 tasks' span; c is
    now a note, and the wait is the one while the 5 arrived (6 messages at 2 tasks/s: 3 s)."""
    recording = Recording()
    events = [("task-received", "c", 0.5), ("task-started", "c", 0.6)]
    events += [("task-succeeded", "c", 0.7)]
    for i in range(10):
        events += [("task-sent", f"s{i}", 1 + i * 0.1), ("task-received", f"s{i}", 1.01 + i * 0.1)]
    events += [("task-received", f"u{i}", 3 + i * 0.5) for i in range(5)]
    for kind, uuid, t in events:
        event = {"type": kind, "uuid": uuid, "timestamp": t, "hostname": "a@h", "name": "job"}
        recording.on_event(event | {"runtime": 0.1})
    assert recording.reservations() == (["c"], ["u0", "u1", "u2", "u3", "u4"])
    sampler = QueueSampler(Celery("sampled", set_as_current=False), "redis://127.0.0.1:1")
    sampler.queues = ["jobs"]
    sampler.samples = [(t / 10, 0 if t < 30 else 6) for t in range(0, 51, 2)]
    out = tmp_path / "rec.toml"
    recorded = recording.write(out, settings_from({}, {}), sampler)
    (warning,) = recorded.warnings
    assert warning.startswith("5 of 16 arrivals are task-received times"), warning
    assert "put that wait at 3 s a task" in warning, warning
    header = " ".join(out.read_text().replace("# ", "").split())
    assert "1 task sent before listening began: its arrival is the task-received time" in header
    assert recorded.arrivals_from == "both"


def test_each_task_name_has_its_own_failures_and_retry_countdown():
    """A retry reserved before its task-retried event arrived still gives its countdown."""
    recording = Recording()
    for kind, uuid, t, extra in [
        ("task-sent", "a", 0.0, {"name": "report", "queue": "reports"}),
        ("task-sent", "b", 0.1, {"name": "resize", "routing_key": "images"}),
        ("task-received", "a", 0.2, {"name": "report"}),
        ("task-started", "a", 0.3, {}),
        ("task-received", "a", 1.0, {"name": "report", "retries": 1, "eta": ISO_AT_3}),
        ("task-retried", "a", 1.1, {}),
        ("task-received", "b", 0.2, {"name": "resize"}),
        ("task-started", "b", 0.3, {}),
        ("task-failed", "b", 0.5, {"runtime": 0.2}),
    ]:
        recording.on_event({"type": kind, "uuid": uuid, "timestamp": t, **extra})
    arrived, _ = recording.first_arrivals()
    report, resize = recording.seen("report", arrived), recording.seen("resize", arrived)
    assert (report.queues, report.failed, report.max_retries) == ({"reports": 1}, 1, 1)
    assert report.countdowns == pytest.approx((1.9,))
    assert (resize.queues, resize.failed, resize.max_retries, resize.runtimes) == (
        {"images": 1},
        1,
        0,
        (0.2,),
    )


@dataclass(frozen=True)
class TwoKinds:
    """What ``send_two_kinds`` sent: each task name's attempts' sleeps (a retried report sleeps
    again), the resizes that failed and the reports that were retried."""

    slept: dict[str, list[float]]
    failed: int
    retried: int


def send_two_kinds(client, redis_url) -> TwoKinds:
    """30 tasks at 7.5 a second: every third a report (0.2-0.3 s, 4 of 10 failing once and
    retried), the rest image resizes (0.05-0.15 s, 6 of 20 failing, never retried); waits until
    they are done."""
    resize_image = producer(redis_url, sent_events=True)
    from tests.live.deployment_app import send_report

    rng = np.random.default_rng(7)
    slept = {send_report.name: [], resize_image.name: []}
    start = time.time()
    for i in range(30):
        time.sleep(max(0.0, start + i / 7.5 - time.time()))
        if i % 3 == 2:
            seconds, fails = float(rng.uniform(0.2, 0.3)), i % 9 == 2
            send_report.delay(seconds, fails)
            slept[send_report.name] += [seconds] * (1 + fails)
        else:
            seconds = float(rng.uniform(0.05, 0.15))
            resize_image.delay(seconds, i % 4 == 0)
            slept[resize_image.name].append(seconds)
    wait_done(client, 30)
    failed = sum(i % 4 == 0 for i in range(30) if i % 3 != 2)
    return TwoKinds(slept, failed, sum(i % 9 == 2 for i in range(30)))


def assert_own_runtimes(kind, slept: list[float], others: list[float]) -> None:
    """A recorded type's runtimes are its own attempts': one each, each at least the attempt's
    sleep (sorted, the k-th runtime is at least the k-th sleep), and the sleep plus Celery's
    own time, so their median is nearer the type's sleeps' median than the other type's. A
    busy host stretches that time for some attempts, not most (the resizes' mean was 37-51 ms
    over their 0.1 s at load 7-14 on 2 cores, their median 13-35 ms): half the two medians'
    gap (74 ms) holds a stretched median, and runtimes of the other type or waits counted in
    fail."""
    ran = np.sort(np.loadtxt(kind.service.file, skiprows=1, ndmin=1))
    assert len(ran) == len(slept) and (ran >= np.sort(slept)).all(), (kind.name, ran)
    middle = np.median(ran)
    assert abs(middle - np.median(slept)) < abs(middle - np.median(others)), (kind.name, ran)


@pytest.mark.live
@pytest.mark.alone
def test_two_task_names_on_two_queues_replay_as_two_types(redis_url, tmp_path, no_leftovers):
    """Two nodes, each consuming one queue: two task types with their own service, failures
    and retries, and two pools. Wall time ~20 s."""
    client = redis.Redis.from_url(redis_url)
    client.delete("deployment:done")
    out = tmp_path / "two.toml"
    images, reports = node("images@test", "deployment", 2), node("reports@test", "reports", 1)
    with deployment(redis_url, images, reports), recording(redis_url, out) as recorder:
        sent = send_two_kinds(client, redis_url)
        stdout, stderr = stopped(recorder, signal.SIGINT)
    assert recorder.returncode == 130, stderr
    assert json.loads(stdout)["by_task"]["deployment.send_report"]["queue"] == "reports"

    sc = scenario.load(out)
    resize, report = sc.task_types
    assert (resize.name, resize.queue, report.name, report.queue) == (
        "deployment.resize_image",
        "deployment",
        "deployment.send_report",
        "reports",
    )
    assert (resize.share, report.share) == pytest.approx((20 / 30, 10 / 30))
    for kind, other in ((resize, report), (report, resize)):
        assert_own_runtimes(kind, sent.slept[kind.name], sent.slept[other.name])
    assert resize.failures.probability == pytest.approx(sent.failed / 20)
    assert resize.retry.max_retries == 0  # its failures were never retried
    assert report.failures.probability == pytest.approx(sent.retried / (10 + sent.retried))
    assert report.retry.max_retries == 1
    assert report.retry.countdown == pytest.approx(0.3, abs=0.1)
    pools = {p.name: (p.queues, p.workers.count, p.workers.concurrency) for p in sc.pools}
    assert pools == {"deployment": (("deployment",), 1, 2), "reports": (("reports",), 1, 1)}
    assert {p.workers.prefetch_multiplier for p in sc.pools} == {2}
    assert "#   workers.count" not in out.read_text()  # the pools hold it: not assumed

    simulated = subprocess.run(
        [*QUEUELAB, "simulate", str(out), "--json"], capture_output=True, text=True, check=True
    )
    by_task = json.loads(simulated.stdout)["by_task"]
    assert {name: figures["tasks"] for name, figures in by_task.items()} == pytest.approx(
        {"deployment.resize_image": 20, "deployment.send_report": 10}, abs=8
    )  # each arrival's type drawn by its share
    assert set(json.loads(simulated.stdout)["by_pool"]) == {"deployment", "reports"}


@pytest.mark.live
def test_a_pool_started_with_its_own_prefetch_multiplier_is_recorded_with_it(
    redis_url, tmp_path, no_leftovers
):
    """The app says worker_prefetch_multiplier = 2; the reports node runs with
    `--prefetch-multiplier 1` and holds a report due in 5 minutes (an ETA request, which
    raises its prefetch count by one) when the recording ends. Wall time ~15 s."""
    client = redis.Redis.from_url(redis_url)
    client.delete("deployment:done")
    out = tmp_path / "prefetch.toml"
    images = node("images@test", "deployment", 2)
    reports = [*node("reports@test", "reports", 1), "--prefetch-multiplier", "1"]
    with deployment(redis_url, images, reports), recording(redis_url, out) as recorder:
        send_two_kinds(client, redis_url)
        producer(redis_url, True).app.send_task(
            "deployment.send_report", (0.1, False), queue="reports", countdown=300
        )
        stopped(recorder, signal.SIGINT)
    prefetch = {p.name: p.workers.prefetch_multiplier for p in scenario.load(out).pools}
    assert prefetch == {"deployment": 2, "reports": 1}


@pytest.mark.live
def test_tasks_sent_once_listening_is_said_are_all_heard(tmp_path, no_leftovers):
    """The "listening" line came before the event receiver had subscribed (its apps made, the
    nodes asked for their queues, kombu's PSUBSCRIBE sent on its first poll): a loaded host
    lost 11 of 340 tasks, the first ones read from their task-received. Tasks sent the moment
    the line appears are now all heard from their task-sent."""
    out = tmp_path / "recorded.toml"
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        sender = Celery("sender", broker=url, set_as_current=False)
        sender.conf.task_send_sent_event = True
        with deployment(url):
            recorder = subprocess.Popen(
                stoppable(
                    [*QUEUELAB, "record", "--redis-url", url, "--duration", "120"]
                    + ["--out", str(out), "--json"]
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                said = recorder.stderr.readline()
                for _ in range(10):
                    sender.send_task("deployment.resize_image", (0.05, False), queue="deployment")
                wait_done(client, 10)
                stdout, stderr = stopped(recorder, signal.SIGINT)
            finally:
                if recorder.poll() is None:
                    recorder.kill()
        sender.close()
    assert said.startswith(f"listening to task events on {url}"), said
    assert recorder.returncode == 130, stderr
    assert json.loads(stdout)["tasks"] == 10 and json.loads(stdout)["arrivals_from"] == "task-sent"


@pytest.mark.live
def test_redis_lost_mid_recording_writes_what_was_heard(tmp_path, no_leftovers):
    """The broker killed while recording: what was heard until then is written, with one line
    saying so, exit 2. The event listener died with a traceback, the recording sat out the rest
    of --duration deaf, then lost everything it heard to a second traceback."""
    out = tmp_path / "recorded.toml"
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        pid = client.info("server")["process_id"]
        sender = Celery("sender", broker=url, set_as_current=False)
        sender.conf.task_send_sent_event = True
        with deployment(url), recording(url, out) as recorder:
            for _ in range(10):
                sender.send_task("deployment.resize_image", (0.05, False), queue="deployment")
            wait_done(client, 10)
            time.sleep(0.5)  # the last events reach the recorder
            os.kill(pid, signal.SIGKILL)
            stdout, stderr = recorder.communicate(timeout=60)
        sender.close()
    assert recorder.returncode == 2, stderr
    assert f"lost Redis at {url} while listening" in stderr, stderr
    assert "wrote what was heard until then" in stderr and "Traceback" not in stderr
    assert json.loads(stdout)["tasks"] == 10
    assert scenario.load(out).run.tasks == 10


@pytest.mark.live
@pytest.mark.parametrize("sent_events", [True, False])
def test_workers_without_task_events_are_named_as_the_cause_with_the_remedy(
    tmp_path, no_leftovers, sent_events
):
    """Workers started without -E: the producer's task-sent events, or the nodes' heartbeats
    (sent without -E too, with a count of the tasks taken), show tasks ran. It said "heard
    fewer than two tasks: record for longer", which no length of recording mends, and only
    once --duration was over."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        sender = Celery("sender", broker=url, set_as_current=False)
        sender.conf.task_send_sent_event = sent_events
        deaf = node("deaf@test", "deployment", 2, events=False)
        with deployment(url, deaf), recording(url, tmp_path / "recorded.toml") as recorder:
            time.sleep(2.5)  # a heartbeat (every 2 s) before the tasks: its count is the base
            for _ in range(10):
                sender.send_task("deployment.resize_image", (0.05, False), queue="deployment")
            wait_done(client, 10)
            time.sleep(2.5)  # a heartbeat (every 2 s) after the tasks
            _, stderr = stopped(recorder, signal.SIGINT)
        sender.close()
    assert recorder.returncode == 2, stderr
    assert "but no task event from a worker" in stderr, stderr
    assert ("heard 10 tasks sent" in stderr) == sent_events, stderr
    # said while listening too, as soon as a heartbeat showed a task taken: not only at the end
    assert "queuelab: warning: heard" in stderr and "(Ctrl-C ends the recording)" in stderr
    assert "Start them with -E" in stderr and "control enable_events" in stderr
    assert "Traceback" not in stderr


@pytest.mark.live
def test_a_recording_whose_out_folder_went_away_is_written_to_a_temp_folder(
    tmp_path, monkeypatch, no_leftovers
):
    """--out's folder removed while listening: the recording was lost with an error naming
    the file; it is now written, data files beside it, under a new temp folder, said, exit 2."""
    (tmp_path / "gone").mkdir()
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # the recorder's temp dir
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        sender = Celery("sender", broker=url, set_as_current=False)
        sender.conf.task_send_sent_event = True
        with deployment(url), recording(url, tmp_path / "gone" / "recorded.toml") as recorder:
            for _ in range(10):
                sender.send_task("deployment.resize_image", (0.05, False), queue="deployment")
            wait_done(client, 10)
            shutil.rmtree(tmp_path / "gone")
            stdout, stderr = stopped(recorder, signal.SIGINT)
        sender.close()
    assert recorder.returncode == 2, stderr
    saved = Path(json.loads(stdout)["out"])
    assert saved.parent.parent == tmp_path / "tmp" and saved.name == "recorded.toml"
    assert f"could not write {tmp_path / 'gone'}" in stderr and "Traceback" not in stderr
    assert f"wrote it to {saved} instead" in stderr
    assert scenario.load(saved).run.tasks == 10  # its data files found beside it


@pytest.mark.live
def test_a_redis_out_of_memory_is_said_as_such_with_its_remedy(tmp_path, no_leftovers):
    """At its maxmemory (policy noeviction) Redis refuses the listener's queue: that read 'lost
    Redis ... while listening', of a Redis that was up."""
    with private_redis() as url:
        redis.Redis.from_url(url).config_set("maxmemory", 1)  # every write refused
        r = subprocess.run(
            [*QUEUELAB, "record", "--redis-url", url, "--duration", "3"]
            + ["--out", str(tmp_path / "recorded.toml")],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 2, r.stderr
    assert f"Redis at {url} is out of memory while listening (" in r.stderr
    assert "free memory there or raise its maxmemory" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.live
def test_a_frozen_redis_ends_the_recording_instead_of_hanging_it(tmp_path, no_leftovers):
    """The broker stopped (SIGSTOP: a paused VM, a network that drops packets) answers nothing
    and closes nothing: asking the nodes for their settings then hung for good, Ctrl-C
    included. Its commands now give up: the recording ends, here with nothing heard."""
    out = tmp_path / "recorded.toml"
    with private_redis() as url:
        pid = redis.Redis.from_url(url).info("server")["process_id"]
        with recording(url, out, seconds=5) as recorder:
            os.kill(pid, signal.SIGSTOP)
            try:
                _, stderr = recorder.communicate(timeout=120)
            finally:
                os.kill(pid, signal.SIGCONT)
    assert recorder.returncode == 2, stderr
    assert "heard no Celery event" in stderr and "Traceback" not in stderr


def test_the_hand_over_is_measured_between_a_slots_end_and_a_waiting_tasks_start():
    """One slot: b arrived while a ran and started 20 ms after a's end event; c came after b
    ended and found the slot idle; b's retry waited out a countdown."""
    recording = Recording()
    for kind, uuid, t, extra in [
        ("task-sent", "a", 0.0, {}),
        ("task-started", "a", 0.1, {"hostname": "n1"}),
        ("task-sent", "b", 0.2, {}),
        ("task-succeeded", "a", 0.6, {"runtime": 0.5}),
        ("task-started", "b", 0.62, {"hostname": "n1"}),
        ("task-retried", "b", 1.05, {"runtime": 0.4}),
        ("task-sent", "c", 2.0, {}),
        ("task-started", "c", 2.01, {"hostname": "n1"}),
        ("task-succeeded", "c", 2.46, {"runtime": 0.45}),
        ("task-started", "b", 2.47, {"hostname": "n1"}),
        ("task-succeeded", "b", 2.6, {"runtime": 0.1}),
    ]:
        recording.on_event({"type": kind, "uuid": uuid, "timestamp": t, **extra})
    arrived, _ = recording.first_arrivals()
    gaps, lags = recording.slot_waits(arrived)
    assert gaps == pytest.approx([0.02])
    assert lags == pytest.approx([0.1, 0.01])  # a's and c's sends to their starts
    note = costs_note(gaps, lags)
    assert "1 tasks waited for a slot, too few" in note and "2 sent tasks found" in note


def test_a_rate_limited_tasks_wait_for_its_token_is_no_hand_over():
    """One slot; a and b of a task limited to 2 a second sent at once, b started 0.5 s after
    a's end, when its token came: that read as a 0.5 s hand-over; c, unlimited, 10 ms."""
    recording = Recording()
    for kind, uuid, t, extra in [
        ("task-sent", "a", 0.0, {"name": "api"}),
        ("task-sent", "b", 0.0, {"name": "api"}),
        ("task-started", "a", 0.01, {"hostname": "n1"}),
        ("task-sent", "c", 0.02, {"name": "mail"}),
        ("task-succeeded", "a", 0.03, {"runtime": 0.02}),
        ("task-started", "c", 0.04, {"hostname": "n1"}),
        ("task-succeeded", "c", 0.05, {"runtime": 0.01}),
        ("task-started", "b", 0.51, {"hostname": "n1"}),
        ("task-succeeded", "b", 0.53, {"runtime": 0.02}),
    ]:
        recording.on_event({"type": kind, "uuid": uuid, "timestamp": t, **extra})
    arrived, _ = recording.first_arrivals()
    gaps, lags = recording.slot_waits(arrived, held=["api"])
    assert gaps == pytest.approx([0.01]) and lags == pytest.approx([])


def test_an_autoscaling_node_is_recorded_as_a_scenario_that_loads(tmp_path):
    """``--autoscale 4,1`` sizes the pool and no concurrency is read, so a scenario giving both
    is refused: the recording wrote both and could not read its own file back."""
    recording = Recording()
    for i in range(3):
        for kind, t, extra in [
            ("task-sent", 0.0, {"name": "job"}),
            ("task-received", 0.01, {"name": "job"}),
            ("task-started", 0.02, {}),
            ("task-succeeded", 0.2, {"runtime": 0.18}),
        ]:
            event = {"type": kind, "uuid": str(i), "timestamp": i + t, "hostname": "a@h"}
            recording.on_event(event | extra)
    node = {
        "pool": {"implementation": "celery.concurrency.prefork:TaskPool", "max-concurrency": 1},
        "prefetch_count": 8,
        "broker": {"transport": "redis", "transport_options": {}},
        "autoscaler": {"max": 4, "min": 1, "current": 1, "qty": 0},
    }
    recorded = recording.write(tmp_path / "rec.toml", settings_from({"a@h": node}, {}), None)
    workers = recorded.scenario.workers
    assert (workers.autoscale_max, workers.autoscale_min, workers.slots) == (4, 1, 4)
    assert "so the 4 slots were" in (tmp_path / "rec.toml").read_text()


def test_task_names_that_are_one_scenario_name_are_kept_apart(tmp_path):
    """``shop.ä`` and ``shop.ö`` both became ``shop._``: the second's service file overwrote
    the first's, and the scenario, refused for the name used twice, lost the recording. Each
    is now a type of its own, with its own runtimes, and the header says which is which."""
    recording = Recording()
    for i in range(20):
        name, runtime = [("shop.ä", 0.1), ("shop.ö", 0.3), ("shop._", 0.5)][i % 3]
        for kind, t, extra in [
            ("task-sent", 0.0, {"name": name, "queue": "q"}),
            ("task-started", 0.01, {}),
            ("task-succeeded", 0.01 + runtime, {"runtime": runtime}),
        ]:
            event = {"type": kind, "uuid": str(i), "timestamp": i + t, "hostname": "a@h"}
            recording.on_event(event | extra)
    out = tmp_path / "rec.toml"
    recorded = recording.write(out, settings_from({}, {}), None)
    service = {
        t.name: float(np.loadtxt(t.service.file, skiprows=1).mean())
        for t in recorded.scenario.task_types
    }
    assert service == pytest.approx({"shop._": 0.5, "shop._-2": 0.1, "shop._-3": 0.3})
    assert "written as: 'shop.ä' as shop._-2, 'shop.ö' as shop._-3" in out.read_text()


def test_queue_names_that_are_one_scenario_name_are_kept_apart(tmp_path):
    """Two nodes consuming ``q.ä`` and ``q.ö``, both ``q._`` to the scenario: the two task
    types were written on one queue, and the two pools as one queue's (``q._`` twice), so the
    replay let either node take either task. Each queue now keeps a name of its own, shared by
    its tasks and its pool, as task names are (``scenario_names``), and the header says so."""
    recording = Recording()
    for i in range(20):
        name, queue = [("shop.a", "q.ä"), ("shop.o", "q.ö")][i % 2]
        host = f"{queue[-1]}@h"
        for kind, t, extra in [
            ("task-sent", 0.0, {"name": name, "queue": queue}),
            ("task-started", 0.01, {"hostname": host}),
            ("task-succeeded", 0.11, {"runtime": 0.1, "hostname": host}),
        ]:
            recording.on_event({"type": kind, "uuid": str(i), "timestamp": i + t, **extra})
    stats = {
        "pool": {"implementation": "celery.concurrency.prefork:TaskPool", "max-concurrency": 1},
        "prefetch_count": 4,
        "broker": {"transport": "redis", "transport_options": {}},
    }
    nodes = {"ä@h": ("q.ä",), "ö@h": ("q.ö",)}
    settings = settings_from({node: stats for node in nodes}, {}, nodes)
    out = tmp_path / "rec.toml"
    sc = recording.write(out, settings, None).scenario
    assert {t.name: t.queue for t in sc.task_types} == {"shop.a": "q._", "shop.o": "q._-2"}
    assert {p.name: p.queues for p in sc.pools} == {"q._": ("q._",), "q._-2": ("q._-2",)}
    assert "queue names the scenario refuses, written as: 'q.ä' as q._, 'q.ö' as q._-2" in (
        " ".join(out.read_text().replace("# ", "").split())
    )


@pytest.mark.live
def test_rate_and_time_limits_are_recorded_and_not_read_as_celerys_costs(tmp_path, no_leftovers):
    """A burst of 12 calls of a task limited to 5 a second on a node of 2 slots: the worker
    holds each for its token, 0.2 s apart. The recording left the limit out (its replay had
    them all start at once) and read the token waits as Celery's hand-over (0.2 s, where a
    quiet host's is a few ms), slowing every other task of the replay. An export with a soft
    time limit is written with it, and the failures the limit made are not counted again as
    the failure probability (the model makes them from the runtimes, which reach the limit)."""
    out = tmp_path / "recorded.toml"
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        sender = Celery("sender", broker=url, set_as_current=False)
        sender.conf.task_send_sent_event = True
        with deployment(url), recording(url, out) as recorder:
            for seconds in (0.05, 0.5, 0.05, 0.5, 0.05, 0.5):
                sender.send_task("deployment.export", (seconds,), queue="deployment")
            wait_done(client, 6)
            time.sleep(1)  # the last export's limit
            for _ in range(12):
                sender.send_task("deployment.call_api", queue="deployment")
            wait_done(client, 18)
            stdout, stderr = stopped(recorder, signal.SIGINT)
        sender.close()
    assert recorder.returncode == 130, stderr
    types = {t.name: t for t in scenario.load(out).task_types}
    assert types["deployment.call_api"].rate_limit == "5/s"
    export = types["deployment.export"]
    assert (export.soft_time_limit, export.time_limit) == (0.3, 0.6)
    assert export.failures.probability == 0.0  # its 3 failures were the soft limit's
    overhead = tomllib.loads(out.read_text()).get("overhead", {})
    assert overhead.get("handover_late", 0.0) < 0.1, overhead  # no token's wait in it
