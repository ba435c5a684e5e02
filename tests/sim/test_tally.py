from pathlib import Path

import numpy as np
import pytest

from sim import scenario
from sim.analysis import metrics, runs
from sim.engine.model import simulate, tally
from sim.rules.states import PENDING, RECEIVED, RETRY, STARTED, SUCCESS
from sim.tally import TallyRecorder
from sim.trace import Recorder, Recording

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(ROOT.glob("scenarios/*.toml")) + sorted(ROOT.glob("scenarios/lessons/*.toml"))
FAILING = {  # the variant trace_hashes5.sh hashes too
    "overhead.dispatch": 0.01,
    "failures.probability": 0.2,
    "failures.crash_probability": 0.05,
}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_the_summary_without_a_trace_is_the_trace_summary(path, monkeypatch):
    """Every figure equal with ``==``, floats too, by task type, queue and pool: plain, with
    failures and crashes, and after a warm-up. The summary-only run packs every 101 rows, so
    executions and per-task times cross many chunks. At most 1,500 tasks or two hours of
    arrivals, to keep the test short."""
    base = scenario.load(path)
    if base.run.duration:
        base = base.replace(**{"run.duration": min(base.run.duration, 7200.0)})
    else:
        base = base.replace(**{"run.tasks": min(base.run.tasks, 1500)})
    variants = [base, base.replace(**FAILING)]
    trace = simulate(base)
    arrivals = metrics.first_time(trace, PENDING)
    variants.append(base.replace(**{"run.warmup": float(arrivals[len(arrivals) // 3])}))
    for sc in variants:
        full = runs.summarize(simulate(sc), sc)
        with monkeypatch.context() as m:
            m.setattr(Recording, "CHUNK", 101)
            m.setattr(Recording, "FOLD", 250)
            lean = runs.summary(tally(sc), sc)
        assert lean.to_dict() == full.to_dict()


def test_a_tally_of_a_trace_and_of_a_run_hold_the_same_arrays(monkeypatch):
    sc = scenario.load(ROOT / "scenarios/flaky_api.toml").replace(**{"run.tasks": 2000})
    whole = metrics.tally(simulate(sc))
    monkeypatch.setattr(Recording, "CHUNK", 50)
    monkeypatch.setattr(Recording, "FOLD", 50)
    lean = tally(sc)
    for name in ("pending", "started", "end", "end_state", "starts_by_worker", "type_of"):
        assert getattr(lean, name).tolist() == getattr(whole, name).tolist(), name
    for column, mine, theirs in zip(
        ("start", "end", "worker"), joined(lean.spans()), joined(whole.spans()), strict=True
    ):
        assert mine.tolist() == theirs.tolist(), column
    assert (lean.submitted, lean.retries, lean.attempts_started, lean.makespan) == (
        whole.submitted,
        whole.retries,
        whole.attempts_started,
        whole.makespan,
    )


def test_attempts_beyond_a_byte_and_many_workers_count_as_in_the_trace(monkeypatch):
    """The highest attempt starts in a byte and widens past 127; a worker index is two bytes."""
    sc = scenario.load(None).replace(
        **{
            "run.tasks": 40,
            "failures.probability": 0.995,
            "retry.max_retries": 300,
            "retry.countdown": 0.0,
            "workers.count": 300,
        }
    )
    whole = metrics.tally(simulate(sc))
    monkeypatch.setattr(Recording, "CHUNK", 64)
    monkeypatch.setattr(Recording, "FOLD", 64)
    lean = tally(sc)
    assert whole.attempts_started > 40 * 128
    assert lean.attempts_started == whole.attempts_started
    assert joined(lean.spans())[2].tolist() == joined(whole.spans())[2].tolist()
    assert joined(lean.spans())[2].max() > 127


def test_a_task_that_ends_again_keeps_its_executions_in_the_trace_order(monkeypatch):
    """A task's own execution (its first STARTED to its last terminal row) is kept as its worker
    alone; when the task ends again later (a late-ack message redelivered past its visibility
    timeout runs again) it is moved to the others, after one of its task's on its worker that
    ended since, and must still come first among them, as in the trace. A row a chunk."""
    rows = [
        (0, 0, PENDING, 0.0, -1),
        (0, 0, STARTED, 1.0, 0),
        (0, 0, SUCCESS, 2.0, 0),  # its own execution, so far
        (0, 0, STARTED, 3.0, 0),  # run again on the same worker
        (0, 0, RETRY, 4.0, 0),
        (0, 1, STARTED, 5.0, 1),
        (0, 1, SUCCESS, 6.0, 1),  # ends again: the first is no longer its own
    ]
    monkeypatch.setattr(Recording, "CHUNK", 1)
    monkeypatch.setattr(Recording, "FOLD", 1)
    lean, whole = TallyRecorder(("w0", "w1"), np.zeros(1)), Recorder(("w0", "w1"))
    for row in rows:
        lean.add(*row)
        whole.add(*row)
    spans = joined(lean.tally().spans())
    assert [c.tolist() for c in spans] == [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0], [0, 0, 1]]
    assert [c.tolist() for c in spans] == [
        c.tolist() for c in joined(metrics.tally(whole.trace()).spans())
    ]


def test_a_worker_index_past_a_byte_widens_the_own_executions(monkeypatch):
    """Up to 127 workers an own execution's worker is a byte; a node added past that widens it."""
    monkeypatch.setattr(Recording, "CHUNK", 1)
    monkeypatch.setattr(Recording, "FOLD", 1)
    lean, whole = TallyRecorder(("w0",), np.zeros(2)), Recorder(("w0",))
    rows = [(0, 0, PENDING, 0.0, -1), (0, 0, STARTED, 1.0, 0), (0, 0, SUCCESS, 2.0, 0)]
    rows += [(1, 0, PENDING, 3.0, -1), (1, 0, STARTED, 4.0, 199), (1, 0, SUCCESS, 5.0, 199)]
    for row in rows:
        if row[0] == 1 and row[2] == PENDING:
            for i in range(1, 200):
                lean.add_node(f"w{i}")
                whole.add_node(f"w{i}")
        lean.add(*row)
        whole.add(*row)
    spans = [c.tolist() for c in joined(lean.tally().spans())]
    assert spans == [[1.0, 4.0], [2.0, 5.0], [0, 199]]
    assert spans == [c.tolist() for c in joined(metrics.tally(whole.trace()).spans())]


def test_a_received_row_is_not_kept_but_its_time_still_ends_the_run():
    """Without a stream no figure reads a RECEIVED row, so the recorder keeps none; a trace
    whose last row is one (a message reserved that never started) has its time as makespan."""
    lean = TallyRecorder(("w0",), np.zeros(1))
    lean.add(0, 0, PENDING, 1.0, -1)
    lean.received((0, 0, RECEIVED, 2.5, 0))
    assert len(lean.rows) == 1
    whole = Recorder(("w0",))
    whole.add(0, 0, PENDING, 1.0, -1)
    whole.received((0, 0, RECEIVED, 2.5, 0))
    assert lean.tally().makespan == metrics.tally(whole.trace()).makespan == 2.5


def joined(spans) -> list[np.ndarray]:
    """A ``Tally.spans`` as whole columns start, end, worker."""
    return [np.concatenate(column) for column in zip(*spans, strict=True)]
