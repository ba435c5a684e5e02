"""The trace: one row per state change of a task, the one interface every engine writes.

Rows are held as NumPy columns (task index, attempt, state code, time, worker index), so a
million-task trace is a few arrays, not millions of Python objects; a task's type (its name and
queue) is one small integer per task. On disk it is CSV or Parquet by suffix, with columns
``task_id, attempt, state, t, worker, task_name, queue``; rows sorted by ``t`` with ties in
causal order. The same trace gives the same bytes. A file without the last two columns (written
before task types) reads as one type, ``task`` on ``celery``.

Beside the rows, ``capacity`` says what was paid for: a row (t, node, up, processes) per node at
t = 0 and one each time a node starts or stops consuming or its pool grows or shrinks. It is
saved beside the trace as ``<trace>.capacity.csv``, so the task rows stay as they were. A run
with a node autoscaler carries its polls' ``decisions`` too (``sim.rules.node_autoscale``), held
in memory for the pages that draw them, not saved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import starmap
from pathlib import Path
from struct import Struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sim.engine.columns import Columns
from sim.rules.node_autoscale import Decision
from sim.rules.states import CODES, NAMES
from sim.sections import MAX_POOL

COLUMNS = ("task_id", "attempt", "state", "t", "worker")
TYPE_COLUMNS = ("task_name", "queue")
ONE_TYPE = (("task", "celery"),)  # the type of every task of a scenario without [[tasks]]
ID_DIGITS = 18  # a task id read as a number has at most this many: below 2**63
WHOLE_NUMBER = re.compile(r"-?[0-9]+")  # an id written as a whole number: a task's index
Capacity = tuple[float, str, bool, int]  # t, node, up (consuming), pool processes
CAPACITY_COLUMNS = ("t", "worker", "up", "processes")
CSV_OPTIONS = pacsv.WriteOptions(quoting_style="needed")


class TraceError(ValueError):
    """A trace file cannot be read; the message says which file and what is wrong."""


@dataclass(frozen=True, eq=False)
class Trace:
    """State-change rows as columns; ``task`` and ``worker`` index ``task_ids`` and ``workers``."""

    task: np.ndarray  # int32 index into task_ids (``index_type``: wider past 2**31 tasks)
    attempt: np.ndarray  # int32
    state: np.ndarray  # int8 code from sim.rules.states
    t: np.ndarray  # float64 seconds of scenario time
    worker: np.ndarray  # int16 index into workers, -1 for none (wider past 32,766 workers)
    workers: tuple[str, ...]
    task_ids: np.ndarray | None = None  # str per task index; None: the index itself
    type_of: np.ndarray | None = None  # per task index, its index into ``types``; None: all 0
    types: tuple[tuple[str, str], ...] = ONE_TYPE  # (task name, queue) of each type
    capacity: tuple[Capacity, ...] = ()  # (t, node, up, processes) rows, sorted by t
    decisions: tuple[Decision, ...] = ()  # each poll of a node autoscaler, by t; not saved

    def __len__(self) -> int:
        return len(self.t)

    @property
    def n_tasks(self) -> int:
        """Tasks the trace knows of (task indices are 0 … n_tasks-1)."""
        if self.task_ids is not None:
            return len(self.task_ids)
        return int(self.task.max()) + 1 if len(self.task) else 0

    def task_numbers(self) -> np.ndarray | None:
        """Per task index, the task's number in its run (the index of its draws): the index
        itself as both engines record, or the id read as a number from a file, which lists ids
        in string order ('0', '1', '10', …); None when an id is not a number: ASCII digits, at
        most ``ID_DIGITS`` of them (``str.isdigit`` alone passes '²', and 20 digits overflow)."""
        if self.task_ids is None:
            return np.arange(self.n_tasks)
        if not all(
            s.isascii() and s.isdigit() and len(s) <= ID_DIGITS for s in self.task_ids.tolist()
        ):
            return None
        return self.task_ids.astype(np.int64)

    def task_types(self) -> np.ndarray:
        """Per task index, the index of its type in ``types`` (of one type: a read-only view)."""
        if self.type_of is None:
            return np.broadcast_to(np.int16(0), self.n_tasks)  # no vector a task, written or not
        return self.type_of

    def to_arrow(self, rows: slice = slice(None)) -> pa.Table:
        """The trace (its ``rows``) in its file layout: string ids, state names, worker names."""
        task = _arrow_numbers(self.task[rows])
        if self.task_ids is None:
            ids = task.cast(pa.string())
        else:
            ids = pc.take(_arrow_strings(self.task_ids), task)
        kind = _arrow_numbers(self.task_types()[self.task[rows]].astype(np.int64))
        names, queues = zip(*self.types, strict=True)
        return pa.table(
            {
                "task_id": ids,
                "attempt": _arrow_numbers(self.attempt[rows].astype(np.int32, copy=False)),
                "state": pc.take(_arrow_strings(NAMES), _arrow_numbers(self.state[rows])),
                "t": _arrow_numbers(self.t[rows].astype(np.float64, copy=False)),
                "worker": pc.take(
                    _arrow_strings(("", *self.workers)), _arrow_numbers(self.worker[rows] + 1)
                ),
                "task_name": pc.take(_arrow_strings(names), kind),
                "queue": pc.take(_arrow_strings(queues), kind),
            }
        )

    def write(self, path: str | Path) -> None:
        """Write CSV or Parquet, chosen by the file's suffix, straight to the file: a CSV a
        slice of rows at a time (the same bytes; built whole, the table, its text and the
        text's copy held 870 MB at a million tasks)."""
        path = Path(path)
        self._write(path, path.suffix.lstrip("."))
        write_capacity(self.capacity, path)

    def to_bytes(self, kind: str) -> bytes:
        """The file contents for ``kind`` "csv" or "parquet" (for downloads)."""
        sink = pa.BufferOutputStream()
        self._write(sink, kind)
        return sink.getvalue().to_pybytes()

    def _write(self, sink, kind: str) -> None:
        if kind == "parquet":
            pq.write_table(self.to_arrow(), sink)
        elif kind == "csv":
            schema = self.to_arrow(slice(0, 0)).schema
            with pacsv.CSVWriter(sink, schema, write_options=CSV_OPTIONS) as out:
                for start in range(0, len(self), ParquetStream.GROUP):
                    out.write_table(self.to_arrow(slice(start, start + ParquetStream.GROUP)))
        else:
            raise TraceError(f"{kind!r}: trace files end in .csv or .parquet")


def _arrow_numbers(values: np.ndarray) -> pa.Array:
    """A NumPy vector of numbers as an Arrow array of the same type, sharing its memory.

    ``pa.array`` asks pandas whether its input is one of pandas' types, importing it the first
    time (33 MiB, in a run writing its trace); these two build the array from buffers instead."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)]
    )


def _arrow_strings(values: Iterable[str]) -> pa.Array:
    """Strings as an Arrow string array, from their bytes and offsets (see ``_arrow_numbers``)."""
    data = [str(v).encode() for v in values]
    offsets = np.zeros(len(data) + 1, np.int32)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
    )


def write_capacity(capacity: tuple[Capacity, ...], path: Path) -> None:
    """Save a trace's capacity rows beside it (``capacity_path``), if it has any."""
    if capacity:
        columns = zip(*capacity, strict=True)
        table = pa.table(dict(zip(CAPACITY_COLUMNS, columns, strict=True)))
        pacsv.write_csv(table, capacity_path(path))


class ParquetStream:
    """A trace written to Parquet as the run makes it: a recorder hands it each chunk it folds,
    so a run holds at most a row group (``GROUP`` rows) of it; ``read`` gives back the trace
    ``Trace.write`` would have written, only cut into more row groups."""

    GROUP = 1 << 15  # rows: a run streaming 3M tasks peaked at 171 MiB, 188 with 1 << 16

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # written beside it and moved in place at the end: a run that fails (a runaway, a
        # warm-up past its arrivals, Ctrl-C) leaves no half a trace that reads as a whole one
        self._partial = self.partial_path(self.path)
        empty = Trace(*(np.zeros(0, kind) for kind in COLUMN_TYPES), workers=())
        self._writer = pq.ParquetWriter(self._partial, empty.to_arrow().schema)
        self._waiting: list[list[np.ndarray]] = []

    @staticmethod
    def partial_path(path: Path) -> Path:
        """Where a stream to ``path`` writes its rows until the run ends."""
        return path.with_name(path.name + ".partial")

    def __enter__(self) -> ParquetStream:
        return self

    def __exit__(self, failed: type[BaseException] | None, *_: object) -> None:
        """A run that failed leaves nothing: not its rows so far, nor a file at ``path``."""
        if failed is not None:
            self._writer.close()
            self._partial.unlink(missing_ok=True)

    def add(self, chunk: list[np.ndarray], recording: Recording) -> None:
        """Rows (task, attempt, state, t, worker) that ``recording`` folded, in trace order."""
        self._waiting.append(chunk)
        if sum(len(c[0]) for c in self._waiting) >= self.GROUP:
            self._flush(recording)

    def close(self, recording: Recording) -> None:
        """Write the last group, end the file, and save the capacity rows beside it."""
        self._flush(recording)
        self._writer.close()
        self._partial.replace(self.path)
        write_capacity(tuple(recording.capacity), self.path)

    def _flush(self, recording: Recording) -> None:
        if not self._waiting:
            return
        columns = [np.concatenate(c) for c in zip(*self._waiting, strict=True)]
        self._waiting.clear()
        kinds = {"type_of": recording.type_of, "types": recording.types}
        self._writer.write_table(Trace(*columns, workers=recording.workers, **kinds).to_arrow())
        pa.default_memory_pool().release_unused()  # else Arrow's allocator keeps ~70 MB at 1M


def capacity_path(path: Path) -> Path:
    """Where a trace's capacity rows are saved: beside it, ``<trace>.capacity.csv``."""
    return path.with_name(path.name + ".capacity.csv")


def _read_capacity(path: Path) -> tuple[Capacity, ...]:
    """The capacity rows saved beside ``path``, if any. Read as text and checked cell by cell,
    so a bad one is named by the file, its row, column and value and what the column takes
    (Arrow's casts failed as one "not a capacity file"; an empty cell was a TypeError, and a
    negative count or a time out of order passed into worker-seconds)."""
    file = capacity_path(path)
    if not file.is_file():
        return ()
    try:
        table = _csv_table(file, dict.fromkeys(CAPACITY_COLUMNS, pa.string()))
    except pa.ArrowInvalid as err:
        raise TraceError(f"{file}: not a readable capacity file: {_unquoted(err)}") from None
    if missing := [c for c in CAPACITY_COLUMNS if c not in table.column_names]:
        raise TraceError(
            f"{file}: not a capacity file: no column {', '.join(missing)}; its columns are "
            + ", ".join(CAPACITY_COLUMNS)
        )
    rows: list[Capacity] = []
    for i, cells in enumerate(
        zip(*(table[c].to_pylist() for c in CAPACITY_COLUMNS), strict=True), 1
    ):
        row = []
        for column, text in zip(CAPACITY_COLUMNS, cells, strict=True):
            parse, allowed = CAPACITY_CELLS[column]
            try:
                row.append(parse(text.strip()))
            except ValueError:
                raise TraceError(
                    f"{file}: row {i}: {column} = {_shown(text)}: must be {allowed}"
                ) from None
        if rows and row[0] < rows[-1][0]:
            raise TraceError(
                f"{file}: row {i}: t = {_shown(cells[0])} is before row {i - 1}'s "
                f"{rows[-1][0]:g}: the rows are in time order"
            )
        rows.append(tuple(row))  # type: ignore[arg-type]
    return tuple(rows)


def _time(text: str) -> float:
    """A capacity row's time: seconds from the run's start."""
    t = float(text)
    if not (np.isfinite(t) and t >= 0):
        raise ValueError(text)
    return t


def _node(text: str) -> str:
    if not text:
        raise ValueError(text)
    return text


def _up(text: str) -> bool:
    """Arrow's words for a boolean, as it wrote and read them."""
    words = {"true": True, "1": True, "false": False, "0": False}
    if text.lower() not in words:
        raise ValueError(text)
    return words[text.lower()]


def _count(text: str) -> int:
    n = int(text)
    if not 0 <= n <= MAX_POOL:
        raise ValueError(text)
    return n


# each capacity column's reading and, for a cell it refuses, what the column takes
CAPACITY_CELLS = {
    "t": (_time, "a finite number of seconds >= 0"),
    "worker": (_node, "a node's name, not empty"),
    "up": (_up, "true or false (whether the node consumes)"),
    "processes": (_count, f"a whole number from 0 to {MAX_POOL} (the node's pool processes)"),
}


def _shown(text: str, most: int = 30) -> str:
    """A cell as an error quotes it: escaped (``repr``: no control byte reaches the terminal)
    and cut to ``most`` characters."""
    return repr(text if len(text) <= most else text[:most] + "…")


def read(path: str | Path) -> Trace:
    """Read a trace written by any engine (or by hand) back into columns.

    Errors name the file, row and column but never quote the file: a binary file's bytes would
    garble the terminal.
    """
    path = Path(path)
    if path.is_dir():
        raise TraceError(f"{path} is a directory, not a trace file")
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        elif path.suffix == ".csv":
            table = _read_csv(path)
        else:
            raise TraceError(f"{path}: trace files end in .csv or .parquet")
    except FileNotFoundError:
        raise TraceError(f"trace file {str(path)!r} does not exist") from None
    except pa.ArrowInvalid as err:
        raise TraceError(f"{path}: not a readable trace: {_unquoted(err)}") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise TraceError(f"{path}: missing columns {missing}; a trace has {list(COLUMNS)}")
    return from_arrow(table, str(path), _read_capacity(path))


def _read_csv(path: Path) -> pa.Table:
    """The CSV with numeric columns parsed; if a cell is not a number, read again as text, so
    that ``from_arrow`` names its row rather than Arrow quoting it."""
    text = {c: pa.string() for c in COLUMNS}
    try:
        return _csv_table(path, {**text, "attempt": pa.int64(), "t": pa.float64()})
    except pa.ArrowInvalid:
        return _csv_table(path, text)


def _csv_table(path: Path, types: dict[str, pa.DataType]) -> pa.Table:
    options = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False)
    return pacsv.read_csv(path, convert_options=options)


def from_arrow(
    table: pa.Table, source: str = "trace", capacity: tuple[Capacity, ...] = ()
) -> Trace:
    """Columns of a trace table (string ids and names) as a Trace with its ``capacity`` rows.
    Its workers are the nodes its rows name, then those only a capacity row names: a node a
    node autoscaler added and removed before it ran a task was paid for all the same, and
    read back without it, its pool's node-seconds fell short of the run's (lesson 18's by 70 %)."""
    ids, task = np.unique(_strings(table, "task_id"), return_inverse=True)
    _check_ids(ids, task, source)
    names, state = np.unique(_strings(table, "state"), return_inverse=True)
    unknown = sorted(set(names.tolist()) - set(NAMES))
    if unknown:
        raise TraceError(f"{source}: unknown state {unknown[0]!r}; states are {list(NAMES)}")
    codes = np.array([CODES[n] for n in names.tolist()], dtype=np.int8)
    workers, worker = np.unique(_strings(table, "worker"), return_inverse=True)
    worker_list = [w for w in workers.tolist() if w]
    index = {w: i for i, w in enumerate(worker_list)}
    worker_list += dict.fromkeys(node for _, node, _, _ in capacity if node not in index)
    kind = index_type(len(worker_list), np.int16)
    lookup = np.array([index.get(w, -1) for w in workers.tolist()], dtype=kind)
    attempt = _numbers(table, "attempt", pa.int32(), source)
    if len(attempt) and attempt.min() < 0:
        raise TraceError(f"{source}: row {int(np.argmax(attempt < 0)) + 1}: attempt is below 0")
    t = _numbers(table, "t", pa.float64(), source)
    if not np.isfinite(t).all():
        raise TraceError(f"{source}: row {int(np.argmin(np.isfinite(t))) + 1}: t is not finite")
    type_of, types = _types(table, task, len(ids))
    return Trace(
        task=task.astype(index_type(len(ids), np.int32)),
        attempt=attempt,
        state=codes[state] if len(state) else np.zeros(0, np.int8),
        t=t,
        worker=lookup[worker] if len(worker) else np.zeros(0, kind),
        workers=tuple(worker_list),
        task_ids=ids,
        type_of=type_of,
        types=types,
        capacity=capacity,
    )


def _check_ids(ids: np.ndarray, task: np.ndarray, source: str) -> None:
    """Refuse an id written as a whole number that can be no task: both engines write a task's
    index in its run, from 0 up, and ``Trace.task_numbers`` reads it as one in 64 bits. A
    negative one, or one of more than ``ID_DIGITS`` digits, was taken as a name and passed
    ``check`` without a word; another name (a Celery uuid) stays a name."""
    suspect = np.flatnonzero(np.char.startswith(ids, "-") | (np.char.str_len(ids) > ID_DIGITS))
    for i in suspect.tolist():
        text = str(ids[i])
        if WHOLE_NUMBER.fullmatch(text):
            raise TraceError(
                f"{source}: row {int(np.argmax(task == i)) + 1}: task_id {_shown(text)} cannot "
                "be a task: a task_id written as a whole number is the task's index in its "
                f"run, from 0 to {10**ID_DIGITS - 1:,}"
            )


def _types(
    table: pa.Table, task: np.ndarray, n_tasks: int
) -> tuple[np.ndarray | None, tuple[tuple[str, str], ...]]:
    """Each task's type from its first row's ``task_name`` and ``queue`` (one type if absent)."""
    if not all(c in table.column_names for c in TYPE_COLUMNS) or not len(task):
        return None, ONE_TYPE
    names, name = np.unique(_strings(table, "task_name"), return_inverse=True)
    queues, queue = np.unique(_strings(table, "queue"), return_inverse=True)
    kinds, kind = np.unique(name * len(queues) + queue, return_inverse=True)
    type_of = np.zeros(n_tasks, np.int16)
    type_of[task[::-1]] = kind[::-1]  # the first row of a task writes last
    types = tuple(
        (str(names[k // len(queues)]), str(queues[k % len(queues)])) for k in kinds.tolist()
    )
    return type_of, types  # type: ignore[return-value]


def _strings(table: pa.Table, column: str) -> np.ndarray:
    return table[column].to_numpy(zero_copy_only=False).astype(str)


def _numbers(table: pa.Table, column: str, kind: pa.DataType, source: str) -> np.ndarray:
    """A numeric column in ``kind``; a cell that is empty or not such a number is named by its
    row (1 = the first data row), not quoted."""
    values = table[column].combine_chunks()
    if values.null_count == 0 and _casts(values, kind):
        return values.cast(kind).to_numpy()
    lo, hi = 0, len(values)  # values[lo:hi] holds a bad cell: halve until it is one cell
    while hi - lo > 1:
        mid = (lo + hi) // 2
        head = values.slice(lo, mid - lo)
        lo, hi = (lo, mid) if head.null_count or not _casts(head, kind) else (mid, hi)
    if pa.types.is_integer(kind) and _casts(values.slice(lo, 1), pa.int64()):
        most = np.iinfo(kind.to_pandas_dtype())
        raise TraceError(
            f"{source}: row {lo + 1}: {column} is outside what a trace holds "
            f"({most.min:,} to {most.max:,})"
        )
    what = "an integer" if pa.types.is_integer(kind) else "a number"
    raise TraceError(f"{source}: row {lo + 1}: {column} is not {what}")


def _casts(values: pa.Array, kind: pa.DataType) -> bool:
    try:
        values.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


# Arrow's reasons, without the row or value some of them quote from the file
_REASONS = (
    (re.compile(r"UTF-?8", re.I), lambda m: "not UTF-8 text (a binary file?)"),
    (
        re.compile(r"Expected (\d+) columns, got (\d+)"),
        lambda m: f"a row has {m[2]} cells where the header has {m[1]}",
    ),
    (re.compile(r"Empty CSV file"), lambda m: "no header row (an empty or binary file?)"),
    (re.compile(r"[Pp]arquet magic bytes not found"), lambda m: "not a Parquet file"),
)


def _unquoted(err: pa.ArrowInvalid) -> str:
    for pattern, reason in _REASONS:
        if match := pattern.search(str(err)):
            return reason(match)
    return "not a CSV or Parquet trace"


def columns(rows: list[tuple], n_workers: int = 0) -> list[np.ndarray]:
    """Rows (task, attempt, state, t, worker) as the trace's typed columns; the worker column
    widens for more than 32,766 workers (a chunk of wider columns widens the whole join)."""
    return unpacked(packed(rows, n_workers), n_workers)


def packed(rows: list[tuple], n_workers: int = 0) -> bytes:
    """Rows as ``unpacked`` reads them: each packed by ``struct`` into an aligned record.
    ``np.fromiter`` over the rows' values took each through NumPy's generic scalar conversion,
    1.9k instructions a row against 1.0k (cachegrind, a 20k-task run's rows packed again: 7.6k
    a task to 4.0k with the trace, 8.5k to 6.0k summary-only)."""
    return b"".join(starmap(layout(n_workers)[0].pack, rows))


def unpacked(data: bytes, n_workers: int = 0) -> list[np.ndarray]:
    """Packed rows (``packed``, for as many workers) as columns: the fields of a record array
    read from the bytes (views of it, read-only)."""
    record = layout(n_workers)[1]
    table = np.frombuffer(data, record)
    return [table[name] for name in record.names]


# task, attempt, state, t, worker: 19 bytes a row (a simulated run has at most MAX_TASKS tasks)
COLUMN_TYPES = (np.int32, np.int32, np.int8, np.float64, np.int16)


def _record(worker: type, code: str) -> tuple[Struct, np.dtype]:
    """A row packed (``columns``): its ``struct`` format and its record type, with the worker
    column of type ``worker`` (``code`` in ``struct``). Both lay the fields out as C aligns
    them (a row of 32 bytes, padded): NumPy reads aligned fields faster than packed ones."""
    kinds = [(f"c{i}", kind) for i, kind in enumerate((*COLUMN_TYPES[:-1], worker))]
    return Struct(f"@iibd{code}0d"), np.dtype(kinds, align=True)


RECORDS = {np.int16: _record(np.int16, "h"), np.int64: _record(np.int64, "q")}


def layout(n_workers: int) -> tuple[Struct, np.dtype]:
    """The packed row's layout for a run of ``n_workers``: its worker column two bytes wide
    while they fit (``index_type``), else eight."""
    return RECORDS[index_type(n_workers, COLUMN_TYPES[-1])]


def index_type(n: int, narrow: type) -> type:
    """``narrow`` if it holds every index -1 … n (and n + 1, as ``to_arrow`` shifts the
    workers by one), else int64: a column widens only when a run needs it."""
    return narrow if n < np.iinfo(narrow).max else np.int64


class Recording:
    """What every recorder of a run takes: rows appended to ``rows`` (the simulator's hot path
    calls ``rows.append`` directly, and ``pack`` every ``CHUNK`` rows), RECEIVED rows given to
    ``received`` (``rows.append``, unless the recorder reads none of them), and the capacity
    rows. Subclasses say what ``fold`` keeps of the rows; ``flush`` folds the last of them.

    Rows go from tuples to typed columns in two steps. ``pack`` turns the waiting tuples into
    bytes (``packed``) every ``CHUNK`` rows, while they are still in the CPU's cache, and frees
    them, so the next rows reuse the same memory; every ``FOLD`` rows the bytes are read as
    columns (``unpacked``) and folded together, each NumPy call's fixed cost shared by that
    many rows. One step at 8,192 rows read its tuples and freed them after they had left the
    cache: the summary-only run's median CPU time 12-20 % higher (M/M/8, 100k tasks, compiled;
    a tuple, its time and task number are ~140 bytes a row, 1.1 MiB a chunk: more than a
    core's L2)."""

    CHUNK = 1 << 10  # rows waiting as tuples: ~140 KiB, inside a core's L2
    # packed rows waiting (32 bytes each): 8,192 folds as fast as 16,384 (a fold's cost is its
    # rows'), and the fewer objects churned between folds pin fewer of Python's 1 MiB arenas
    FOLD = 1 << 13

    def __init__(
        self,
        workers: tuple[str, ...] = (),
        type_of: np.ndarray | None = None,
        types: tuple[tuple[str, str], ...] = ONE_TYPE,
    ) -> None:
        self.workers = workers
        self.type_of, self.types = type_of, types
        self.rows: list[tuple] = []
        self.received = self.rows.append  # a RECEIVED row: kept as any row, unless not read
        self.capacity: list[Capacity] = []
        self.decisions: list[Decision] = []  # a node autoscaler's polls
        self._nodes: dict[int, tuple[bool, int]] = {}  # each node's last (up, processes)
        self._packed: list[bytes] = []  # packed rows waiting to be folded
        self._packed_rows, self._packed_for = 0, 0  # how many, and for how many workers

    def add(self, task: int, attempt: int, state: int, t: float, worker: int = -1) -> None:
        self.rows.append((task, attempt, state, t, worker))
        if len(self.rows) >= self.CHUNK:
            self.pack()

    def node(self, t: float, worker: int, up: bool, processes: int) -> None:
        """A capacity row, if the node's (up, processes) changed since its last one."""
        if self._nodes.get(worker) != (up, processes):
            self._nodes[worker] = (up, processes)
            self.capacity.append((float(t), self.workers[worker], up, processes))

    def add_node(self, name: str) -> int:
        """A node added during the run (a node autoscaler's): its index in ``workers``."""
        self.workers = (*self.workers, name)
        return len(self.workers) - 1

    def pack(self) -> None:
        """Pack the waiting rows into bytes (callers on a hot path call this when ``len(rows)
        >= CHUNK``), and fold the packed rows once there are ``FOLD`` of them."""
        if self.rows:
            n_workers = len(self.workers)
            if layout(n_workers) is not layout(self._packed_for):
                self._unpack()  # a node added past two bytes: the rows before in their width
            self._packed.append(packed(self.rows, n_workers))
            self._packed_rows += len(self.rows)
            self._packed_for = n_workers
            self.rows.clear()
        if self._packed_rows >= self.FOLD:
            self._unpack()

    def flush(self) -> None:
        """Fold every row taken so far: the run has ended."""
        self.pack()
        self._unpack()

    def _unpack(self) -> None:
        if self._packed_rows:
            rows = unpacked(b"".join(self._packed), self._packed_for)
            self._packed.clear()
            self._packed_rows = 0
            self.fold(rows)

    def fold(self, rows: list[np.ndarray]) -> None:
        """Take rows (task, attempt, state, t, worker columns, in the order they came)."""
        raise NotImplementedError


class Recorder(Recording):
    """Appends rows as a run produces them; ``trace()`` gives them as columns.

    The newest rows wait in ``rows`` as tuples — a list append is the cheapest thing CPython
    does — and ``pack`` moves them into the trace's typed columns (``Recording``), 19 bytes a
    row, grown in place (``sim.engine.columns``, with room for ``rows`` up front): the trace is
    those columns, not a join.
    """

    def __init__(self, *args, rows: int = 0, **kwargs) -> None:  # and Recording's arguments
        super().__init__(*args, **kwargs)
        self._columns = Columns(COLUMN_TYPES, rows)

    def fold(self, rows: list[np.ndarray]) -> None:
        self._columns.append(rows)

    def trace(self, task_ids: np.ndarray | None = None) -> Trace:
        self.flush()
        task, attempt, state, t, worker = self._columns.view()
        return Trace(
            task,
            attempt,
            state,
            t,
            worker,
            workers=self.workers,
            task_ids=task_ids,
            type_of=self.type_of,
            types=self.types,
            capacity=tuple(self.capacity),
            decisions=tuple(self.decisions),
        )
