"""The trace: one row per state change of a task, the one interface every engine writes.

Rows are held as NumPy columns (task index, attempt, state code, time, worker index), so a
million-task trace is a few arrays, not millions of Python objects. On disk it is CSV or Parquet
by suffix, with columns ``task_id, attempt, state, t, worker``; rows sorted by ``t`` with ties in
causal order. The same trace gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sim.states import CODES, NAMES

COLUMNS = ("task_id", "attempt", "state", "t", "worker")


class TraceError(ValueError):
    """A trace file cannot be read; the message says which file and what is wrong."""


@dataclass(frozen=True, eq=False)
class Trace:
    """State-change rows as columns; ``task`` and ``worker`` index ``task_ids`` and ``workers``."""

    task: np.ndarray  # int64 index into task_ids
    attempt: np.ndarray  # int32
    state: np.ndarray  # int8 code from sim.states
    t: np.ndarray  # float64 seconds of scenario time
    worker: np.ndarray  # int32 index into workers, -1 for none
    workers: tuple[str, ...]
    task_ids: np.ndarray | None = None  # str per task index; None: the index itself

    def __len__(self) -> int:
        return len(self.t)

    @property
    def n_tasks(self) -> int:
        """Tasks the trace knows of (task indices are 0 … n_tasks-1)."""
        if self.task_ids is not None:
            return len(self.task_ids)
        return int(self.task.max()) + 1 if len(self.task) else 0

    def to_arrow(self) -> pa.Table:
        """The trace in its file layout: string ids, state names, worker names."""
        if self.task_ids is None:
            ids = pa.array(self.task).cast(pa.string())
        else:
            ids = pc.take(pa.array(self.task_ids, pa.string()), pa.array(self.task))
        worker_names = pa.array(("",) + self.workers, pa.string())
        return pa.table(
            {
                "task_id": ids,
                "attempt": pa.array(self.attempt, pa.int32()),
                "state": pc.take(pa.array(NAMES, pa.string()), pa.array(self.state)),
                "t": pa.array(self.t, pa.float64()),
                "worker": pc.take(worker_names, pa.array(self.worker + 1)),
            }
        )

    def write(self, path: str | Path) -> None:
        """Write CSV or Parquet, chosen by the file's suffix."""
        path = Path(path)
        path.write_bytes(self.to_bytes(path.suffix.lstrip(".")))

    def to_bytes(self, kind: str) -> bytes:
        """The file contents for ``kind`` "csv" or "parquet" (for downloads and ``write``)."""
        sink = pa.BufferOutputStream()
        table = self.to_arrow()
        if kind == "parquet":
            pq.write_table(table, sink)
        elif kind == "csv":
            pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="needed"))
        else:
            raise TraceError(f"{kind!r}: trace files end in .csv or .parquet")
        return sink.getvalue().to_pybytes()


def read(path: str | Path) -> Trace:
    """Read a trace written by any engine (or by hand) back into columns."""
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        elif path.suffix == ".csv":
            options = pacsv.ConvertOptions(
                column_types={"task_id": pa.string(), "worker": pa.string()},
                strings_can_be_null=False,
            )
            table = pacsv.read_csv(path, convert_options=options)
        else:
            raise TraceError(f"{path}: trace files end in .csv or .parquet")
    except FileNotFoundError:
        raise TraceError(f"trace file {str(path)!r} does not exist") from None
    except pa.ArrowInvalid as err:
        raise TraceError(f"{path}: not a readable trace: {err}") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise TraceError(f"{path}: missing columns {missing}; a trace has {list(COLUMNS)}")
    return from_arrow(table, str(path))


def from_arrow(table: pa.Table, source: str = "trace") -> Trace:
    """Columns of a trace table (string ids and names) as a Trace."""
    ids, task = np.unique(_strings(table, "task_id"), return_inverse=True)
    names, state = np.unique(_strings(table, "state"), return_inverse=True)
    unknown = sorted(set(names.tolist()) - set(NAMES))
    if unknown:
        raise TraceError(f"{source}: unknown state {unknown[0]!r}; states are {list(NAMES)}")
    codes = np.array([CODES[n] for n in names.tolist()], dtype=np.int8)
    workers, worker = np.unique(_strings(table, "worker"), return_inverse=True)
    worker_list = [w for w in workers.tolist() if w]
    index = {w: i for i, w in enumerate(worker_list)}
    lookup = np.array([index.get(w, -1) for w in workers.tolist()], dtype=np.int32)
    return Trace(
        task=task.astype(np.int64),
        attempt=table["attempt"].to_numpy().astype(np.int32),
        state=codes[state] if len(state) else np.zeros(0, np.int8),
        t=table["t"].to_numpy().astype(np.float64),
        worker=lookup[worker] if len(worker) else np.zeros(0, np.int32),
        workers=tuple(worker_list),
        task_ids=ids,
    )


def _strings(table: pa.Table, column: str) -> np.ndarray:
    return table[column].to_numpy(zero_copy_only=False).astype(str)


class Recorder:
    """Appends rows as a run produces them; ``trace()`` freezes them into columns.

    The newest rows wait in ``rows`` as tuples — a list append is the cheapest thing CPython
    does, and the simulator's hot path calls ``rows.append`` directly — and every ``CHUNK`` rows
    ``pack`` moves them into the trace's typed columns, 25 bytes a row. So a run holds at most
    one chunk of Python objects, and ``trace`` joins each column's chunks without building a
    wider table first.
    """

    TYPES = (np.int64, np.int32, np.int8, np.float64, np.int32)  # task, attempt, state, t, worker
    CHUNK = 1 << 16

    def __init__(self, workers: tuple[str, ...] = ()) -> None:
        self.workers = workers
        self.rows: list[tuple] = []
        # one chunk of columns per pack; the empty first one types an empty trace's columns
        self._chunks: list[list[np.ndarray]] = [[np.zeros(0, kind) for kind in self.TYPES]]

    def add(self, task: int, attempt: int, state: int, t: float, worker: int = -1) -> None:
        self.rows.append((task, attempt, state, t, worker))
        if len(self.rows) >= self.CHUNK:
            self.pack()

    def pack(self) -> None:
        """Move the waiting rows into typed columns (callers on a hot path call this when
        ``len(rows) >= CHUNK``; ``trace`` calls it too)."""
        if self.rows:
            width = len(self.TYPES)
            flat = np.fromiter(chain.from_iterable(self.rows), np.float64, width * len(self.rows))
            table = flat.reshape(-1, width)
            self._chunks.append([table[:, i].astype(kind) for i, kind in enumerate(self.TYPES)])
            self.rows.clear()

    def trace(self, task_ids: np.ndarray | None = None) -> Trace:
        self.pack()
        columns = zip(*self._chunks, strict=True)
        task, attempt, state, t, worker = (np.concatenate(chunks) for chunks in columns)
        return Trace(task, attempt, state, t, worker, workers=self.workers, task_ids=task_ids)
