"""The collector's ordering rule, on rows as Celery reports them (no Redis needed), and its
reading of them from Redis."""

import pytest
import redis

from live import events
from live.celery_app import LiveConfig
from live.clock import Clock
from live.collector import RowsLost, causal_retries, read_events, to_trace
from sim import scenario
from sim.analysis.runs import summarize
from sim.engine.draws import Draws
from sim.rules.states import RECEIVED, RETRY, STARTED, SUCCESS


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


def test_a_run_stopped_before_it_sent_every_task_of_several_types_is_summarized():
    """Stopped after 3 of 200 tasks of two types: the trace's types cover the tasks sent. They
    covered all 200 drawn, and the summary's figures per type raised IndexError, so `live`
    stopped (or its Redis lost) printed a traceback and wrote no trace, and the Live page failed
    on every redraw of such a run until all its tasks were sent, and on a stopped one."""
    sc = scenario.load("scenarios/thumbnails_and_reports.toml", ["run.tasks=200"])
    pending = [(0, 100.0), (1, 100.5), (2, 101.0)]
    rows = [(0, 0, STARTED, 100.1, "w1"), (0, 0, SUCCESS, 100.2, "w1")]
    trace = to_trace(pending, rows, ["w1"], Clock(100.0, 1.0), Draws(sc))
    s = summarize(trace, sc, engine="live")
    assert s.tasks_submitted == 3 and s.tasks_succeeded == 1
    assert sum(figures["tasks"] for figures in s.by_task.values()) == 3


@pytest.mark.live
def test_rows_redis_no_longer_holds_are_a_lost_redis_not_skipped_ones(redis_url):
    """Five rows read, then Redis restarted empty (or flushed) and two rows written: reading
    on from the sixth gave nothing, and the new rows were skipped for good (the run ended well,
    its tasks counted lost). It raises, and the run ends as on a lost Redis."""
    config = LiveConfig(redis_url, "unused.toml", 1.0, 1, "rowslost")
    client = redis.Redis.from_url(redis_url)
    row = events.encode(events.Event(0, 0, RECEIVED, 1.0, "w1"))
    try:
        client.rpush(config.key("events"), *[row] * 5)
        assert len(read_events(client, config)) == 5
        assert read_events(client, config, 5) == []  # none new: nothing lost
        client.delete(config.key("events"))
        client.rpush(config.key("events"), *[row] * 2)
        with pytest.raises(RowsLost, match="Redis holds 2 of the run's 5 event rows read"):
            read_events(client, config, 5)
    finally:
        client.delete(config.key("events"))
        client.close()
