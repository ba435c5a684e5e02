"""The ``queuelab`` command's entry point: a Ctrl-C before its modules have loaded."""

import json
import sys
import tomllib
from pathlib import Path

from queuelab import __main__ as entry

ROOT = Path(__file__).resolve().parents[2]


class CtrlCAt:
    """An import finder that stands for a Ctrl-C pressed while ``name`` is being imported."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, name, path=None, target=None):
        if name == self.name:
            raise KeyboardInterrupt
        return None


def test_a_ctrl_c_while_the_command_imports_is_said_not_a_traceback(monkeypatch, capsys):
    """Most of a second of imports (NumPy, SimPy, the model) come before the command's code:
    a Ctrl-C there printed a traceback of the import it cut."""
    monkeypatch.delitem(sys.modules, "queuelab.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [CtrlCAt("queuelab.cli"), *sys.meta_path])
    assert entry.main() == 130
    assert capsys.readouterr().err == "queuelab: interrupted\n"


def test_the_queuelab_script_is_this_entry_point():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["queuelab"] == "queuelab.__main__:main"


def test_a_command_started_with_stderr_closed_runs_and_prints_its_result(monkeypatch, capsys):
    """``queuelab simulate … 2>&-``: Python gives no sys.stderr then, and the progress bar's
    first look at it ended the run with a traceback that went nowhere: exit 1, no summary."""
    monkeypatch.setattr(sys, "stderr", None)
    args = ["queuelab", "simulate", "scenarios/mmc.toml", "--set", "run.tasks=50", "--json"]
    monkeypatch.setattr(sys, "argv", args)
    assert entry.main() == 0
    assert json.loads(capsys.readouterr().out)["tasks_submitted"] == 50
