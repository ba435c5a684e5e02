"""The collector's ordering rule, on rows as Celery reports them (no Redis needed)."""

from live.collector import causal_retries
from sim.rules.states import RECEIVED, RETRY, STARTED


def test_a_retry_reported_after_its_next_attempt_was_received_is_moved_before_it():
    rows = [
        (7, 0, STARTED, 10.0, "w1"),
        (7, 1, RECEIVED, 10.5, "w2"),  # the retry message was published, then received
        (7, 0, RETRY, 10.6, "w1"),  # ... and only then reported
        (8, 0, RETRY, 11.0, "w1"),  # reported in order: left alone
        (8, 1, RECEIVED, 11.2, "w2"),
    ]
    fixed = {(r[0], r[1], r[2]): r[3] for r in causal_retries(rows)}
    assert fixed[7, 0, RETRY] < fixed[7, 1, RECEIVED]
    assert fixed[8, 0, RETRY] == 11.0
    assert fixed[7, 0, STARTED] == 10.0
