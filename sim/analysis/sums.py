"""Sums of float vectors made a block at a time, bit for bit as NumPy sums the whole vector.

NumPy sums a float64 vector pairwise (``np.add.reduce``): a part longer than 128 values is the
sum of its two halves, the first half's length rounded down to a multiple of 8, so the float it
gives depends on the values and the vector's length alone, and a part's sum is NumPy's sum of
that part. ``Sum`` is told the length, takes the values in order a block at a time, sums each
part of at most ``PART`` values with NumPy as soon as it has it, and adds the parts' sums as the
halving pairs them: a summary sums its tasks' queue times and its executions' busy seconds
without a vector of either. Told no length, it keeps every value and sums them at the end. A
test holds it to ``np.add.reduce`` over many lengths and blockings.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sim.engine.columns import Columns

PART = 1 << 14  # values NumPy sums in one call (at most 128 KiB held beside a block)
UNROLL = 8  # NumPy's pairwise sum splits a part at a multiple of this


def parts(n: int) -> list[int]:
    """The lengths, in order, of the parts of at most ``PART`` values that NumPy's halving
    cuts a vector of ``n`` into."""
    if n <= PART:
        return [n]
    half = n // 2
    half -= half % UNROLL
    return parts(half) + parts(n - half)


def paired(n: int, sums: Iterator[float]) -> float:
    """The sum of a vector of ``n`` values from its ``parts``' sums, added as NumPy pairs them."""
    if n <= PART:
        return next(sums)
    half = n // 2
    half -= half % UNROLL
    return paired(half, sums) + paired(n - half, sums)


class Sum:
    """``float(np.add.reduce(v))`` of a vector ``v`` given in order by ``add``, a block at a
    time: ``count`` values (None: not known, so all of them are kept until ``total``)."""

    def __init__(self, count: int | None) -> None:
        self.count = count
        self._lengths = parts(count) if count else []
        self._waiting = Columns((np.float64,), PART if count is not None else 0)
        self._sums: list[float] = []  # of the parts summed so far

    def add(self, values: np.ndarray) -> None:
        self._waiting.append([values])
        done = len(self._sums)
        if done == len(self._lengths) or len(self._waiting) < self._lengths[done]:
            return
        (waiting,) = self._waiting.view()
        used = 0
        while done < len(self._lengths) and len(waiting) - used >= self._lengths[done]:
            self._sums.append(float(np.add.reduce(waiting[used : used + self._lengths[done]])))
            used, done = used + self._lengths[done], done + 1
        self._waiting = Columns((np.float64,), PART)
        self._waiting.append([waiting[used:]])

    def total(self) -> float:
        """The sum of every value added (``count`` of them, when it was given)."""
        (waiting,) = self._waiting.view()
        if not self.count:
            return float(np.add.reduce(waiting))
        if len(waiting) or len(self._sums) < len(self._lengths):
            raise ValueError(f"a Sum of {self.count} values given another number of them")
        return paired(self.count, iter(self._sums))
