"""The compiled build runs only while every compiled module matches its source."""

import importlib
import importlib.util
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader
from pathlib import Path

import pytest

from sim import compiled

MODULES = ("stalepkg.a", "stalepkg.b")


def built_tree(root: Path) -> dict[str, str]:
    """A package whose two modules lie there as sources and as (dummy) extensions, with the
    group's runtime; returns the hashes a build of these sources records."""
    package = root / "stalepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("a", "b"):
        (package / f"{name}.py").write_text(f'VALUE = "{name} from its source"\n')
        (package / f"{name}{EXTENSION_SUFFIXES[0]}").write_bytes(b"not a shared object")
    (root / f"{compiled.GROUP}__mypyc{EXTENSION_SUFFIXES[0]}").write_bytes(b"")
    return compiled.source_hashes(root, MODULES)


def test_a_build_is_fresh_only_with_every_source_unchanged_and_every_extension_there(tmp_path):
    built = built_tree(tmp_path)
    assert compiled.fresh(tmp_path, built, MODULES)
    assert not compiled.fresh(tmp_path, {}, MODULES)  # no record: not this build's
    assert not compiled.fresh(tmp_path, {MODULES[0]: built[MODULES[0]]}, MODULES)

    (tmp_path / "stalepkg" / "b.py").write_text('VALUE = "edited"\n')
    assert not compiled.fresh(tmp_path, built, MODULES)
    assert compiled.fresh(tmp_path, compiled.source_hashes(tmp_path, MODULES), MODULES)

    (tmp_path / "stalepkg" / f"a{EXTENSION_SUFFIXES[0]}").unlink()
    assert not compiled.fresh(tmp_path, compiled.source_hashes(tmp_path, MODULES), MODULES)


def test_a_stale_build_imports_the_sources_though_python_prefers_the_extension(
    tmp_path, monkeypatch
):
    built_tree(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("stalepkg", *MODULES):
        monkeypatch.delitem(sys.modules, name, raising=False)
    spec = importlib.util.find_spec(MODULES[0])
    assert isinstance(spec.loader, ExtensionFileLoader)  # what Python alone would load

    monkeypatch.setattr(sys, "meta_path", [compiled.SourcesOnly(MODULES), *sys.meta_path])
    assert importlib.import_module(MODULES[0]).VALUE == "a from its source"
    assert importlib.import_module(MODULES[1]).VALUE == "b from its source"
    for name in MODULES:
        monkeypatch.delitem(sys.modules, name)


def test_this_process_runs_compiled_exactly_when_its_build_is_fresh():
    """An editable install or checkout (no build record) runs the sources; a compiled wheel
    (``.ci/compiled`` runs these tests on one) runs its extensions."""
    root = Path(compiled.__file__).parent.parent
    try:
        from sim._built import SOURCES
    except ImportError:
        SOURCES = {}
    assert compiled.in_use() == compiled.fresh(root, SOURCES)


@pytest.mark.parametrize("module", compiled.COMPILED)
def test_every_compiled_module_has_a_source(module):
    root = Path(compiled.__file__).parent.parent
    assert compiled.source_path(root, module).is_file()
