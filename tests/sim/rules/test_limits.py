import pytest

from sim.rules.limits import HARD, RUNS, SOFT, dies_first, time_limited


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


@pytest.mark.parametrize(("crash_at", "expected"), [(0.2, True), (0.3, False), (0.9, False)])
def test_a_drawn_death_happens_only_before_the_time_limit(crash_at, expected):
    """10 s of work under a 3 s soft limit, drawn to die at 2 s, at the limit (the limit wins)
    and at 9 s; with no limit each death happens."""
    assert dies_first(10.0, crash_at, time_limited(10.0, 3.0, 0.0)[0]) is expected
    assert dies_first(10.0, crash_at, time_limited(10.0, 0.0, 0.0)[0])
