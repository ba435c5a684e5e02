"""The event row workers write to Redis and the collector reads back (no Redis needed)."""

import pytest

from live import events
from live.events import Event
from sim.rules.states import FAILURE, RECEIVED, RETRY

ROWS = [
    Event(0, 0, RECEIVED, 1_700_000_000.123456, "w1"),
    Event(4711, 3, RETRY, 1_700_000_123.000001, "laptop-w2"),
    Event(12, 1, FAILURE, 0.5, ""),  # a row from a node whose name was not known
]


@pytest.mark.parametrize("row", ROWS)
def test_a_row_survives_encoding_as_redis_returns_it(row):
    raw = events.encode(row).encode()  # Redis hands back bytes
    assert events.decode(raw) == row
    assert events.decode(events.encode(row)) == row


def test_times_are_kept_to_the_microsecond():
    row = Event(1, 0, RECEIVED, 10.1234567, "w1")
    assert events.decode(events.encode(row)).t == pytest.approx(10.123457, abs=1e-9)


def test_decoded_rows_unpack_as_the_collector_reads_them():
    task, attempt, state, t, worker = events.decode(b"7|2|4|12.5|w3")
    assert (task, attempt, state, t, worker) == (7, 2, 4, 12.5, "w3")
    assert isinstance(task, int) and isinstance(state, int) and isinstance(t, float)
