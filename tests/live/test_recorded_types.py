"""Task types and pools from a recording of several task names."""

from collections import Counter

from live.recorded_types import (
    NameSeen,
    countdown_note,
    pool_tables,
    queue_of,
    scenario_name,
    task_tables,
)


def seen(name: str, **given) -> NameSeen:
    what = dict(
        arrivals=10, queues=Counter(), runtimes=(0.1, 0.2), attempts=2, failed=0, max_retries=0
    )
    return NameSeen(name, **{**what, "countdowns": (), "hosts": frozenset(), **given})


def test_each_name_is_a_task_type_with_its_share_queue_service_and_failures():
    names = [
        seen("app.resize", arrivals=30, queues=Counter(images=30), attempts=4, failed=1),
        seen(
            "app.report",
            queues=Counter(reports=9),
            attempts=5,
            failed=2,
            max_retries=2,
            countdowns=(0.5, 0.3, 0.4),
        ),
    ]
    queues = {"images": "images", "reports": "reports"}
    tables, notes = task_tables(names, {}, {"app.resize": "r.csv"}, queues)
    assert tables == [
        {
            "name": "app.resize",
            "share": 0.75,
            "queue": "images",
            "service": {"dist": "empirical", "file": "r.csv"},
            "failures": {"probability": 0.25},
            "retry": {"max_retries": 0},  # it failed and was never retried
        },
        {
            "name": "app.report",
            "share": 0.25,
            "queue": "reports",
            "failures": {"probability": 0.4},
            "retry": {"max_retries": 2, "countdown": 0.4},
        },
    ]
    assert notes == []


def test_without_task_sent_the_queue_is_the_one_its_nodes_consume():
    nodes = {"a@h": ("fast",), "b@h": ("fast", "slow"), "c@h": ("slow", "other")}
    assert queue_of(seen("t", hosts=frozenset({"a@h", "b@h"})), nodes) == ("fast", "")
    assert queue_of(seen("t", hosts=frozenset({"b@h", "c@h"})), nodes) == ("slow", "")
    queue, note = queue_of(seen("t", hosts=frozenset({"b@h"})), nodes)  # either: a guess, said
    assert queue == "fast" and "consume fast, slow: written as fast" in note
    queue, note = queue_of(seen("t"), nodes)
    assert queue == "celery" and "Celery's default queue" in note


def test_pools_are_named_for_their_queues_and_must_consume_every_tasks_queue():
    pools = ({"queues": ["fast"], "count": 2}, {"queues": ["fast", "slow"], "count": 1})
    queues = {"fast": "fast", "slow": "slow"}
    tables, notes = pool_tables(pools, [{"queue": "fast"}, {"queue": "slow"}], queues)
    assert [(t["name"], t["queues"], t["count"]) for t in tables] == [
        ("fast", ["fast"], 2),
        ("fast-slow", ["fast", "slow"], 1),
    ]
    assert notes == []
    tables, notes = pool_tables(pools[:1], [{"queue": "fast"}, {"queue": "slow"}], queues)
    assert tables == [] and "no node said it consumes slow" in notes[0]


def test_a_celery_name_the_scenario_refuses_is_made_a_name():
    assert scenario_name("proj.tasks.send mail/v2") == "proj.tasks.send_mail_v2"


def test_a_countdown_that_grows_with_each_retry_is_said_not_replayed():
    """``countdown=0.5 * 2 ** retries`` was written as its median, 0.5 s, silently: the
    replay's third retries came 1.5 s early, and a recording's scrape task's sojourn p95 read
    28 % short of Celery's events."""
    grown = ((1, 0.5),) * 5 + ((2, 1.0),) * 3 + ((3, 2.0),) * 2  # retry 3: too few to judge
    countdowns = tuple(c for _, c in grown)
    note = countdown_note(seen("app.scrape", countdowns=countdowns, by_retry=grown))
    assert "app.scrape: its retry countdown grew" in note
    assert "0.5 s at retry 1, 1 s at retry 2)" in note and "retry.backoff" in note
    flat = ((1, 0.5),) * 5 + ((2, 0.6),) * 3
    assert countdown_note(seen("app.scrape", countdowns=(0.5,) * 8, by_retry=flat)) == ""
