"""The data files a scenario names: service times to resample (``service.file``) and arrival
times to replay (``arrivals.file``), numbers one per line or in a CSV's first column.

They are read when the scenario is loaded (``check``), as its fields are validated, so a file
that is missing, unreadable or out of range is a ``ScenarioError`` naming the field, at once:
not a traceback of whatever reads it first, a page or a run half done. Each check reads a file
again only when it has changed (its ``Stamp``: an edited CSV is read at the next load, where
a cache by path alone kept the app's server on the old numbers until a restart), and a run
reads the numbers its check read (``read_numbers``), so what was checked is what runs. A
long-running server (the app's, shared) holds the numbers of its ``HELD_FILES`` files read most
lately, one version each: every file it had read stayed held until it stopped.
"""

from __future__ import annotations

import csv
import math
import os
import re
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim.fields import ScenarioError
from sim.scenario_io import endless
from sim.sections import MAX_RATE, MAX_SECONDS, MAX_TASKS, MIN_SERVICE, Arrivals, Service

if TYPE_CHECKING:
    from sim.scenario import Scenario


# what a data file holds, said where a line or a file is refused
TAKES = "a data file holds one finite number >= 0 a line, or a CSV's first column under a header"

# how a number with a comma in it is to be written instead
DECIMAL_POINT = "write a number with a decimal point and no thousands separator (0.5, 1234.5)"

# a cell that begins as a number does: a line of it is data, never a header ("1e" is no number)
NUMBER_START = re.compile(r"[+-]?\.?\d")


# what tells an edited file from the one read: its inode (an editor's save often writes a new
# file and renames it over the old), size and modification time in ns
Stamp = tuple[int, int, int]

# a file's numbers as its last check read them, with its stamp then
Held = tuple[Stamp | None, tuple[float, ...]]

# files whose numbers are held at most, one version each: 1,000 files of 1,000 numbers held
# 33 MB that the app's server never gave back. A file dropped is read again when next needed
HELD_FILES = 64

# the held files, the one read least lately first; Streamlit's sessions are threads of a process
_held: dict[str, Held] = {}
_lock = threading.Lock()


def stamp(path: str) -> Stamp | None:
    """The file's stamp now; None where it cannot be read (then said by ``load_numbers``)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: a path with a NUL byte
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def read_numbers(path: str) -> tuple[float, ...]:
    """The numbers of ``path`` as its last check read them (``load_numbers``), read now if none
    has: a run reads what was checked, even if the file has been edited since."""
    held = _touched(path)
    return held[1] if held is not None else load_numbers(path)


def load_numbers(path: str) -> tuple[float, ...]:
    """The numbers in ``path`` now: read again only if its stamp changed since the last read."""
    return _load(path)[1]


def _load(path: str) -> Held:
    """``path``'s numbers now with their stamp, held as the file read most lately. Stamped
    before it is read, so a file edited during the read is read again next time."""
    now = stamp(path)
    held = _touched(path)
    if now is None or held is None or held[0] != now:
        held = (now, _parse(path))  # outside the lock: a long file holds up no other session
        with _lock:
            _held.pop(path, None)
            _held[path] = held
            while len(_held) > HELD_FILES:
                del _held[next(iter(_held))]
    return held


def _touched(path: str) -> Held | None:
    """``path``'s held numbers, now the file read most lately; None if none are held."""
    with _lock:
        held = _held.pop(path, None)
        if held is not None:
            _held[path] = held
    return held


def paths(scenario: Scenario) -> tuple[str, ...]:
    """The data files ``scenario`` reads, each once: what a run's output must not be written
    over (``simulate --trace`` onto its own service file replaced the user's times)."""
    files = [a.file for _, a in _arrivals(scenario)]
    files += [t.service.file for t in scenario.task_types if _from_file(t.service)]
    return tuple(dict.fromkeys(files))


def stamps(scenario: Scenario) -> tuple[tuple[str, Stamp | None], ...]:
    """Each data file ``scenario`` names with the stamp of the numbers its run reads: with its
    TOML text, what says a cached run of it was made of the same numbers. A file no longer held
    is read again by its run (``read_numbers``), so its stamp is the file's now."""
    return tuple((f, _stamp_read(f)) for f in paths(scenario))


def _stamp_read(path: str) -> Stamp | None:
    """The stamp of the numbers a run of ``path`` reads: held ones', else the file's now."""
    held = _held.get(path)
    return held[0] if held is not None else stamp(path)


def changed(read: tuple[tuple[str, Stamp | None], ...]) -> list[str]:
    """The files of ``read`` (``stamps`` when a run read them) edited since: a load now reads
    other numbers than that run did, and so does a simulation set beside it."""
    return [path for path, at in read if stamp(path) != at]


def _parse(path: str) -> tuple[float, ...]:
    """Non-negative numbers from a text file (``_numbered``), without their lines."""
    return tuple(value for _, value in _numbered(path))


def _line_of(path: str, value: float) -> int:
    """The line of ``path`` that holds ``value`` (the first), for an error naming it: only a
    refused file is read for it, so the lines are not held beside every checked number."""
    return next(n for n, number in _numbered(path) if number == value)


def _numbered(path: str) -> list[tuple[int, float]]:
    """Non-negative numbers from a text file with their lines: one per line, or the first
    column of a CSV whose header line names its columns. Without that header a comma followed
    by a digit is refused, as it reads three ways: a decimal comma ("0,5"), a thousands
    separator ("1,234.5"), or a second column; taking the first column, the first two read 0
    and 1, silently wrong."""
    file = Path(path)
    if endless(file):  # a pasted "/dev/zero" filled the memory of the app's server
        raise ScenarioError(
            f"data file {path!r} is a device or a pipe, not a file: give a file of numbers"
        )
    try:
        # past a byte-order mark (Excel's "CSV UTF-8"): read as a header, it dropped the first
        lines = file.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        # a scenario file's relative paths were made absolute beside it as it was read, and the
        # app's in its data folder (``scenario_io.confined``); those of --set and of text read
        # without a folder are the working folder's, and the bare "does not exist" left the
        # user guessing where it looked
        where = (
            ""
            if file.is_absolute()
            else f": a relative path is looked for in the working folder, {Path.cwd()}, when "
            "the scenario is not a file to read it beside (--set, TOML text): "
            "give the data file's absolute path"
        )
        raise ScenarioError(f"data file {path!r} does not exist{where}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"data file {path!r} is not text: give numbers one per line") from None
    except OSError as err:  # a folder, a file this user may not read
        raise ScenarioError(f"data file {path!r} cannot be read: {err.strerror}") from None
    numbers: list[tuple[int, float]] = []
    columns = False  # a header line named columns
    for n, line in enumerate(lines, 1):
        try:
            cell, *rest = _cells(line)
        except csv.Error:  # the one it raises here: a cell past its size limit
            raise ScenarioError(
                f"{path}:{n}: a cell of over {csv.field_size_limit():,} characters: {TAKES}"
            ) from None
        if not cell or cell.startswith("#"):
            continue
        try:
            value = float(cell)
        except ValueError:
            if not numbers and not NUMBER_START.match(cell):  # a header line
                columns = columns or bool(rest)
                continue
            if "," in cell:  # a cell in quotes, "1,5", as a spreadsheet writes a decimal comma
                raise ScenarioError(
                    f"{path}:{n}: {cell!r} has a comma in a number, a decimal comma or a "
                    f"thousands separator: {DECIMAL_POINT}"
                ) from None
            raise ScenarioError(f"{path}:{n}: {cell!r} is not a number: {TAKES}") from None
        if rest and not columns and rest[0][:1].isdigit():
            raise ScenarioError(
                f"{path}:{n}: {line.strip()!r} has a comma before a digit: {DECIMAL_POINT}, "
                "or, for columns, begin the file with a header line naming them (its first "
                "column is read)"
            )
        if not math.isfinite(value) or value < 0:
            raise ScenarioError(f"{path}:{n}: {cell!r} must be a finite number >= 0")
        numbers.append((n, value))
    if not numbers:
        raise ScenarioError(f"data file {path!r} holds no numbers: {TAKES}")
    return numbers


def _cells(line: str) -> list[str]:
    """A line's cells by CSV's rules, each stripped; one empty cell for an empty line. A cell
    in quotes is one cell, as a spreadsheet writes one: "1.5" was read as a header, and
    "1,5" was cut at its comma into "1 and 5"."""
    cells = next(csv.reader([line.strip()], skipinitialspace=True), None)
    return [cell.strip() for cell in cells] if cells else [""]


def check(scenario: Scenario) -> None:
    """Read every data file ``scenario`` names and check its numbers against the run; the
    error names the field (``tasks.<name>.service.file`` for a task type's own)."""
    for field, arrivals in _arrivals(scenario):
        at, times = _numbers(f"{field}.file", arrivals.file)
        _check_span(f"{field}.file", arrivals.file, at)
        if arrivals.replay == "resample" and scenario.run.duration and len(times) > 1:
            mean_gap = (max(times) - min(times)) / (len(times) - 1)
            expected = scenario.run.duration / mean_gap if mean_gap else 0.0  # 0: replayed as is
            if expected > MAX_TASKS:
                raise ScenarioError(
                    f"run.duration = {scenario.run.duration:g} resamples about {expected:.3g} "
                    f"arrivals from {field}.file: must be <= {MAX_TASKS} like run.tasks"
                )
    for kind in scenario.task_types:
        field = f"tasks.{kind.name}.service.file" if scenario.tasks else "service.file"
        if _from_file(kind.service):
            file = kind.service.file
            longest = max(_numbers(field, file)[1])
            where = f"{field} {file!r} (line {_line_of(file, longest)})"
            if longest > MAX_SECONDS:
                raise ScenarioError(
                    f"{where}: a service time of {longest:g} s: must be <= {MAX_SECONDS:g}"
                )
            # held to the floor as a uniform is, by its top (service.high): times below it
            # among others stay, as a uniform's draws from low = 0 may fall below it
            if longest < MIN_SERVICE:
                raise ScenarioError(
                    f"{where}: its longest service time is {longest:g} s: "
                    f"must be >= {MIN_SERVICE:g} s, as service.high (a task takes some time)"
                )


# a scenario is checked at every replace: a sweep's points read one file (``at``: its stamp, so
# an edited file is checked again)
@lru_cache(maxsize=64)
def _check_span(field: str, path: str, at: Stamp | None) -> None:
    """Arrivals, replayed from the first, over a span within the range of every time (later, a
    task's service falls below the float's resolution: 1e17 s after the first, a sojourn of
    0.7 s read 0), and apart by no less than ``arrivals.rate``'s bound allows, or together (two
    1e-320 s apart made the overload warning's rate infinite)."""
    ordered = np.sort(np.asarray(read_numbers(path)))
    span = ordered[-1] - ordered[0]
    if span > MAX_SECONDS:
        first, last = (_line_of(path, float(t)) for t in (ordered[0], ordered[-1]))
        raise ScenarioError(
            f"{field} {path!r}: its arrivals span {span:g} s, from {ordered[0]:g} (line "
            f"{first}) to {ordered[-1]:g} (line {last}): must be <= {MAX_SECONDS:g}"
        )
    gaps = np.diff(ordered)
    closest = gaps[gaps > 0].min(initial=math.inf)
    if closest < 1 / MAX_RATE:
        at = int(np.flatnonzero(gaps == closest)[0])
        lines = " and ".join(
            f"{t:g} (line {_line_of(path, float(t))})" for t in ordered[at : at + 2]
        )
        raise ScenarioError(
            f"{field} {path!r}: two arrivals {closest:g} s apart, {lines}: arrivals at "
            f"different times must be at least {1 / MAX_RATE:g} s apart (arrivals.rate <= "
            f"{MAX_RATE:g})"
        )


def _arrivals(scenario: Scenario) -> Iterator[tuple[str, Arrivals]]:
    """The arrival tables that replay a file, by the field that names them."""
    if scenario.arrivals.process == "trace":
        yield "arrivals", scenario.arrivals
    for kind in scenario.tasks:
        if kind.arrivals and kind.arrivals.process == "trace":
            yield f"tasks.{kind.name}.arrivals", kind.arrivals


def _from_file(service: Service) -> bool:
    """Whether the service times are resampled from a file (not inline ``values``)."""
    return service.dist == "empirical" and not service.values


def _numbers(field: str, path: str) -> Held:
    """``_load`` with the field that names the file in its error."""
    try:
        return _load(path)
    except ScenarioError as err:
        raise ScenarioError(f"{field}: {err}") from None
