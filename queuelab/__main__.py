"""``queuelab`` and ``python -m queuelab``: the command, its modules imported only once Ctrl-C
is the command's to handle.

``queuelab.cli`` imports NumPy, SimPy and the model, most of a second: a Ctrl-C meanwhile,
before any of its code ran, printed a traceback of the import it cut. Here it ends the command
as one mid-run does. Started with stderr closed, its warnings and errors are dropped, where the
first of them (the progress bar's) failed the run, which printed nothing. A sweep's processes,
which import their parent's main module again, import this one: the model comes with their
first replication.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    if sys.stderr is None:  # started with it closed (2>&-): Python gives no stream at all
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the process's own, as sys.stderr is
    try:
        from queuelab.cli import main as command
    except KeyboardInterrupt:
        print("queuelab: interrupted", file=sys.stderr)
        return 130
    return command()


if __name__ == "__main__":
    sys.exit(main())
