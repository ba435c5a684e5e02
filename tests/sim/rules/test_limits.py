import pytest

from sim.rules.limits import HARD, RUNS, SOFT, time_limited


@pytest.mark.parametrize(
    ("service", "soft", "hard", "expected"),
    [
        (1.0, 0.0, 0.0, (1.0, RUNS)),  # no limits
        (1.0, 2.0, 3.0, (1.0, RUNS)),  # done before either
        (2.5, 2.0, 3.0, (2.0, SOFT)),  # the soft limit first
        (5.0, 0.0, 3.0, (3.0, HARD)),
        (5.0, 4.0, 3.0, (3.0, HARD)),  # a hard limit below the soft one wins
        (5.0, 3.0, 3.0, (3.0, HARD)),  # both at once: the child is killed
        (3.0, 0.0, 3.0, (3.0, RUNS)),  # ends exactly at the limit: it ran out
    ],
)
def test_the_earlier_limit_ends_an_execution(service, soft, hard, expected):
    assert time_limited(service, soft, hard) == expected
