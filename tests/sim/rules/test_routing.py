from sim import scenario
from sim.rules import routing


def test_a_priority_goes_to_the_largest_step_at_or_below_it():
    assert [routing.priority_step(p) for p in range(10)] == [0, 0, 0, 3, 3, 3, 6, 6, 6, 9]


def test_brpop_reads_every_queue_of_a_step_before_the_next_step():
    lanes = (("a", 9), ("b", 0), ("a", 0), ("b", 3))
    # measured on Celery 5.7: a lower step of any queue first, the cycle orders within a step
    assert routing.read_order(("a", "b"), lanes) == (2, 1, 3, 0)
    assert routing.read_order(("b", "a"), lanes) == (1, 2, 3, 0)


def test_round_robin_moves_the_queue_read_from_to_the_end():
    assert routing.rotated(("a", "b", "c"), "a") == ("b", "c", "a")
    assert routing.rotated(("a", "b", "c"), "b") == ("a", "c", "b")


def test_sorted_order_is_by_name_and_priority_order_is_the_q_order():
    assert routing.initial_cycle(("b", "a"), "sorted") == ("a", "b")
    assert routing.initial_cycle(("b", "a"), "priority") == ("b", "a")
    assert routing.initial_cycle(("b", "a"), "round_robin") == ("b", "a")


def test_a_pool_consuming_a_queue_nothing_is_sent_to_is_named_with_the_queues_sent_to():
    sc = scenario.loads(
        '[[tasks]]\nname = "a"\nqueue = "fast"\n[[tasks]]\nname = "b"\nqueue = "slow"\n'
        '[[pools]]\nname = "fast"\nqueues = ["fast", "archive"]\n'
        '[[pools]]\nname = "spare"\nqueues = ["slwo"]\n'
        '[[pools]]\nname = "slow"\nqueues = ["slow"]\n'
    )
    assert routing.idle_queues(sc) == [
        "pool fast consumes queue 'archive', to which no task type is sent: its workers take "
        "nothing from it (task types are sent to 'fast', 'slow')",
        "pool spare consumes queue 'slwo', to which no task type is sent: its workers idle "
        "for the whole run (task types are sent to 'fast', 'slow')",
    ]
    assert (
        routing.idle_queues(sc.replace(pools=[{"name": "all", "queues": ["fast", "slow"]}])) == []
    )
    assert routing.idle_queues(scenario.Scenario()) == []  # [workers] consumes what is sent
