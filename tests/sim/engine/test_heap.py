import platform

import pytest

from sim.engine import heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mmap threshold only")
def test_glibc_takes_the_fixed_mmap_threshold():
    assert heap.map_large_blocks()
