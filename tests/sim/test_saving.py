"""A result whose folder went away is written to a temp folder instead, and said so."""

import errno
import os
import tempfile
from pathlib import Path

import pytest

from sim.saving import save


def written(path: Path) -> str:
    """Writes a scenario and its data file beside it, as ``record`` does; what it wrote."""
    (path.parent / f"{path.stem}-arrivals.csv").write_text("t\n0\n")
    path.write_text('arrivals.file = "out-arrivals.csv"\n')
    return path.read_text()


def test_a_result_goes_where_asked(tmp_path):
    saved = save(tmp_path / "out.toml", written)
    assert (saved.path, saved.failed) == (tmp_path / "out.toml", "")
    assert saved.value == saved.path.read_text()


def test_a_result_whose_folder_is_gone_goes_to_a_temp_folder_with_its_data_files(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    asked = tmp_path / "gone" / "out.toml"
    saved = save(asked, written)
    assert saved.path.parent.parent == tmp_path / "tmp" and saved.path.name == "out.toml"
    assert saved.value == saved.path.read_text()
    assert (saved.path.parent / "out-arrivals.csv").exists()
    why = "No such file or directory"
    assert saved.failed == f"could not write {asked} ({why}); wrote it to {saved.path}"


def test_nowhere_to_write_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    with pytest.raises(OSError):
        save(tmp_path / "gone" / "out.toml", written)


def test_a_result_cut_short_where_asked_is_removed_there(tmp_path, monkeypatch):
    """A full disk: the first write stops part-way; the part left where asked would pass for
    the whole result."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    tries = []

    def write(path: Path) -> None:
        tries.append(path)
        with path.open("w") as f:
            f.write("t\n0\n")
            if len(tries) == 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            f.write("1\n")

    saved = save(tmp_path / "out.csv", write)
    assert not (tmp_path / "out.csv").exists()
    assert saved.path.read_text() == "t\n0\n1\n"
    assert "(No space left on device)" in saved.failed


def test_a_file_the_write_could_not_open_is_kept(tmp_path, monkeypatch):
    """``--out`` naming a read-only file of the user's: the write fails at its open, and the
    file was removed as if the write had cut it short."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    theirs = tmp_path / "out.toml"
    theirs.write_text("their own\n")

    def write(path: Path) -> None:
        if path == theirs:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        path.write_text("fit\n")

    saved = save(theirs, write)
    assert theirs.read_text() == "their own\n"
    assert saved.path.read_text() == "fit\n" and "(Permission denied)" in saved.failed
