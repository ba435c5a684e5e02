import numpy as np
import pytest

from sim.analysis.sums import PART, Sum


@pytest.mark.parametrize("known", [True, False])
def test_a_sum_given_in_blocks_is_numpys_sum_of_the_whole_vector_bit_for_bit(known):
    """Floats of many magnitudes make the order of the additions show in the last bits: the
    blocks must be summed as NumPy sums the whole vector, not block by block."""
    rng = np.random.default_rng(7)
    lengths = [0, 1, 7, 129, PART - 1, PART, PART + 1, 3 * PART + 5, 1_000_003]
    lengths += rng.integers(PART, 6 * PART, 20).tolist()
    differs = 0  # lengths whose sum block by block is another float: the check can fail
    for n in lengths:
        values = rng.exponential(1.0, n) * 10.0 ** rng.integers(-6, 9, n)
        block = int(rng.integers(1, 3 * PART))
        total = Sum(n if known else None)
        for lo in range(0, n, block):
            total.add(values[lo : lo + block])
        assert total.total() == float(np.add.reduce(values)), n
        by_block = sum(float(values[lo : lo + block].sum()) for lo in range(0, n, block))
        differs += by_block != float(np.add.reduce(values))
    assert differs


def test_a_sum_told_its_count_holds_no_more_than_a_part_and_a_block():
    total = Sum(10 * PART)
    for _ in range(40):
        total.add(np.ones(PART // 4))
        assert len(total._waiting) < PART + PART // 4
    assert total.total() == 10 * PART


def test_a_sum_given_fewer_values_than_its_count_says_so():
    total = Sum(PART + 10)
    total.add(np.ones(PART))
    with pytest.raises(ValueError, match="another number"):
        total.total()
