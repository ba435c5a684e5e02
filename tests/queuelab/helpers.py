"""Running the queuelab command as a user does, for the tests of its subcommands."""

import os
import subprocess
import sys
from pathlib import Path


def queuelab(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "queuelab.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def env() -> dict[str, str]:
    """The environment with this checkout importable from another working directory."""
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
