"""queuelab's build: pure Python (``pyproject.toml`` says the rest), or, for a wheel built with
``QUEUELAB_MYPYC=1``, the simulator's hot modules compiled by mypyc beside their sources, as
black and mypy ship theirs (``sim.compiled`` runs them only while they match the sources):

    pip install mypy==2.4.1
    QUEUELAB_MYPYC=1 pip wheel --no-build-isolation --no-deps -w dist .

An editable install (``pip install -e .``) is never compiled.
"""

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
COMPILING = (
    os.environ.get("QUEUELAB_MYPYC") == "1"
    and "bdist_wheel" in sys.argv
    and "editable_wheel" not in sys.argv
)


class BuildPy(build_py):
    """Copies the sources; a compiled build also records the hash of each it compiled."""

    def run(self) -> None:
        super().run()
        if COMPILING:
            hashes = compiled.source_hashes(ROOT)
            Path(self.build_lib, "sim", "_built.py").write_text(
                '"""Written by setup.py: the SHA-256 of each source this build compiled."""\n\n'
                f"SOURCES = {hashes!r}\n"
            )


ext_modules = []
if COMPILING:
    try:
        from mypyc.build import mypycify
    except ImportError:
        sys.exit("QUEUELAB_MYPYC=1 needs mypy 2.4.1 (mypyc) where the wheel is built")
    sys.path.insert(0, str(ROOT))
    from sim import compiled

    ext_modules = mypycify(
        # only the compiled modules must type-check: the rest are read for their types
        [
            "--follow-imports=silent",
            *(str(compiled.source_path(Path(), m)) for m in compiled.COMPILED),
        ],
        group_name=compiled.GROUP,
    )

setup(ext_modules=ext_modules, cmdclass={"build_py": BuildPy})
