"""Celery's --autoscale decision (celery/worker/autoscale.py) as a pure rule."""

from hypothesis import given
from hypothesis import strategies as st

from sim.rules import autoscale
from sim.rules.autoscale import last_active, scaled

LIMITS = (8, 1, 30.0)  # --autoscale 8,1, keepalive 30 s


def test_grows_at_once_to_the_reserved_requests_up_to_max():
    assert scaled(5, 1, 1, 0.0, 0.0, LIMITS) == 5
    assert scaled(20, 3, 3, 0.0, 0.0, LIMITS) == 8


def test_shrinks_to_the_reserved_requests_or_min_only_after_keepalive():
    assert scaled(0, 8, 0, 30.0, 0.0, LIMITS) == 8  # 30 s is not more than keepalive
    assert scaled(0, 8, 0, 30.001, 0.0, LIMITS) == 1
    assert scaled(3, 8, 3, 31.0, 0.0, LIMITS) == 3
    assert scaled(0, 8, 0, 1e9, None, LIMITS) == 8  # never active: never shrinks
    # on a tick, a scale-up the tick before made is older than keepalive: kombu re-arms the
    # timer after that tick's work
    assert scaled(0, 8, 0, 30.0, 0.0, LIMITS, previous_tick=0.0) == 1
    assert scaled(0, 8, 0, 30.0, 0.5, LIMITS, previous_tick=0.0) == 8


def test_a_shrink_stops_only_idle_processes():
    assert scaled(2, 8, 5, 100.0, 0.0, LIMITS) == 5


def test_last_active_is_the_later_of_scale_up_and_received_task():
    assert last_active(None, None) is None
    assert last_active(3.0, None) == 3.0
    assert last_active(None, 4.0) == 4.0
    assert last_active(5.0, 4.0) == 5.0
    assert last_active(3.0, 4.0) == 4.0


def test_the_pool_starts_with_min_and_prefetch_is_multiplied_from_max():
    assert autoscale.initial_processes(4, 8, 1) == 1
    assert autoscale.initial_processes(4, 0, 0) == 4  # off: the concurrency
    assert autoscale.prefetch_concurrency(4, 8) == 8
    assert autoscale.prefetch_concurrency(4, 0) == 4


@given(
    most=st.integers(1, 20),
    data=st.data(),
    now=st.floats(0, 1000),
    since=st.one_of(st.none(), st.floats(0, 1000)),
    keepalive=st.floats(0.1, 100),
)
def test_processes_stay_within_min_and_max_and_never_drop_below_busy(
    most, data, now, since, keepalive
):
    least = data.draw(st.integers(0, most))
    processes = data.draw(st.integers(least, most))
    busy = data.draw(st.integers(0, processes))
    qty = data.draw(st.integers(busy, 100))
    after = scaled(qty, processes, busy, now, since, (most, least, keepalive))
    assert least <= after <= most
    assert after >= busy
    if after < processes:
        assert since is not None and now - since > keepalive
