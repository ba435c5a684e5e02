"""Scenario files as TOML: text and files to plain nested tables and back.

This module knows the format, not the fields: ``sim.scenario`` declares and validates what it
reads. A relative ``file`` in a table is a data file next to the scenario, so a scenario and its
data travel together; a lesson's ``[lesson]`` table is teaching metadata that every reader of a
scenario skips.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sim.fields import ScenarioError

log = logging.getLogger(__name__)


def parse(text: str) -> dict[str, Any]:
    """Tables from TOML text (pasted or uploaded), without the lesson table."""
    return without_lesson(_toml(text, "malformed TOML"))


def _toml(text: str, where: str) -> dict[str, Any]:
    """TOML text's tables; ScenarioError, headed ``where``, when it is not TOML. A byte-order
    mark (a Windows editor's) is read past; arrays nested past Python's recursion limit, which
    tomllib would raise as RecursionError, are malformed here."""
    try:
        return tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{where}: {err}") from None
    except RecursionError:
        raise ScenarioError(f"{where}: arrays or tables nested too deep") from None


def read(path: str | Path, overrides: bool = False) -> dict[str, Any]:
    """A scenario file's tables, without the lesson table; a file that sets nothing warns, as it
    is most likely the wrong file (``overrides``: some fields come from ``--set``)."""
    raw = without_lesson(read_toml(path))
    if not raw:
        log.warning(
            "warning: scenario file %s sets no fields: every field %stakes its default",
            path,
            "not given with --set " if overrides else "",
        )
    return raw


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file's raw tables, the lesson table included, with relative ``file`` fields
    resolved against the file's folder, made absolute: a scenario read by a relative path
    (`queuelab live mine.toml` in its folder) is written out for a live run's workers to a
    temp folder, where a path relative to the working folder would name nothing."""
    path = Path(path)
    if path.is_dir() or endless(path):
        raise ScenarioError(f"{path}: not a file: a scenario is a TOML file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"scenario file {str(path)!r} does not exist") from None
    raw = _toml(text_of(data, str(path)), f"{path}: malformed TOML")
    for table in tables_in(raw):
        file = table.get("file")
        if isinstance(file, str) and file and not Path(file).is_absolute():
            table["file"] = str(path.absolute().parent / file)
    return raw


def text_of(data: bytes, name: str) -> str:
    """A scenario file's bytes (``name``: its path, or an upload's name) as text, UTF-8 or a
    ScenarioError: decoded with replacement, the app read a UTF-16 upload (Windows Notepad's
    "Unicode") as malformed TOML at line 1, column 1."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{name}: not a text file: a scenario is TOML in UTF-8") from None


def endless(path: Path) -> bool:
    """A device or a pipe, not a file: read whole, /dev/zero never ends (it fills the memory)
    and a pipe no one writes to blocks for ever."""
    return path.is_char_device() or path.is_block_device() or path.is_fifo() or path.is_socket()


def confined(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``raw`` with each data file (a table's ``file``) made an absolute path in ``folder``, a
    relative one read there: the app's rule for text it is given (pasted or uploaded), whose
    ``file = "/etc/hosts"`` had its server read any file and say its first line in the error.
    A file that lies outside, its links followed (``..``, a link out of the folder), is refused
    before anything reads or looks at it, so the error is one whether it exists or not."""
    root = folder.resolve()
    for table in tables_in(raw):
        file = table.get("file")
        if not isinstance(file, str) or not file:
            continue  # no file, or not a string: the field's own check says so
        try:
            path = (root / file).resolve()
        except (OSError, RuntimeError, ValueError):  # a loop of links, a NUL byte
            path = None
        if path is None or not path.is_relative_to(root):
            raise ScenarioError(
                f"data file {file!r} is not in the app's data folder, {root} (QUEUELAB_APP_DATA "
                "where the app starts): the app reads data files only there, named by their "
                "path in it; the command line (`queuelab simulate`, `live`, …) reads any path"
            )
        table["file"] = str(path)
    return raw


def tables_in(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every table below ``data``: ``[service]``, and a task type's ``[tasks.service]`` within
    an array of tables."""
    for value in data.values():
        for table in value if isinstance(value, list) else [value]:
            if isinstance(table, dict):
                yield table
                yield from tables_in(table)


def without_lesson(raw: dict[str, Any]) -> dict[str, Any]:
    """The tables without ``[lesson]`` (see ``sim.analysis.lessons``): not part of the scenario."""
    raw.pop("lesson", None)
    return raw


def parse_override(text: str) -> tuple[str, Any]:
    """``workers.count=8`` → ("workers.count", 8); values are TOML, bare words are strings."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(f"--set {text!r}: expected KEY=VALUE, e.g. workers.count=8")
    try:
        return key, tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value.strip()
    except RecursionError:
        raise ScenarioError(f"--set {key}: arrays nested too deep") from None


def dumps(data: dict[str, Any]) -> str:
    """Nested tables as TOML text: top-level values first, then one ``[table]`` per dict, then
    one ``[[table]]`` per element of a list of dicts (task types, pools), with its sub-tables."""
    lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if not _is_table(v)]
    for name, value in data.items():
        for table in [value] if isinstance(value, dict) else value if _is_table(value) else []:
            lines.append(f"\n[[{name}]]" if isinstance(value, list) else f"\n[{name}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
            for sub, inner in table.items():
                if isinstance(inner, dict):
                    lines.append(f"[{name}.{sub}]")
                    lines += [f"{k} = {toml_value(v)}" for k, v in inner.items()]
    return "\n".join(lines) + "\n"


def _is_table(value: Any) -> bool:
    """A dict, or a non-empty list of dicts (an array of tables)."""
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
    )


def toml_value(value: Any) -> str:
    """One value as TOML writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # JSON escapes are TOML escapes; TOML also wants DEL escaped, and no surrogate pairs
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)
