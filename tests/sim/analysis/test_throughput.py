"""Tasks sent and ended per second, on small traces whose answers can be worked out by hand."""

import numpy as np

from sim import scenario
from sim.analysis import throughput
from sim.analysis.workers import BUSY_BINS
from sim.engine.model import simulate
from sim.rules.states import FAILURE, PENDING, STARTED
from sim.trace import Recorder
from tests.sim.analysis.helpers import run, two_types


def test_the_flow_counts_tasks_sent_and_ended_per_second_of_each_span_up_to_now():
    """Spans of 2.5 s up to 7.5 s: sent at 0, 0, 2 and 5 (a task's first PENDING, not its
    retry), succeeded at 4 and 6, none failed."""
    middle, rates = throughput.flow(run(), bins=3)
    assert middle.tolist() == [1.25, 3.75, 6.25]
    assert list(rates) == ["sent", "succeeded", "failed"]
    assert len(throughput.flow(run())[0]) == 5  # by default, spans of 25 sends: 5 at the least
    assert np.round(np.array(list(rates.values())), 9).tolist() == [
        [1.2, 0.0, 0.4],
        [0.0, 0.4, 0.4],
        [0.0, 0.0, 0.0],
    ]


def test_tasks_ended_per_second_are_a_line_per_worker_or_per_type():
    """Now 7.5 s, spans of 2.5 s: task 1 succeeded on w1 at 4 s, task 0 on w2 at 6 s; a line
    of failures only where some failed."""
    middle, series = throughput.ended_by(run(), "worker", bins=3)
    assert middle.tolist() == [1.25, 3.75, 6.25]
    assert {k: v.tolist() for k, v in series.items()} == {
        "w1 succeeded": [0.0, 0.4, 0.0],
        "w2 succeeded": [0.0, 0.0, 0.4],
    }
    kinds = two_types()
    r = Recorder(("w1", "w2"), **kinds)
    for row in [(2, 0, PENDING, 0.0, -1), (2, 0, STARTED, 0.5, 1), (2, 0, FAILURE, 1.0, 1)]:
        r.add(*row)
    _, series = throughput.ended_by(r.trace(), "type", bins=1)
    assert {k: v.tolist() for k, v in series.items()} == {
        "mail succeeded": [0.0],
        "pdf succeeded": [0.0],
        "pdf failed": [1.0],
    }
    _, by_type = throughput.ended_by(run(**kinds), "type", bins=3)
    assert by_type["mail succeeded"].tolist() == [0.0, 0.4, 0.0]  # task 1, a mail


def test_the_flow_of_an_overloaded_pool_ends_below_what_is_sent():
    """mmc on 2 workers, ρ 1.6 (simulated, 2,000 tasks, a quarter failing, never retried):
    while tasks are sent, fewer end; in all, every task sent ends once."""

    sc = scenario.load(
        "scenarios/mmc.toml",
        ["run.tasks=2000", "workers.count=2", "failures.probability=0.25", "retry.max_retries=0"],
    )
    middle, rates = throughput.flow(simulate(sc))
    assert len(middle) == BUSY_BINS  # 80 spans of 25 sends, at most as many as busy
    sending = rates["sent"] > 0
    ended = rates["succeeded"] + rates["failed"]
    assert ended[sending].mean() < 0.7 * rates["sent"][sending].mean()
    counts = {name: round(r.sum() * (middle[1] - middle[0])) for name, r in rates.items()}
    assert counts["sent"] == counts["succeeded"] + counts["failed"] == 2000
    assert 400 < counts["failed"] < 600
