"""The memory a run will need, estimated before it starts."""

import pytest

from sim.engine import budget
from tests.sim.helpers import make


def test_the_estimate_grows_with_tasks_and_with_the_attempts_retries_add():
    def per_task(sc, trace=True):
        return budget.estimated_bytes(sc, trace) - budget.BASE_BYTES

    base = per_task(make(**{"run.tasks": 1000}))
    assert base == 1000 * budget.TRACE_BYTES_PER_TASK
    assert per_task(make(**{"run.tasks": 2000})) == 2 * base
    retried = make(**{"run.tasks": 1000, "failures.probability": 0.5, "retry.max_retries": 3})
    assert per_task(retried) == pytest.approx(base * (1 + 0.5 + 0.25 + 0.125))
    summary = per_task(make(**{"run.tasks": 1000}), trace=False)
    assert summary == 1000 * budget.SUMMARY_BYTES_PER_TASK < base  # no rows kept


def test_a_duration_counts_its_expected_arrivals():
    sc = make(**{"run.duration": 100.0, "arrivals.rate": 5.0})
    assert budget.expected_tasks(sc) == 500


def test_a_duration_of_bursts_counts_every_burst_whole():
    sc = make(
        **{
            "run.duration": 60.0,
            "arrivals.process": "burst",
            "arrivals.rate": 100.0,
            "arrivals.burst_size": 5000,
        }
    )
    assert budget.expected_tasks(sc) == 10_000  # bursts at 0 and 50 s, not 60 × 100


def test_task_types_count_with_their_own_arrivals_failures_and_retries():
    """Only the scenario's [arrivals], [failures] and [retry] were read: a type of its own
    arrivals at 50,000/s over 1,000 s was 1,000 tasks (0.3 GiB, not 9 GiB), and a type failing
    every attempt of 1,000 retries one attempt a task."""
    from sim import scenario

    own = scenario.loads(
        '[run]\nduration = 1000.0\n[arrivals]\nrate = 1.0\n[[tasks]]\nname = "a"\n'
        '[tasks.arrivals]\nrate = 50000.0\n[[tasks]]\nname = "b"\n'
    )
    assert budget.expected_tasks(own) == 50_000 * 1000 + 1000
    failing = scenario.loads(
        '[[tasks]]\nname = "a"\nshare = 0.25\n[tasks.failures]\nprobability = 1.0\n'
        '[tasks.retry]\nmax_retries = 1000\n[[tasks]]\nname = "b"\n'
    )
    assert budget.expected_attempts(failing) == pytest.approx(0.25 * 1001 + 0.75)


def test_an_outage_adds_attempts_for_the_part_of_the_run_it_covers():
    half = make(
        **{
            "run.tasks": 100,
            "arrivals.rate": 1.0,
            "retry.max_retries": 1,
            "failures.outage": [{"start": 50.0, "end": 1e9, "probability": 1.0}],
        }
    )
    assert budget.expected_attempts(half) == pytest.approx(1.5)  # half the run fails once


def test_an_outage_covers_the_span_of_the_arrivals_the_types_read():
    """Two types of their own arrivals at 0.5/s: 100 tasks span 100 s, and an outage from 50 s
    fails half of them once. [arrivals]' rate, which no type reads (its default, 7.2/s, a
    span of 13.9 s), had the outage cover the whole run: 2 attempts a task, not 1.5."""
    from sim import scenario

    own = "[tasks.arrivals]\nrate = 0.5\n[tasks.retry]\nmax_retries = 1\n"
    sc = scenario.loads(
        "[run]\ntasks = 100\n[failures]\noutage = [{start = 50.0, end = 1e9, probability = 1.0}]\n"
        f'[[tasks]]\nname = "a"\n{own}[[tasks]]\nname = "b"\n{own}'
    )
    assert budget.expected_attempts(sc) == pytest.approx(1.5)


def test_a_run_that_does_not_fit_is_refused_with_the_count_that_would():
    sc = make(**{"run.tasks": 10_000})
    base, per_task = budget.BASE_BYTES, budget.TRACE_BYTES_PER_TASK
    budget.check_fits(sc, available=base + 10_000 * per_task)  # just fits
    with pytest.raises(budget.RunTooLarge, match=r"run\.tasks: .* at most 5,000 tasks"):
        budget.check_fits(sc, available=base + 5_000 * per_task)
    budget.check_fits(sc, available=base + 5_000 * per_task, trace=False)  # no trace: it fits


def test_available_memory_is_read_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  100 kB\nMemAvailable:   2048 kB\n")
    assert budget.available_bytes(meminfo) == 2048 * 1024
    assert budget.available_bytes(tmp_path / "missing") is None
