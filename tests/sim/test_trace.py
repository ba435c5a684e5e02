import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim import scenario
from sim.engine.model import simulate, tally
from sim.rules.states import PENDING, STARTED
from sim.trace import (
    COLUMNS,
    TYPE_COLUMNS,
    ParquetStream,
    Recorder,
    Recording,
    TraceError,
    read,
)


@pytest.fixture(scope="module")
def trace():
    return simulate(scenario.load("scenarios/flaky_api.toml", ["run.tasks=500"]))


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_written_trace_reads_back_the_same(tmp_path, trace, suffix):
    path = tmp_path / f"t.{suffix}"
    trace.write(path)
    back = read(path)
    ids = back.task_ids[back.task].astype(int)
    assert np.array_equal(ids, trace.task)
    assert np.array_equal(back.attempt, trace.attempt)
    assert np.array_equal(back.state, trace.state)
    assert np.array_equal(back.t, trace.t)  # floats round-trip exactly
    names = np.array(("",) + back.workers)[back.worker + 1]
    assert np.array_equal(names, np.array(("",) + trace.workers)[trace.worker + 1])
    assert back.capacity == trace.capacity  # saved beside it, as <trace>.capacity.csv
    assert (tmp_path / f"t.{suffix}.capacity.csv").is_file()


def test_a_trace_without_capacity_rows_writes_none_and_a_bad_capacity_file_is_named(tmp_path):
    bare = Recorder(("w1",)).trace()
    bare.write(tmp_path / "t.csv")
    assert read(tmp_path / "t.csv").capacity == ()
    assert not (tmp_path / "t.csv.capacity.csv").exists()
    (tmp_path / "t.csv.capacity.csv").write_text("a,b\n1,2\n")
    with pytest.raises(TraceError, match="not a capacity file"):
        read(tmp_path / "t.csv")


def test_task_numbers_are_the_ids_of_a_file_and_none_where_an_id_is_not_a_number(tmp_path):
    run = simulate(scenario.load("scenarios/mmc.toml", ["run.tasks=12"]))
    assert run.task_numbers().tolist() == list(range(12))
    run.write(tmp_path / "t.csv")
    again = read(tmp_path / "t.csv")
    assert again.task_numbers().tolist() == [0, 1, 10, 11, *range(2, 10)]
    named = (tmp_path / "t.csv").read_text().replace('\n"0",', '\n"first",')
    (tmp_path / "named.csv").write_text(named)
    assert read(tmp_path / "named.csv").task_numbers() is None


@pytest.mark.parametrize("task_id", ["²", "١", "-abc"])
def test_an_id_of_digits_that_are_not_ascii_is_not_a_number(tmp_path, task_id):
    run = simulate(scenario.load("scenarios/mmc.toml", ["run.tasks=3"]))
    run.write(tmp_path / "t.csv")
    text = (tmp_path / "t.csv").read_text().replace('\n"0",', f'\n"{task_id}",')
    (tmp_path / "odd.csv").write_text(text)
    assert read(tmp_path / "odd.csv").task_numbers() is None


@pytest.mark.parametrize("task_id", ["-1", "-0", "99999999999999999999"])
def test_an_id_written_as_a_whole_number_that_is_no_task_index_is_refused(tmp_path, task_id):
    """Both engines write a task's index, 0 up, read as one in 64 bits (18 digits): -1 and 20
    digits were taken as names, so `check` passed them without a word."""
    run = simulate(scenario.load("scenarios/mmc.toml", ["run.tasks=3"]))
    run.write(tmp_path / "t.csv")
    rows = (tmp_path / "t.csv").read_text().splitlines()
    rows[5] = rows[5].replace('"1",', f'"{task_id}",', 1)  # data row 5: task 1's PENDING
    (tmp_path / "odd.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(
        TraceError,
        match=rf"odd.csv: row 5: task_id '{task_id}' cannot be a task: a task_id written as a "
        r"whole number is the task's index in its run, from 0 to 999,999,999,999,999,999",
    ):
        read(tmp_path / "odd.csv")
    largest = (tmp_path / "t.csv").read_text().replace('\n"2",', f'\n"{"9" * 18}",')
    (tmp_path / "largest.csv").write_text(largest)
    assert read(tmp_path / "largest.csv").task_numbers().max() == 10**18 - 1


def test_csv_layout(tmp_path, trace):
    trace.write(tmp_path / "t.csv")
    lines = (tmp_path / "t.csv").read_text().splitlines()
    header = (*COLUMNS, *TYPE_COLUMNS)
    assert lines[0] == ",".join(f'"{c}"' for c in header) or lines[0] == ",".join(header)
    assert lines[1].split(",")[2].strip('"') == "PENDING"
    assert lines[1].split(",")[4] in ("", '""')  # no worker for PENDING
    assert lines[1].split(",")[5:] == ['"task"', '"celery"']  # one task type, one queue
    assert np.all(np.diff([float(line.split(",")[3]) for line in lines[1:]]) >= 0)  # by time


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("abc,w1,true,1", "row 2: t = 'abc': must be a finite number of seconds >= 0"),
        ("nan,w1,true,1", "row 2: t = 'nan': must be a finite number of seconds >= 0"),
        ("-5,w1,true,1", "row 2: t = '-5': must be a finite number of seconds >= 0"),
        ("0.5,w1,true,1", "row 2: t = '0.5' is before row 1's 1: the rows are in time order"),
        ("2,,true,1", "row 2: worker = '': must be a node's name, not empty"),
        ("2,w1,maybe,1", "row 2: up = 'maybe': must be true or false"),
        ("2,w1,true,", "row 2: processes = '': must be a whole number from 0 to 10000"),
        ("2,w1,true,-3", "row 2: processes = '-3': must be a whole number from 0 to 10000"),
        ("2,w1,true,1.5", "row 2: processes = '1.5': must be a whole number from 0 to 10000"),
        ("2,w1,true,99999999999999999999", "processes = '99999999999999999999': must be"),
        ("2,w1,true,1,7", "not a readable capacity file: a row has 5 cells"),
    ],
)
def test_a_bad_capacity_cell_is_named_by_file_row_column_value_and_what_it_takes(
    tmp_path, rows, message
):
    """It was "not a capacity file" whatever the cell, an empty one a TypeError, and a
    negative count or a row out of time order went into worker-seconds unsaid."""
    Recorder(("w1",)).trace().write(tmp_path / "t.csv")
    file = tmp_path / "t.csv.capacity.csv"
    file.write_text(f"t,worker,up,processes\n1,w1,true,2\n{rows}\n")
    with pytest.raises(TraceError) as err:
        read(tmp_path / "t.csv")
    assert str(err.value).startswith(f"{file}: ") and message in str(err.value)
    file.write_text("t,worker,up,processes\n0,w1,true,2\n1.5,w1,FALSE,0\n")
    assert read(tmp_path / "t.csv").capacity == ((0.0, "w1", True, 2), (1.5, "w1", False, 0))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("task_id,attempt,state,t\n1,0,PENDING,0.0\n", "missing columns"),
        ("task_id,attempt,state,t,worker\n1,0,QUEUED,0.0,\n", "unknown state 'QUEUED'"),
        ("task_id,attempt,state,t,worker\n1,0,PENDING,soon,\n", "row 1: t is not a number"),
        ("task_id,attempt,state,t,worker\n1,0,PENDING,,\n", "row 1: t is not a number"),
        ("task_id,attempt,state,t,worker\n1,0,PENDING,inf,\n", "row 1: t is not finite"),
        ("task_id,attempt,state,t,worker\n1,-1,PENDING,0.0,\n", "row 1: attempt is below 0"),
        (
            "task_id,attempt,state,t,worker\n1,0,PENDING,0,\n1,0,RECEIVED,1,w1\n1,one,STARTED,2,w1\n",
            "row 3: attempt is not an integer",
        ),
        (  # it was "not an integer", of a whole number past int32
            "task_id,attempt,state,t,worker\n1,99999999999,PENDING,0.0,\n",
            "row 1: attempt is outside what a trace holds (-2,147,483,648 to 2,147,483,647)",
        ),
        ("task_id,attempt,state,t,worker\n1,0,PENDING,0.0,,x\n", "a row has 6 cells"),
    ],
)
def test_bad_trace_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(TraceError, match=re.escape(message)):
        read(path)


def test_unknown_suffix_and_missing_file(tmp_path, trace):
    with pytest.raises(TraceError, match=".csv or .parquet"):
        trace.write(tmp_path / "t.json")
    with pytest.raises(TraceError, match="does not exist"):
        read(tmp_path / "none.csv")


def test_the_recorder_keeps_rows_in_order_and_typed_across_chunks(monkeypatch):
    monkeypatch.setattr(Recorder, "CHUNK", 3)  # 10 rows: three full chunks and one partial,
    monkeypatch.setattr(Recorder, "FOLD", 5)  # folded after the second and the fourth
    recorder = Recorder(workers=("w1", "w2"))
    rows = [(i, i % 2, i % 6, 0.5 * i, i % 3 - 1) for i in range(10)]
    for row in rows:
        recorder.add(*row)
    trace = recorder.trace()
    columns = (trace.task, trace.attempt, trace.state, trace.t, trace.worker)
    assert list(zip(*(c.tolist() for c in columns), strict=True)) == rows
    assert [c.dtype for c in columns] == [np.int32, np.int32, np.int8, np.float64, np.int16]


def test_the_worker_column_widens_when_a_node_is_added_past_two_bytes(monkeypatch):
    monkeypatch.setattr(Recorder, "CHUNK", 2)
    monkeypatch.setattr(Recorder, "FOLD", 4)  # the first chunk waits packed in two bytes
    recorder = Recorder(workers=tuple(f"w{i}" for i in range(32_766)))  # indices fit int16
    recorder.add(0, 0, PENDING, 0.0)
    recorder.add(0, 0, STARTED, 1.0, 32_765)
    last = recorder.add_node("added")  # index 32,766: past what int16 holds once shifted by one
    recorder.add(1, 0, STARTED, 2.0, last)
    trace = recorder.trace()
    assert trace.worker.dtype == np.int64
    assert trace.worker.tolist() == [-1, 32_765, last]
    assert trace.to_arrow()["worker"].to_pylist() == ["", "w32765", "added"]


def test_an_empty_recorder_gives_an_empty_trace_with_the_column_types():
    trace = Recorder().trace()
    columns = (trace.task, trace.attempt, trace.state, trace.t, trace.worker)
    assert [len(c) for c in columns] == [0] * 5
    assert [c.dtype for c in columns] == [np.int32, np.int32, np.int8, np.float64, np.int16]


def test_a_parquet_trace_with_a_text_time_names_the_row(tmp_path):
    path = tmp_path / "t.parquet"
    table = {"task_id": ["0", "0"], "attempt": [0, 0], "state": ["PENDING", "RECEIVED"]}
    pq.write_table(pa.table({**table, "t": ["0.0", "later"], "worker": ["", "w1"]}), path)
    with pytest.raises(TraceError, match="row 2: t is not a number"):
        read(path)


def test_a_directory_or_binary_file_is_named_and_never_quoted(tmp_path):
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(TraceError, match="d.csv is a directory"):
        read(tmp_path / "d.csv")
    (tmp_path / "b.csv").write_bytes(b"task_id,attempt,state,t,worker\n\x1b[2J\x00\n")
    with pytest.raises(TraceError) as err:
        read(tmp_path / "b.csv")
    assert "\x1b" not in str(err.value) and "b.csv" in str(err.value)
    (tmp_path / "b.csv").write_bytes(b"task_id,attempt,state,t,worker\n\xff\xfe,0,PENDING,0,\n")
    with pytest.raises(TraceError, match="not UTF-8 text"):
        read(tmp_path / "b.csv")


@pytest.mark.parametrize("name", ["thumbnails_and_reports", "node_autoscale_cycle"])
def test_a_trace_streamed_to_parquet_reads_back_as_the_trace_written_at_the_end(
    name, tmp_path, monkeypatch
):
    """Task types and nodes added during the run, cut into many chunks and row groups."""
    sc = scenario.load(f"scenarios/{name}.toml")
    length = {"run.duration": 7200.0} if sc.run.duration else {"run.tasks": 1500}
    sc = sc.replace(**length, **{"failures.crash_probability": 0.05})
    simulate(sc).write(tmp_path / "end.parquet")
    monkeypatch.setattr(Recording, "CHUNK", 101)
    monkeypatch.setattr(Recording, "FOLD", 250)
    monkeypatch.setattr(ParquetStream, "GROUP", 500)
    tally(sc, stream=ParquetStream(tmp_path / "streamed.parquet"))
    assert pq.ParquetFile(tmp_path / "streamed.parquet").num_row_groups > 3
    end, streamed = read(tmp_path / "end.parquet"), read(tmp_path / "streamed.parquet")
    for column in ("task", "attempt", "state", "t", "worker", "task_ids", "type_of"):
        assert np.array_equal(getattr(end, column), getattr(streamed, column)), column
    assert (end.workers, end.types, end.capacity) == (
        streamed.workers,
        streamed.types,
        streamed.capacity,
    )


def test_a_run_that_fails_while_streaming_leaves_no_trace_where_one_is_expected(
    tmp_path, monkeypatch
):
    """A runaway stopped mid-run left its rows so far at the path: `check` read that half run
    as 'ok: 0 violations, 96 lost'; and a trace already there was overwritten by it."""
    from sim.engine.broker import RunawayError

    runaway = scenario.load("scenarios/mmc.toml").replace(
        **{"run.tasks": 100, "ack.late": True, "ack.visibility_timeout": 1e-9}
    )
    path = tmp_path / "run.parquet"
    path.write_bytes(b"an earlier run's trace")
    monkeypatch.setattr(ParquetStream, "GROUP", 500)  # rows written before the run stops
    with pytest.raises(RunawayError), ParquetStream(path) as stream:
        tally(runaway, stream=stream)
    assert path.read_bytes() == b"an earlier run's trace"
    assert [p.name for p in tmp_path.iterdir()] == ["run.parquet"]
