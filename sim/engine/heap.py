"""Where the C heap puts a run's arrays: each large one in its own mapping, given back when freed.

glibc serves a block above its mmap threshold from a mapping of its own, and one below from its
heap, whose free pages stay resident unless they are at its top. The threshold starts at 128 KiB
but rises to the size of every mapped block freed, up to 32 MiB: after a few arrays of megabytes
have come and gone, the next ones (a run's draws, a summary's scratch vectors) go in the heap,
and once freed they stay resident beside what is still in use, a fifth more at a million tasks.
A fixed threshold keeps them each in a mapping. The smaller blocks a run frees (its rows, a
chunk at a time, and their columns) leave free pages inside the heap, resident, which only
``malloc_trim`` gives back. Elsewhere than glibc, nothing changes.
"""

from __future__ import annotations

import ctypes
from functools import cache

M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
LARGE = 1 << 20  # bytes: a block this large or larger gets a mapping of its own


@cache
def _glibc() -> ctypes.CDLL | None:
    library = ctypes.CDLL(None)
    return library if hasattr(library, "mallopt") and hasattr(library, "malloc_trim") else None


@cache
def map_large_blocks() -> bool:
    """Fix glibc's mmap threshold at ``LARGE`` for this process; whether it could be."""
    glibc = _glibc()
    return glibc is not None and bool(glibc.mallopt(M_MMAP_THRESHOLD, LARGE))


def give_back() -> bool:
    """Return the heap's free pages to the system (a run's freed rows, before its summary's
    scratch vectors); whether any were."""
    glibc = _glibc()
    return glibc is not None and bool(glibc.malloc_trim(0))
