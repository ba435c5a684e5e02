"""The simulator; its hot modules run compiled where a wheel's build compiled them from these
very sources (``sim.compiled``), else as Python."""

from pathlib import Path

from sim import compiled

compiled.install(Path(__file__).parent.parent)
