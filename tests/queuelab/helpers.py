"""Running the queuelab command as a user does, for the tests of its subcommands."""

import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import stoppable


def queuelab(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "queuelab.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def as_a_user(command: list[str]) -> list[str]:
    """``command`` run so that a file's mode binds it as it binds a user: root writes in a
    read-only folder (CAP_DAC_OVERRIDE), so a test running as root drops that capability."""
    if os.geteuid():
        return command
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]


def env() -> dict[str, str]:
    """The environment with this checkout importable from another working directory."""
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}


def stopped_after(args: list[str], done: int, stop: Callable[[subprocess.Popen], None]):
    """``queuelab ARGS`` in a session of its own, its stderr a terminal so its progress bar
    counts each finished run; ``stop(proc)`` once the bar shows ``done`` of them (finished work,
    not a guessed sleep). Returns (exit code, stdout, stderr)."""
    main, side = pty.openpty()
    proc = subprocess.Popen(
        stoppable([sys.executable, "-m", "queuelab.cli", *args]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=side,
        text=True,
        start_new_session=True,
    )
    os.close(side)
    err, stopped = b"", False
    try:
        while True:
            try:
                chunk = os.read(main, 4096) if select.select([main], [], [], 120)[0] else b""
            except OSError:  # EIO: the command and its children closed the terminal
                break
            assert chunk, f"no progress for 120 s: {err!r}"
            err += chunk
            counts = re.findall(rb"(\d+)/\d+", err)
            if not stopped and counts and int(counts[-1]) >= done:
                stop(proc)
                stopped = True
        out = proc.communicate(timeout=120)[0]
    finally:
        os.close(main)
        proc.kill()
        proc.wait()
    assert stopped, f"it ended before {done} runs finished: {err!r}"
    return proc.returncode, out, err.decode(errors="replace").replace("\r\n", "\n")
