"""Processes and folders of a run die with the process that started them.

A run's redis-server, Celery nodes and temp folders belong to the ``queuelab`` (or Streamlit)
process that made them. Stopped cleanly, it removes them itself; killed (SIGKILL, a closed
terminal), it cannot, so: redis-server gets a parent-death signal from the kernel, every Celery
node watches its parent and kills its own process group (main process and pool) when the parent
is gone, and each temp folder carries its owner's pid so the next run removes folders whose
owner is dead.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded here: a forked child only calls it
except (OSError, AttributeError):  # not Linux: the node watchdogs and folder sweep still work
    _prctl = None


def die_with_parent() -> None:
    """``preexec_fn`` for a child that cannot watch for itself: SIGTERM when we die."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


PARENT = "QUEUELAB_PARENT"  # in a Celery node's environment: the pid of the process it serves


def parent_env() -> dict[str, str]:
    """The environment that names this process as the parent of a node started now."""
    return {PARENT: str(os.getpid())}


def watch_parent(interval: float = 0.5) -> None:
    """In a Celery node: kill the node's whole process group once its parent has gone.

    The node runs in a session of its own (see ``live.workers``), so the group is the node's
    main process and its pool children, and nothing else. The parent is the one its environment
    names (``parent_env``): this runs once Celery is imported, seconds after the start, and a
    parent killed meanwhile is already gone, so ``os.getppid()`` would name its adopter.
    """
    parent = int(os.environ.get(PARENT) or os.getppid())

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(interval)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="queuelab-lifeline", daemon=True).start()


_OWNED = re.compile(r"^queuelab-[a-z]+-(\d+)-")


@contextlib.contextmanager
def workdir(kind: str) -> Iterator[Path]:
    """A temp folder of this process, removed on exit; first removes any whose owner died."""
    sweep_orphans()
    with tempfile.TemporaryDirectory(prefix=f"queuelab-{kind}-{os.getpid()}-") as path:
        yield Path(path)


def sweep_orphans(root: Path | None = None) -> list[Path]:
    """Remove queuelab temp folders whose owning process no longer exists; return them."""
    removed = []
    for path in Path(root or tempfile.gettempdir()).glob("queuelab-*"):
        match = _OWNED.match(path.name)
        if match and path.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
