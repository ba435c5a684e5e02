"""A small trace the analysis tests share, whose answers can be worked out by hand."""

import numpy as np

from sim.rules.states import PENDING, RECEIVED, RETRY, STARTED, SUCCESS
from sim.trace import Recorder


def run(**types):
    """Task 0 fails once on w1 and succeeds on w2; 1 succeeds on w1; 2 is still queued; 3 was
    running on w2 when w2 died and is received again by w1, where it still runs."""
    r = Recorder(("w1", "w2"), **types)
    for task, attempt, state, t, worker in [
        (0, 0, PENDING, 0.0, -1),
        (1, 0, PENDING, 0.0, -1),
        (0, 0, RECEIVED, 0.5, 0),
        (0, 0, STARTED, 1.0, 0),
        (1, 0, RECEIVED, 1.0, 0),
        (0, 0, RETRY, 2.0, 0),
        (1, 0, STARTED, 2.0, 0),
        (3, 0, PENDING, 2.0, -1),
        (3, 0, RECEIVED, 2.0, 1),
        (3, 0, STARTED, 2.5, 1),
        (0, 1, RECEIVED, 3.0, 1),
        (1, 0, SUCCESS, 4.0, 0),
        (0, 1, STARTED, 4.0, 1),
        (2, 0, PENDING, 5.0, -1),
        (0, 1, SUCCESS, 6.0, 1),
        (3, 0, RECEIVED, 7.0, 0),
        (3, 0, STARTED, 7.5, 0),
    ]:
        r.add(task, attempt, state, t, worker)
    return r.trace()


def two_types() -> dict:
    """``run``'s tasks as two types on two queues: tasks 0 and 2 pdfs on q2, 1 and 3 mails on q1."""
    return {"type_of": np.array([1, 0, 1, 0], np.int16), "types": (("mail", "q1"), ("pdf", "q2"))}
