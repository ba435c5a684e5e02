"""Where a task's time went, on a small trace whose answers can be worked out by hand."""

import numpy as np

from sim.analysis.wait_split import quantiles, wait_split, wait_split_by_type
from tests.sim.analysis.helpers import run, two_types


def test_the_wait_split_separates_broker_prefetch_and_runtime():
    split = wait_split(run())
    assert split["broker wait"].tolist() == [0.5, 1.0, 0.0]  # tasks 0, 1, 3; task 2 queued
    assert split["prefetch wait"].tolist() == [0.5, 1.0, 0.5]
    assert sorted(split["runtime"].tolist()) == [1.0, 2.0, 2.0]  # closed executions only
    q = quantiles(np.arange(101.0))
    assert q == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert quantiles(np.zeros(0)) == {}


def test_the_wait_split_of_several_types_is_each_types_own():
    """Tasks 0 and 2 are pdfs (2 still queued), 1 and 3 mails: each type's waits and runtimes
    are its own tasks', every execution of them."""
    kinds = two_types()
    split = wait_split_by_type(run(**kinds))
    assert list(split) == ["mail", "pdf"]
    assert {k: v.tolist() for k, v in split["pdf"].items()} == {
        "broker wait": [0.5],
        "prefetch wait": [0.5],
        "runtime": [1.0, 2.0],  # task 0's two executions
    }
    assert {k: sorted(v.tolist()) for k, v in split["mail"].items()} == {
        "broker wait": [0.0, 1.0],
        "prefetch wait": [0.5, 1.0],
        "runtime": [2.0],
    }
    (one,) = wait_split_by_type(run()).values()  # one type: the whole split
    whole = wait_split(run())
    assert {k: v.tolist() for k, v in one.items()} == {k: v.tolist() for k, v in whole.items()}
