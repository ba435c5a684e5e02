"""summarize() on small traces whose figures can be worked out by hand."""

import numpy as np
import pyarrow as pa
import pytest

from sim.analysis import metrics
from sim.analysis.metrics import summarize
from sim.rules.states import STARTED, SUCCESS
from sim.trace import Trace, from_arrow

ROWS = [  # task, attempt, state, t, worker
    ("a", 0, "PENDING", 0.0, ""),
    ("b", 0, "PENDING", 0.0, ""),
    ("a", 0, "RECEIVED", 0.0, "w1"),
    ("a", 0, "STARTED", 1.0, "w1"),
    ("b", 0, "RECEIVED", 1.0, "w1"),
    ("a", 0, "RETRY", 2.0, "w1"),
    ("b", 0, "STARTED", 2.0, "w1"),
    ("a", 1, "RECEIVED", 3.0, "w1"),
    ("b", 0, "SUCCESS", 4.0, "w1"),
    ("a", 1, "STARTED", 4.0, "w1"),
    ("a", 1, "FAILURE", 6.0, "w1"),
    ("c", 0, "PENDING", 5.0, ""),
]


def table(rows):
    cols = list(zip(*rows, strict=True))
    names = ("task_id", "attempt", "state", "t", "worker")
    return from_arrow(pa.table({n: list(c) for n, c in zip(names, cols, strict=True)}))


def test_figures_by_hand():
    s = summarize(table(ROWS), slots=2)
    assert (s.tasks_submitted, s.tasks_succeeded, s.tasks_failed, s.tasks_lost) == (3, 1, 1, 1)
    assert (s.executions, s.retries, s.duplicate_executions) == (3, 1, 0)
    assert s.wait_mean == pytest.approx((1 + 2) / 2)  # a: 1, b: 2; c never started
    assert s.sojourn_mean == pytest.approx((6 + 4) / 2)
    assert s.makespan == 6.0
    assert s.throughput == pytest.approx(2 / 6)
    assert s.utilization == pytest.approx((1 + 2 + 2) / (2 * 6))  # busy 5 of 12 slot-seconds
    # waiting: a 0–1, b 0–2, c 5–6 (never started: counted to the end) → 4 task-seconds
    assert s.queue_len_mean == pytest.approx(4 / 6)


def test_a_duplicate_run_counts_once_by_its_last_terminal_row():
    rows = [
        ("a", 0, "PENDING", 0.0, ""),
        ("a", 0, "RECEIVED", 0.0, "w1"),
        ("a", 0, "STARTED", 0.0, "w1"),
        ("a", 0, "RECEIVED", 5.0, "w2"),
        ("a", 0, "STARTED", 5.0, "w2"),
        ("a", 0, "SUCCESS", 8.0, "w1"),
        ("a", 0, "SUCCESS", 9.0, "w2"),
    ]
    s = summarize(table(rows), slots=2)
    assert (s.tasks_succeeded, s.executions, s.duplicate_executions) == (1, 2, 1)
    assert s.sojourn_mean == 9.0
    assert s.utilization == pytest.approx((8 + 4) / (2 * 9))


def test_an_empty_trace_summarizes_to_zeros():
    s = summarize(table([("a", 0, "PENDING", 0.0, "")]), slots=1)
    assert s.tasks_lost == 1 and s.throughput == 0.0 and s.wait_p99 == 0.0


def test_binned_steps_keep_each_spans_time_weighted_mean_and_peak():
    from sim.analysis.metrics import binned_steps

    # level 0 on [0, 1), 4 on [1, 1.5), 0 on [1.5, 3), 2 on [3, 4): two spans of 2 s each
    t = np.array([0.0, 1.0, 1.5, 3.0, 4.0])
    level = np.array([0.0, 4.0, 0.0, 2.0, 2.0])
    middle, mean, peak = binned_steps(t, level, 2)
    assert middle.tolist() == [1.0, 3.0]
    assert mean.tolist() == [1.0, 1.0]  # 4 × 0.5 s in the first 2 s; 2 × 1 s in the second
    assert peak.tolist() == [4.0, 2.0]
    # a level carried into a span without a step inside it is that span's peak
    _, mean, peak = binned_steps(np.array([0.0, 0.1, 10.0]), np.array([0.0, 5.0, 5.0]), 4)
    assert peak.tolist() == [5.0] * 4 and mean[1:].tolist() == [5.0] * 3


def test_task_history_lists_each_tasks_states_in_order():
    from sim.analysis.metrics import task_history

    trace = table(ROWS)
    history = {str(trace.task_ids[t]): states for t, states in task_history(trace).items()}
    assert history == {
        "a": ["PENDING", "RECEIVED", "STARTED", "RETRY", "RECEIVED", "STARTED", "FAILURE"],
        "b": ["PENDING", "RECEIVED", "STARTED", "SUCCESS"],
        "c": ["PENDING"],
    }


def test_a_step_count_takes_a_fall_before_a_rise_at_the_same_time():
    """Against the plain definition: events sorted by (time, step), the count summed in order."""
    rng = np.random.default_rng(3)
    up, down = rng.integers(0, 20, 300) / 2, rng.integers(0, 20, 250) / 2  # many ties
    times, level = metrics.step_counts(up, down)
    events = sorted([(t, 1.0) for t in up.tolist()] + [(t, -1.0) for t in down.tolist()])
    assert times.tolist() == [t for t, _ in events]
    assert level.tolist() == np.cumsum([s for _, s in events]).tolist()
    assert level.dtype == np.float64


def test_task_indices_past_four_bytes_in_a_key_stay_apart():
    """Task 0 and task 2**16 on worker 0 of 2**16 - 1: task × (workers + 1) and task × 2**20
    are multiples of 2**32, so in four-byte keys the two would be one group."""
    far = 2**16
    trace = Trace(
        task=np.array([0, far, 0, far], np.int32),
        attempt=np.zeros(4, np.int32),
        state=np.array([STARTED, STARTED, SUCCESS, SUCCESS], np.int8),
        t=np.array([0.0, 1.0, 2.0, 3.0]),
        worker=np.zeros(4, np.int64),
        workers=tuple(f"w{i}" for i in range(far - 1)),
    )
    assert metrics.execution_spans(trace)["task"].tolist() == [0, far]
    assert summarize(trace, slots=far - 1).duplicate_executions == 0


def test_executions_paired_a_block_of_tasks_at_a_time_are_the_whole_traces(monkeypatch):
    """Retries, crashes and redeliveries spread a task's rows far apart: blocks of 7 tasks
    pair them as one pass over the whole trace does, in the same order."""
    from sim import scenario
    from sim.engine.model import simulate

    sc = scenario.load(None).replace(
        **{"run.tasks": 600, "failures.probability": 0.3, "failures.crash_probability": 0.05}
    )
    trace = simulate(sc, seed=3)
    order, start, end, closes = metrics._paired_starts(trace)
    monkeypatch.setattr(metrics, "LEAST_BLOCK", 7)
    monkeypatch.setattr(metrics, "BLOCKS", 100)
    rows = metrics._span_rows(trace)
    assert [r.tolist() for r in rows] == [
        order[start[closes]].tolist(),
        order[end[closes]].tolist(),
    ]
    start, _, worker = (np.concatenate(c) for c in zip(*metrics.tally(trace).spans(), strict=True))
    assert start.tolist() == trace.t[rows[0]].tolist()
    assert worker.tolist() == trace.worker[rows[0]].tolist()
    assert len(rows[0]) > 600


@pytest.mark.parametrize("warmup", [0.0, 2.5])
def test_queue_times_in_place_are_the_plain_formulas_floats(warmup):
    """``queue_times`` works on one vector in place (``fmin``, byte masks); its floats are the
    plain formula's, NaN where there is no PENDING time, the makespan where no start."""
    rng = np.random.default_rng(7)
    pending = np.cumsum(rng.exponential(0.3, 400))
    started = pending + rng.exponential(1.1, 400)
    pending[[5, 90]] = np.nan
    started[[7, 90, 399]] = np.nan
    makespan = float(np.nanmax(started)) + 0.7
    plain = metrics.after(np.where(np.isnan(started), makespan, started), warmup)
    plain = plain - metrics.after(pending, warmup)
    queued = metrics.queue_times(pending, started, makespan, warmup)
    assert queued.tobytes() == plain.tobytes()


def test_known_values_drop_nans_in_place_and_keep_a_vector_without_any_as_it_is():
    values = np.array([1.0, np.nan, 3.0, 4.0])
    known = metrics._known(values, None)
    assert known.tolist() == [1.0, 3.0, 4.0]
    assert known.base is values  # moved to its front: no second vector
    kept = np.array([True, True, False, True])
    assert metrics._known(np.array([1.0, np.nan, 3.0, 4.0]), kept).tolist() == [1.0, 4.0]
    whole = np.array([2.0, 1.0])
    assert metrics._known(whole, None) is whole
    assert metrics._known(np.zeros(0), None).tolist() == []


def test_a_task_retried_for_ever_is_lost_as_left_retrying_not_as_a_lost_retry():
    """max_retries = inf and every attempt failing: followed through retry.FOLLOWED retries,
    then left retrying. It was "retry never reached a worker", which no retry of it did."""
    from sim import scenario
    from sim.engine.model import simulate
    from sim.rules.retry import FOLLOWED

    sets = ["retry.max_retries=inf", "failures.probability=1.0", "run.tasks=3"]
    sc = scenario.load("scenarios/mmc.toml", [*sets, "retry.countdown=1"])
    assert metrics.lost_tasks(simulate(sc)) == {
        f"left retrying after {FOLLOWED} retries (retried for ever: the simulator follows a "
        f"task through retry.FOLLOWED = {FOLLOWED} retries)": ["0", "1", "2"]
    }


def test_a_retry_whose_message_is_lost_is_still_said_so():
    """A RETRY last row below retry.FOLLOWED: its retry never ran (a live run's drain ended
    first, or a killed node took the message)."""
    rows = {
        "task_id": ["7", "7", "7", "7"],
        "attempt": [0, 0, 0, 0],
        "state": ["PENDING", "RECEIVED", "STARTED", "RETRY"],
        "t": [0.0, 0.1, 0.2, 1.0],
        "worker": ["", "w1", "w1", "w1"],
    }
    trace = from_arrow(pa.table(rows))
    assert metrics.lost_tasks(trace) == {"retry never reached a worker": ["7"]}
