"""The compiled build: the simulator's hot modules compiled by mypyc in a wheel, used only while
they match their sources.

A wheel built with ``QUEUELAB_MYPYC=1`` (``setup.py``) holds each module of ``COMPILED`` twice:
its source and a C extension mypyc made of it (with the runtime they share, ``GROUP``), and
``sim/_built.py`` with the SHA-256 of each source it compiled. An editable install or a plain
wheel has no extension and runs the sources. Python imports an extension before a source of the
same name, so a source edited in place after the build would be ignored, and a lost extension
would leave the others calling it; ``install`` (run by ``sim/__init__.py``) puts a finder first
that sends every module of ``COMPILED`` to its source unless all of them are there compiled and
match the hashes. All or none: a compiled module calls the others' compiled functions directly,
and takes only their compiled classes.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Mapping, Sequence
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType

# the modules a run calls per task (bench/sim_speed.py's profile), compiled together
COMPILED = (
    "sim.engine.timer",
    "sim.engine.worker",
    "sim.engine.broker",
    "sim.engine.producer",
    "sim.engine.backend",
    "sim.rules.fate",
    "sim.rules.states",
)
GROUP = "sim_compiled"  # mypyc's name for them built together: their runtime is GROUP__mypyc


def source_path(root: Path, module: str) -> Path:
    """The source of ``module`` under ``root``, the folder that holds its top package."""
    return root.joinpath(*module.split(".")).with_suffix(".py")


def source_hashes(root: Path, modules: Sequence[str] = COMPILED) -> dict[str, str]:
    """The SHA-256 of each module's source under ``root``, as a build records them."""
    return {m: hashlib.sha256(source_path(root, m).read_bytes()).hexdigest() for m in modules}


def extension_present(root: Path, module: str) -> bool:
    """Whether ``module`` under ``root`` has a C extension beside its source."""
    stem = root.joinpath(*module.split("."))
    return any(stem.with_name(stem.name + s).is_file() for s in EXTENSION_SUFFIXES)


def fresh(root: Path, built: Mapping[str, str], modules: Sequence[str] = COMPILED) -> bool:
    """Whether every one of ``modules`` under ``root`` is compiled, with the runtime they share,
    by the build that recorded ``built``, from the sources now there (a missing source, record
    or extension: no)."""
    if not all(extension_present(root, m) for m in (*modules, f"{GROUP}__mypyc")):
        return False
    try:
        return all(m in built for m in modules) and source_hashes(root, modules) == {
            m: built[m] for m in modules
        }
    except OSError:
        return False


class SourcesOnly:
    """A finder that imports ``modules`` from their sources, whatever extension lies beside."""

    def __init__(self, modules: Sequence[str]) -> None:
        self.modules = frozenset(modules)

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in self.modules:
            return None
        for folder in path or sys.path:
            source = Path(folder, name.rpartition(".")[2] + ".py")
            if source.is_file():
                return importlib.util.spec_from_file_location(name, source)
        return None


def install(root: Path) -> None:
    """Run the compiled modules under ``root`` (the folder holding ``sim``) only if they are
    all there and its build compiled them from the sources there now."""
    try:
        from sim._built import SOURCES  # written by a compiled wheel's build only
    except ImportError:
        SOURCES = {}  # no compiled build: any extension found here is not this build's
    if not fresh(root, SOURCES):
        sys.meta_path.insert(0, SourcesOnly(COMPILED))


def in_use() -> bool:
    """Whether this process runs the compiled modules (``bench/sim_speed.py`` says which)."""
    from sim.engine import worker

    return not worker.__file__.endswith(".py")
