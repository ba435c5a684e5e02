import platform

import numpy as np
import pytest

from sim.engine import heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mmap threshold only")
def test_glibc_takes_the_fixed_mmap_threshold():
    assert heap.map_large_blocks()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc_trim only")
def test_the_heaps_free_pages_are_given_back():
    """Blocks below the mmap threshold live in the heap; freed below one still in use (as a
    run's rows are, below its later ones), their pages are resident until given back."""
    heap.map_large_blocks()
    blocks = [np.ones(1 << 14) for _ in range(64)]  # 128 KiB each, 8 MiB in all
    del blocks[:-1]
    assert heap.give_back()
