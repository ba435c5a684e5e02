import math
from dataclasses import replace
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sim.rules import retry
from sim.rules.states import FAILURE, RETRY, SUCCESS
from sim.scenario import Retry
from sim.strategies import field_values, retry_policies

retries = st.integers(0, 2000)
factors = st.floats(0.001, 1e4)
maxima = st.floats(0, 1e6)
unit = st.floats(0, 1, exclude_max=True)


@given(retries, factors, maxima, unit)
def test_jittered_backoff_lies_within_zero_and_the_cap(n, factor, maximum, u):
    delay = retry.backoff_delay(n, factor, maximum, True, u)
    assert 0 <= delay <= retry.backoff_cap(n, factor, maximum)


@given(retries, factors, maxima)
def test_backoff_without_jitter_is_the_cap(n, factor, maximum):
    assert retry.backoff_delay(n, factor, maximum, False, 0.3) == retry.backoff_cap(
        n, factor, maximum
    )


@given(st.integers(0, 60), factors, maxima)
def test_cap_doubles_until_the_maximum(n, factor, maximum):
    assert retry.backoff_cap(n + 1, factor, maximum) == min(
        int(maximum), 2 * retry.backoff_cap(n, factor, 1e308)
    )


@pytest.fixture(scope="module")
def celery_backoff():
    """Celery's own ``get_exponential_backoff_interval`` (celery/utils/time.py), which
    ``add_autoretry_behaviour`` (celery/app/autoretry.py) calls with
    ``factor=int(max(1.0, retry_backoff))`` and ``maximum=int(retry_backoff_max)``."""
    return pytest.importorskip("celery.utils.time").get_exponential_backoff_interval


def celery_countdown(backoff, retries, factor, maximum, jitter):
    """The countdown autoretry passes to ``Task.retry``, as celery/app/autoretry.py computes it."""
    return backoff(
        factor=int(max(1.0, factor)), retries=retries, maximum=int(maximum), full_jitter=jitter
    )


@given(st.integers(0, 1000), st.floats(1e-3, 1e9), st.floats(0, 1e9))
def test_backoff_without_jitter_is_celerys(celery_backoff, n, factor, maximum):
    expected = celery_countdown(celery_backoff, n, factor, maximum, False)
    assert retry.backoff_delay(n, factor, maximum, False, 0.5) == expected


@given(st.integers(0, 1000), st.floats(1e-3, 1e9), st.floats(0, 1e9), st.data())
def test_full_jitter_draws_whole_seconds_uniformly_as_randrange_does(
    celery_backoff, n, factor, maximum, data
):
    """Celery draws ``random.randrange(countdown + 1)``: a whole number of seconds, each of 0 to
    the cap inclusive equally likely. Our draw maps ``u`` in [0, 1) onto the same values, each
    on an interval of ``u`` of equal length."""
    asked = []
    with mock.patch("celery.utils.time.random") as rng:
        rng.randrange.side_effect = lambda stop: asked.append(stop) or stop - 1
        top = celery_countdown(celery_backoff, n, factor, maximum, True)
    (values,) = asked  # randrange(values) draws one of 0 … values - 1
    assert retry.backoff_delay(n, factor, maximum, True, 0.0) == 0
    assert retry.backoff_delay(n, factor, maximum, True, math.nextafter(1.0, 0.0)) == top
    k = data.draw(st.integers(0, values - 1))
    assert retry.backoff_delay(n, factor, maximum, True, (k + 0.5) / values) == k


def test_celery_numbers():
    # retry_backoff=3600 still retries within retry_backoff_max=600 s (pitfall 8)
    assert retry.backoff_cap(0, 3600, 600) == 600
    assert [retry.backoff_cap(n, 1, 600) for n in range(4)] == [1, 2, 4, 8]


@given(st.integers(0, 50), st.floats(0, 1e4), unit)
def test_countdown_is_used_when_backoff_is_off(n, countdown, u):
    policy = Retry(max_retries=3, countdown=countdown, backoff=0.0, backoff_max=600.0, jitter=True)
    assert retry.retry_delay(policy, n, u) == countdown


@given(st.integers(0, 20), st.integers(0, 20))
def test_a_task_runs_at_most_max_retries_plus_one_times(attempt, max_retries):
    assert retry.outcome(attempt, False, max_retries) == SUCCESS
    expected = RETRY if attempt < max_retries else FAILURE
    assert retry.outcome(attempt, True, max_retries) == expected


def test_a_lost_childs_retry_waits_default_retry_delay_even_with_backoff():
    policy = Retry(max_retries=3, countdown=7.0, backoff=100.0, backoff_max=50.0, jitter=True)
    assert retry.lost_child_countdown(policy) == 7.0
    assert retry.longest_countdown(policy) == 50.0  # lost children are not retried
    lost = replace(policy, on_worker_lost=True, countdown=70.0)
    assert retry.longest_countdown(lost) == 70.0


def test_only_a_dead_pool_child_is_retried_on_worker_lost():
    from sim.rules.outage import Outage
    from sim.scenario import Failures

    policy = Retry(3, 1.0, 0.0, 600.0, True, on_worker_lost=True)
    child = Failures(0.0, 0.1, "child", ())
    node = Failures(0.0, 0.1, "node", ())
    assert retry.retries_lost_child(policy, child) and retry.may_retry(policy, child)
    assert not retry.retries_lost_child(policy, node) and not retry.may_retry(policy, node)
    off = Retry(3, 1.0, 0.0, 600.0, True, on_worker_lost=False)
    assert not retry.may_retry(off, child)
    assert retry.may_retry(off, Failures(0.0, 0.0, "node", (Outage(1, 2, 1.0),)))
    assert retry.may_retry(off, Failures(0.2, 0.0, "node", ()))


@given(retry_policies(backoff=field_values("retry.backoff")), unit, st.data())
def test_no_retry_waits_past_the_longest_countdown(policy, u, data):
    """``longest_countdown`` bounds every retry's countdown, a lost child's too: the visibility
    timeout warnings and a live run's drain are sized by it."""
    assume(policy.max_retries > 0)
    attempt = data.draw(st.integers(0, policy.max_retries - 1))
    longest = retry.longest_countdown(policy)
    assert 0 <= retry.retry_delay(policy, attempt, u) <= longest
    if policy.on_worker_lost:
        assert retry.lost_child_countdown(policy) <= longest


def test_a_scenario_may_retry_by_each_task_types_own_tables():
    """A type that fails and retries beside one that does not, with nothing at the scenario
    level: the longest retry wait is the first's (a soft time limit makes a type retry too)."""
    from sim import scenario

    sc = scenario.loads(
        """
        [[tasks]]
        name = "flaky"
        queue = "celery"
        share = 0.5
        [tasks.failures]
        probability = 0.3
        [tasks.retry]
        max_retries = 3
        countdown = 40.0
        [[tasks]]
        name = "steady"
        queue = "celery"
        """
    )
    flaky, steady = sc.task_types
    assert retry.type_may_retry(flaky) and not retry.type_may_retry(steady)
    assert not retry.may_retry(sc.retry, sc.failures)  # the scenario's own tables: no failure
    assert retry.longest_retry_wait(sc) == 40.0
    limited = sc.replace(
        **{"tasks.steady.soft_time_limit": 5.0, "tasks.flaky.retry.max_retries": 0}
    )
    assert [retry.type_may_retry(t) for t in limited.task_types] == [False, True]


@given(st.integers(0, 10**9))
def test_retried_for_ever_no_failure_is_final_and_a_success_still_ends_it(attempt):
    """``max_retries = inf`` (Celery's None): every failed attempt is retried, however many
    came before; the first that succeeds ends the task."""
    assert retry.outcome(attempt, True, retry.FOREVER) == RETRY
    assert retry.outcome(attempt, False, retry.FOREVER) == SUCCESS


@given(field_values("retry.max_retries"))
def test_the_simulator_follows_every_attempt_a_finite_bound_allows(max_retries):
    """Only a task retried for ever is left retrying: a finite bound's last attempt is
    followed, so no finite scenario's run changes."""
    assert retry.followed(max_retries) and retry.most_retries(max_retries) == max_retries
    assert retry.celery_max_retries(max_retries) == max_retries


def test_for_ever_is_celerys_none_followed_through_a_thousand_retries():
    assert retry.celery_max_retries(retry.FOREVER) is None
    assert retry.most_retries(retry.FOREVER) == retry.FOLLOWED == 1000
    assert retry.followed(retry.FOLLOWED) and not retry.followed(retry.FOLLOWED + 1)


@given(
    retry_policies(max_retries=st.just(retry.FOREVER), backoff=field_values("retry.backoff")),
    unit,
    st.integers(0, 10**6),
)
def test_no_retry_for_ever_waits_past_the_longest_countdown(policy, u, attempt):
    """Retried for ever, the longest countdown is finite (backoff's is its cap): a live run's
    drain and the visibility timeout warnings are sized by it."""
    longest = retry.longest_countdown(policy)
    assert math.isfinite(longest)
    assert 0 <= retry.retry_delay(policy, attempt, u) <= longest


@given(
    retry_policies(max_retries=st.just(retry.FOREVER), backoff=field_values("retry.backoff")),
    st.integers(0, 2**32 - 1),
)
def test_the_followed_retries_wait_at_least_their_least_countdowns(policy, seed):
    """The least the countdowns of the retries the simulator follows add up to bounds every
    draw of them (jitter's from a seeded stream): ``runs.endless`` reads an outage past it."""
    draws = np.random.default_rng(seed).random(retry.FOLLOWED).tolist()
    waited = sum(retry.retry_delay(policy, k, u) for k, u in enumerate(draws))
    assert retry.least_retrying(policy) <= waited
    if policy.backoff == 0 or not policy.jitter:  # nothing drawn: the least is what is waited
        assert retry.least_retrying(policy) == pytest.approx(waited)
