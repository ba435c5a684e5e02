"""What `celery inspect` replies give as scenario fields (replies shaped as Celery 5.7 sends)."""

from live.worker_settings import settings_from, task_limits


def stats(concurrency: int, prefetch_count: int, transport: dict | None = None) -> dict:
    return {
        "pool": {
            "implementation": "celery.concurrency.prefork:TaskPool",
            "max-concurrency": concurrency,
        },
        "prefetch_count": prefetch_count,
        "broker": {"transport": "redis", "transport_options": transport or {}},
    }


CONF = {
    "worker_prefetch_multiplier": 2,
    "task_acks_late": True,
    "task_reject_on_worker_lost": None,  # Celery's "not set"
    "task_track_started": False,
    "worker_lost_wait": 10.0,
}


def test_the_nodes_replies_become_observed_fields():
    replies = {"a@h": stats(4, 8, {"visibility_timeout": 600}), "b@h": stats(4, 8)}
    found = settings_from(replies, {"a@h": CONF})
    assert found.fields == {
        "workers.count": 2,
        "workers.concurrency": 4,
        "workers.prefetch_multiplier": 2,
        "ack.late": True,
        "results.track_started": False,
        "workers.lost_wait": 10.0,
        "ack.visibility_timeout": 600.0,
    }
    assert "pool prefork" in found.notes[0] and "a@h, b@h" in found.notes[0]


def test_without_conf_the_multiplier_comes_from_the_prefetch_count():
    found = settings_from({"a@h": stats(3, 12)}, {})
    assert found.fields["workers.prefetch_multiplier"] == 4
    assert found.fields["ack.visibility_timeout"] == 3600.0  # kombu's Redis default
    assert "ack.late" not in found.fields  # not reported: left to the default, not guessed


def test_nodes_that_differ_are_named_and_no_reply_is_said():
    found = settings_from({"a@h": stats(2, 8), "b@h": stats(2, 8), "c@h": stats(8, 32)}, {})
    assert found.fields["workers.concurrency"] == 2 and "differ" in found.mixed
    silent = settings_from({}, {})
    assert silent.fields == {} and "no worker answered" in silent.notes[0]


def test_nodes_that_consume_the_same_queues_are_one_pool():
    replies = {
        "a@h": stats(2, 4),
        "b@h": stats(2, 4),
        "c@h": stats(1, 8, {"queue_order_strategy": "priority"}),
    }
    queues = {"a@h": ("fast",), "b@h": ("fast",), "c@h": ("slow", "fast"), "gone@h": ("x",)}
    found = settings_from(replies, {"c@h": CONF}, queues, {"c@h": 6})
    assert found.pools == (
        {
            "queues": ["fast"],
            "queue_order": "round_robin",
            "count": 2,
            "concurrency": 2,
            "prefetch_multiplier": 2,
        },
        {
            "queues": ["slow", "fast"],
            "queue_order": "priority",
            "count": 1,
            "concurrency": 1,
            "prefetch_multiplier": 2,  # its prefetch count 8 less the 6 ETA requests it holds
        },
    )
    assert "gone@h" not in found.node_queues  # it did not answer stats: not one of the nodes


def test_an_autoscaling_node_is_written_with_its_autoscale_max_and_min():
    """Its max-concurrency is the processes it has at the moment (1 here): not its size."""
    node = {**stats(1, 8), "autoscaler": {"max": 4, "min": 1, "current": 1, "qty": 0}}
    found = settings_from({"a@h": node}, {"a@h": CONF})
    assert (found.fields["workers.autoscale_max"], found.fields["workers.autoscale_min"]) == (4, 1)
    assert "workers.concurrency" not in found.fields  # --autoscale sizes it: given, refused
    assert found.fields["workers.prefetch_multiplier"] == 2


def test_a_node_started_with_its_own_prefetch_multiplier_is_read_by_its_prefetch_count():
    """`celery worker --prefetch-multiplier 1` on one pool: the app's conf still says its
    default 4, the node's prefetch count 1 × 1 says what it reserves."""
    replies = {"mail@h": stats(3, 12), "pdf@h": stats(1, 1)}
    conf = {node: {**CONF, "worker_prefetch_multiplier": 4} for node in replies}
    found = settings_from(replies, conf, {"mail@h": ("mail",), "pdf@h": ("pdf",)})
    assert [p["prefetch_multiplier"] for p in found.pools] == [4, 1]


def test_each_tasks_rate_and_time_limits_are_read_its_own_over_the_apps():
    registered = {
        "a@h": [
            "shop.call [rate_limit=4/s]",
            "shop.export [time_limit=0.6 soft_time_limit=0.4]",
            "shop.mail",
            "shop.odd [time_limit=1.0 soft_time_limit=2.0]",
            "shop.free [rate_limit=0]",  # Celery's none: no token bucket
            "shop.free2 [rate_limit=0/s time_limit=2.0]",
        ]
    }
    assert task_limits(registered, {}) == {
        "shop.call": {"rate_limit": "4/s"},
        "shop.export": {"time_limit": 0.6, "soft_time_limit": 0.4},
        "shop.odd": {"time_limit": 1.0},  # the hard limit comes first: the soft never fires
        "shop.free2": {"time_limit": 2.0},
    }
    app_wide = {"a@h": {**CONF, "task_time_limit": 30, "task_soft_time_limit": None}}
    assert task_limits(registered, app_wide)["shop.mail"] == {"time_limit": 30.0}
    assert task_limits(registered, app_wide)["shop.export"]["time_limit"] == 0.6
