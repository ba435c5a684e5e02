"""Shared fixtures and Hypothesis profiles.

The default ``ci`` profile is deterministic: the same examples on every run and machine
(derandomized, no example database), so a test that passes once passes in CI and a failure
replays. ``--hypothesis-profile=thorough`` explores: many more examples, random each run.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --- real processes: a session redis-server, and a check that no process outlives the tests ---

import pytest  # noqa: E402

WAITING = ("live", "browser", "slow")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with tests that wait on real processes (live, browser) or run long go first, each
    module kept whole: pytest-xdist's workers then share them out while the quick tests fill the
    gaps, where in path order the browser tests (tests/ui, up to a minute each) came last and ran
    on one worker while the others sat idle."""
    waits = {item.module for item in items if any(item.get_closest_marker(m) for m in WAITING)}
    items.sort(key=lambda item: item.module not in waits)


@pytest.fixture(autouse=True)
def main_module_kept():
    """Each test ends with the main module it started with. Streamlit's script runner (AppTest)
    installs the app script as ``sys.modules["__main__"]`` and leaves it there, and the
    processes a later test starts (spawn: a sweep's) each ran that script again as their own
    main module, importing Streamlit and drawing the page in bare mode."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def command_line(pid: int) -> str:
    """The command line of ``pid`` (from /proc), or "" once it has gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


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


def hang_first_node(root: int, wait: float = 60.0) -> int:
    """Freeze (SIGSTOP) the first Celery worker node below ``root`` as soon as it has spawned:
    a node hung in its boot, which never reports ready. Returns its pid (0: none spawned in
    ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if nodes := [pid for pid in descendants(root) if "-m celery" in command_line(pid)]:
            os.kill(min(nodes), signal.SIGSTOP)
            return min(nodes)
        time.sleep(0.01)
    return 0


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_AT_DEFAULT = (
    "import os, signal, sys\n"
    f"for s in {tuple(int(s) for s in STOP_SIGNALS)}: signal.signal(s, signal.SIG_DFL)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


def stoppable(command: list[str]) -> list[str]:
    """``command`` started with Ctrl-C, SIGTERM and SIGHUP at their default disposition, for a
    test that stops it with one of them. A process inherits ignored signals, and queuelab keeps
    one ignored if it started so (as under nohup); pytest run under nohup, or by a shell in the
    background (SIGINT ignored), would otherwise start commands deaf to the signal the test
    sends. A wrapper that execs the command (same pid, session and group) rather than a
    ``preexec_fn``, which can deadlock in a process with threads."""
    return [sys.executable, "-c", _AT_DEFAULT, *command]


@pytest.fixture(scope="session")
def redis_url():
    """A real redis-server on a free loopback port for the whole session, stopped at the end."""
    from live.redis_server import private_redis

    with private_redis() as url:
        yield url


_PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans(adopt: bool = True) -> None:
    """Make this process the parent of any orphan below it (Linux), so a grandchild whose parent
    died stays in our process tree, where ``leftovers`` finds it, instead of going to init."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, int(adopt), 0, 0, 0)


def leftovers(before: set[int], wait: float = 10.0) -> set[int]:
    """Processes below this one, not among ``before``, still running after up to ``wait``
    seconds: what a test started and left behind. Only our own tree counts, so a developer's
    Redis or another test session's workers are never taken for ours."""
    deadline = time.monotonic() + wait
    while (left := alive(descendants(os.getpid()) - before)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def open_connections(client, wait: float = 10.0) -> list[dict]:
    """Connections to ``client``'s Redis other than its own still open after up to ``wait``
    seconds (Redis sees a closed one at its next loop): what a run left open there."""
    deadline = time.monotonic() + wait
    while (
        others := [c for c in client.client_list() if c["id"] != str(client.client_id())]
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    return others


@contextlib.contextmanager
def nothing_left():
    """Fails if a process started inside the block (a worker, a redis-server, anything) still
    runs after it."""
    from multiprocessing import resource_tracker

    adopt_orphans()
    resource_tracker.ensure_running()  # Python's helper for the whole session, not the block's
    before = descendants(os.getpid())
    yield
    left = leftovers(before)
    assert not left, f"processes left behind: {[f'{p}: {command_line(p)}' for p in sorted(left)]}"


@pytest.fixture
def no_leftovers():
    """Fails the test if a process it started (a worker, a redis-server, anything) still runs."""
    with nothing_left():
        yield


@contextlib.contextmanager
def running_streamlit(root=None):
    """``streamlit run app.py`` of the checkout ``root`` (default: this one) on a free loopback
    port, importing that checkout's packages; yields (URL, process), stops it after."""
    import subprocess
    import urllib.request
    from pathlib import Path

    from live.redis_server import free_port, stop_process

    port = free_port()
    root = Path(root or Path(__file__).resolve().parent.parent)
    proc = subprocess.Popen(
        stoppable(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
            + ["--server.address", "127.0.0.1", "--server.headless", "true"]
            + ["--browser.gatherUsageStats", "false"]
        ),
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
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


@pytest.fixture(scope="module")
def module_streamlit():
    """One app server for a module's tests, started once rather than per test (its first
    session imports the app's modules; the later ones find them imported), checked to leave
    nothing when it stops."""
    with nothing_left(), running_streamlit() as (url, _):
        yield url


@pytest.fixture
def streamlit_app(module_streamlit, no_leftovers):
    """The URL of the app server the module's tests share, each in a browser session of its
    own; the test fails if a process it started through the server (a live run's workers)
    still runs after it. The server keeps its latest live run for every session: a test that
    starts one comes after those that must find none."""
    return module_streamlit
