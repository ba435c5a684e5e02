"""Typed columns a recorder appends to a chunk at a time, grown in place.

A run's rows arrive a chunk at a time. Kept as a list of chunks and joined at the end, they
held the chunks and the joined columns at once, and the freed chunks stayed in the process's
heap (glibc gives back only its top), so a trace kept half as much again after its join. Grown
in place instead (``ndarray.resize``: ``realloc``, which moves a large block's pages rather
than copy them), the columns are the result: no join, no second copy. A run says how many rows
it expects: that room is taken up front and costs nothing until rows fill it (untouched pages
are not resident); growing past it by small steps would leave the old blocks as holes in the
heap while they are below glibc's mmap threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Columns:
    """Columns of the given types, the first ``len`` rows filled, room for ``rows`` taken
    up front; a chunk of a wider type widens its column (a worker index past two bytes)."""

    GROWTH = 8  # room for an eighth more rows each time they grow: at most 1/8 unused

    def __init__(self, kinds: Sequence[type], rows: int = 0) -> None:
        self._columns = [np.empty(rows, kind) for kind in kinds]
        self._length = 0
        self._viewed = False  # a view of the columns is out: grow a copy, never them in place

    def __len__(self) -> int:
        return self._length

    def append(self, chunk: Sequence[np.ndarray]) -> None:
        """Rows as one array per column, all of one length."""
        end = self._length + len(chunk[0])
        if end > len(self._columns[0]):
            self._columns = [self._grown(c, end + end // self.GROWTH) for c in self._columns]
            self._viewed = False
        for i, new in enumerate(chunk):
            kind = np.promote_types(self._columns[i].dtype, new.dtype)
            if kind != self._columns[i].dtype:  # a narrower chunk is cast as it is copied in
                self._columns[i] = self._columns[i].astype(kind)
            self._columns[i][self._length : end] = new
        self._length = end

    def _grown(self, column: np.ndarray, size: int) -> np.ndarray:
        if self._viewed:
            grown = np.empty(size, column.dtype)
            grown[: self._length] = column[: self._length]
            return grown
        column.resize(size, refcheck=False)  # only this object refers to it: nothing dangles
        return column

    def view(self) -> list[np.ndarray]:
        """The filled rows of each column, the spare room given back first (a run's last view
        is its result). Later rows go to a copy: the view never changes."""
        if not self._viewed:
            for column in self._columns:
                column.resize(self._length, refcheck=False)
            self._viewed = True
        return [column[: self._length] for column in self._columns]
