"""Columns grown in place give back every appended row, and a view never changes."""

import numpy as np

from sim.engine.columns import Columns


def chunk(start: int, n: int, worker: type = np.int16) -> list[np.ndarray]:
    rows = np.arange(start, start + n)
    return [rows.astype(np.float64), rows.astype(worker)]


def test_appended_chunks_come_back_in_order_with_their_types():
    columns = Columns((np.float64, np.int16))  # no room up front: every append grows them
    for start in range(0, 1000, 7):
        columns.append(chunk(start, 7))
    t, worker = columns.view()
    assert len(columns) == 1001 and t.tolist() == list(range(1001))
    assert (t.dtype, worker.dtype) == (np.float64, np.int16)
    assert worker.tolist() == list(range(1001))


def test_a_wider_chunk_widens_its_column_and_keeps_the_rows_before_it():
    columns = Columns((np.float64, np.int16), rows=10)
    columns.append(chunk(0, 3))
    columns.append(chunk(40_000, 2, np.int64))  # a worker index past two bytes
    _, worker = columns.view()
    assert worker.dtype == np.int64 and worker.tolist() == [0, 1, 2, 40_000, 40_001]


def test_a_view_is_not_changed_by_later_rows():
    columns = Columns((np.float64, np.int16), rows=4)
    columns.append(chunk(0, 4))
    first = columns.view()
    columns.append(chunk(4, 100))  # grows past the room: a copy, not the viewed block
    assert [c.tolist() for c in first] == [[0.0, 1.0, 2.0, 3.0], [0, 1, 2, 3]]
    assert columns.view()[0].tolist() == list(range(104))


def test_the_room_taken_up_front_is_given_back_by_the_view():
    columns = Columns((np.float64,), rows=1000)
    columns.append([np.ones(3)])
    (t,) = columns.view()
    assert t.base.nbytes == 3 * 8  # shrunk to the rows, not the room
