"""Shared fixtures and Hypothesis profiles.

``--hypothesis-profile=thorough`` runs many more examples than the default ``ci`` profile.
"""

from __future__ import annotations

import contextlib
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --- real processes: a session redis-server, and a check that no process outlives the tests ---

import pytest  # noqa: E402


def our_processes() -> list[str]:
    """Command lines of Celery workers and redis-servers started by queuelab (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if (
            "live.worker_main" in cmd
            or "streamlit run" in cmd
            or ("redis-server" in cmd and "127.0.0.1:" in cmd)
        ):
            found.append(f"{entry}: {cmd.strip()}")
    return found


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` in the process tree (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` that still run (zombies count as gone)."""
    left = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    left.add(pid)
        except OSError:
            continue
    return left


@pytest.fixture(scope="session")
def redis_url():
    """A real redis-server on a free loopback port for the whole session, stopped at the end."""
    from live.redis_server import private_redis

    with private_redis() as url:
        yield url


@pytest.fixture
def no_leftovers():
    """Fails the test if it leaves a worker or redis-server process running."""
    before = set(our_processes())
    yield
    import time

    deadline = time.monotonic() + 10
    while (left := set(our_processes()) - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes left behind: {sorted(left)}"


@contextlib.contextmanager
def running_streamlit():
    """``streamlit run app.py`` on a free loopback port; yields (URL, process), stops it after."""
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    from live.redis_server import free_port, stop_process

    port = free_port()
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
        + ["--server.address", "127.0.0.1", "--server.headless", "true"]
        + ["--browser.gatherUsageStats", "false"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("streamlit did not start") from None
                time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            stop_process(proc, grace=10)


@pytest.fixture
def streamlit_app(no_leftovers):
    """The app on a free loopback port; yields its URL, stops it after."""
    with running_streamlit() as (url, _):
        yield url
