"""A long run's result is never lost to the path it was asked to go to.

``calibrate`` and ``record`` check ``--out`` before they start, but by the end of the run its
folder can be gone or no longer writable (removed, unmounted, its permissions changed), and the
run's result went with the error. ``save`` writes it where asked or, failing that, under the
same name in a new folder of the temp dir (never over another file), and says which.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Saved(Generic[T]):
    """What the writer returned and where it wrote; ``failed`` says why that is not where it
    was asked to ("" when it is)."""

    value: T
    path: Path
    failed: str = ""


def save(path: Path, write: Callable[[Path], T]) -> Saved[T]:
    """``write(path)``; if that fails (OSError), ``write`` to ``path``'s name in a new temp
    folder instead (its data files beside it, as ``write`` puts them beside its path), and
    remove what it wrote of ``path``: a file cut short (a full disk) must not pass for the
    result. A file there that the write never touched (one it could not open) is kept. An
    error in the temp folder too is raised: there is nowhere left to write."""
    before = _state(path)
    try:
        return Saved(write(path), path)
    except OSError as err:
        if _state(path) not in (before, None):
            with contextlib.suppress(OSError):
                path.unlink()
        fallback = Path(tempfile.mkdtemp(prefix=f"{path.stem}-")) / path.name
        value = write(fallback)
        why = err.strerror or str(err)
        return Saved(value, fallback, f"could not write {path} ({why}); wrote it to {fallback}")


def _state(path: Path) -> tuple[int, int, int] | None:
    """What tells a file written since from one left alone (None: no file there)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns
