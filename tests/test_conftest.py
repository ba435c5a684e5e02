"""The ``no_leftovers`` check: it finds what a test left running below it, and nothing else."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from live.redis_server import RedisUnavailable, free_port, ping
from tests.conftest import adopt_orphans, alive, command_line, descendants, leftovers


def gone(pid: int) -> None:
    """Wait until ``pid`` no longer runs (whoever its parent is)."""
    deadline = time.monotonic() + 10
    while alive({pid}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive({pid}), f"{pid} still runs"


@pytest.fixture
def stranger():
    """Starts, on request, a redis-server outside this process's tree, as a developer's own
    Redis or another test session's would be, and stops it after ``no_leftovers`` has looked."""
    started = []

    def start() -> tuple[int, int]:
        port = free_port()
        cmd = f"{shutil.which('redis-server')} --port {port} --bind 127.0.0.1 --save ''"
        adopt_orphans(False)  # the shell exits at once: its child goes to init, not to us
        try:
            shell = subprocess.run(
                ["sh", "-c", f"{cmd} --appendonly no >/dev/null 2>&1 & echo $!"],
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            adopt_orphans()
        started.append(pid := int(shell.stdout))
        deadline = time.monotonic() + 10
        while True:
            try:
                ping(f"redis://127.0.0.1:{port}/0", timeout=0.5)
                return pid, port
            except RedisUnavailable:
                assert time.monotonic() < deadline, "the stranger redis-server did not start"
                time.sleep(0.05)

    yield start
    for pid in started:
        os.kill(pid, signal.SIGTERM)
        gone(pid)


@pytest.mark.live
def test_a_redis_server_started_elsewhere_during_the_test_is_not_a_leftover(stranger, no_leftovers):
    """The old check counted every redis-server on 127.0.0.1 that appeared during a test, so a
    parallel session failed this suite; this one is still running when no_leftovers looks."""
    from live.redis_server import private_redis

    before = descendants(os.getpid())
    pid, port = stranger()
    assert f"127.0.0.1:{port}" in command_line(pid)  # what the old check matched
    assert pid not in descendants(os.getpid())
    with private_redis() as url:  # one of ours, stopped before the test ends
        ping(url)
    assert leftovers(before, wait=0) == set()
    assert alive({pid}) == {pid}


def test_a_child_left_running_is_a_leftover():
    before = descendants(os.getpid())
    child = subprocess.Popen(["sleep", "60"])
    try:
        assert leftovers(before, wait=0.5) == {child.pid}
    finally:
        child.kill()
        child.wait()
    assert leftovers(before, wait=0) == set()


def test_a_grandchild_whose_parent_died_is_still_a_leftover():
    """An orphan is adopted by the test process, not lost to init, so it is still found."""
    adopt_orphans()
    before = descendants(os.getpid())
    shell = subprocess.run(
        ["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True
    )
    orphan = int(shell.stdout)
    try:
        assert leftovers(before, wait=0.5) == {orphan}
    finally:
        os.kill(orphan, signal.SIGKILL)
        os.waitpid(orphan, 0)  # adopted, so ours to reap
    assert leftovers(before, wait=0) == set()


# an app test, then a test that starts processes (spawn) the way a sweep does
AFTER_AN_APP_TEST = """
import multiprocessing

from streamlit.testing.v1 import AppTest


def test_an_app():
    assert not AppTest.from_string("import streamlit as st; st.write(1)").run().exception


def test_processes_started_after_it():
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert not pool.apply(eval, ("'streamlit' in __import__('sys').modules",))
"""


def test_a_tests_processes_do_not_rerun_an_earlier_tests_streamlit_script(tmp_path):
    """Streamlit's script runner (AppTest) installs its script as ``sys.modules["__main__"]``
    and leaves it there; processes a later test started (spawn) each ran that script again as
    their main module: after an AppTest of app.py, the chart test's 4-run sweep imported
    Streamlit and drew the Explore page in both of its processes, 2.8 s -> 19 s quiet and
    75-111 s beside four busy loops. Each test gets back the main module it started with."""
    (tmp_path / "test_order.py").write_text(AFTER_AN_APP_TEST)
    root = str(Path(__file__).resolve().parents[1])
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider"]
        + ["-q", str(tmp_path / "test_order.py")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": root},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
