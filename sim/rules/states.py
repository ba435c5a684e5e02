"""Task states and the legal moves between them, as Celery reports them.

A task is PENDING once submitted, RECEIVED when a worker reserves its message, STARTED when a slot
runs it, and ends in SUCCESS or FAILURE; a failed attempt that will be retried goes to RETRY and
the next attempt is RECEIVED again. A redelivered message (visibility timeout, crashed worker)
repeats RECEIVED/STARTED with the same attempt.
"""

from __future__ import annotations

from typing import Final

# Final: a compiled build (mypyc) reads a Final constant as a literal, not a module global
PENDING: Final = 0
RECEIVED: Final = 1
STARTED: Final = 2
RETRY: Final = 3
SUCCESS: Final = 4
FAILURE: Final = 5
NAMES = ("PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE")
CODES = {name: code for code, name in enumerate(NAMES)}
TERMINAL = frozenset({SUCCESS, FAILURE})
ENDS_EXECUTION = frozenset({RETRY, SUCCESS, FAILURE})

_NEXT = {
    None: frozenset({PENDING}),
    PENDING: frozenset({RECEIVED}),
    # a message reserved by a worker that dies before running it is received again elsewhere
    RECEIVED: frozenset({RECEIVED, STARTED}),
    # a worker that dies mid-run: the message comes back and is received again
    STARTED: frozenset({RECEIVED, RETRY, SUCCESS, FAILURE}),
    RETRY: frozenset({RECEIVED}),
    SUCCESS: frozenset(),
    FAILURE: frozenset(),
}


def legal_next(state: int | None) -> frozenset[int]:
    """States one delivery of a task may move to from ``state`` (None: not yet submitted)."""
    return _NEXT[state]
