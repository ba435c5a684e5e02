"""Lessons: a scenario that shows a pitfall real Celery users hit, the knob that fixes it, and the
summary figure that moves.

A lesson is a scenario file in ``scenarios/lessons/`` with a ``[lesson]`` table::

    [lesson]
    title = "Prefetch: short tasks wait behind long ones"
    story = "Two sentences: what users see and why."
    figure = "wait_p99"            # a Summary field, or one task type's, queue's or pool's:
                                   # "by_task.short.wait_p99", "by_queue.slow.queue_len_max"
    better = "lower"               # which way the fix moves it: lower | higher
    [lesson.fix]                   # the knob(s) at the fix side, as --set would give them
    "workers.prefetch_multiplier" = 1
    [lesson.live]                  # optional: the lesson is quick enough to run on real Celery
    time_scale = 0.05              # wall seconds per scenario second
    tasks = 200                    # fewer tasks than the simulated run, to stay a minute or two

``run`` simulates both sides on the same seed and draws, so the difference is the knob's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim import costs, scenario_io
from sim import scenario as scenario_module
from sim.analysis.groups import GROUP_FIGURES
from sim.analysis.metrics import Summary, backend_pending, result_memory
from sim.analysis.runs import summarize
from sim.engine.model import simulate
from sim.scenario import Scenario, ScenarioError
from sim.trace import Trace
from sim.words import seconds

LESSONS = Path(__file__).resolve().parents[2] / "scenarios" / "lessons"


@dataclass(frozen=True)
class LiveRun:
    """How to show a lesson on real Celery in a minute or two."""

    time_scale: float
    tasks: int


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    story: str
    figure: str
    better: str
    fix: dict[str, Any]
    scenario: Scenario
    live: LiveRun | None = None

    def fixed(self) -> Scenario:
        """The same scenario with the knob turned to the fix side."""
        return self.scenario.replace(**self.fix)

    def run(self) -> tuple[dict[str, float], dict[str, float]]:
        """Figures of the default side and the fix side, same seed and draws."""
        return figures(self.scenario), figures(self.fixed())

    def live_scenarios(self) -> tuple[Scenario, Scenario]:
        """Both sides, shortened for a live run."""
        if self.live is None:
            raise ScenarioError(f"lesson {self.name} has no [lesson.live]: it runs simulated only")
        short = {"run.tasks": self.live.tasks}
        return self.scenario.replace(**short), self.fixed().replace(**short)

    def live_simulated(
        self, paying: Callable[[Scenario], Scenario] = lambda sc: sc
    ) -> tuple[Scenario, Scenario]:
        """Both live sides as the simulation of their live run: ``paying`` Celery's costs (a
        host's, as measured: ``LiveSession.paying``; else the scenario's), in scenario seconds
        at the live time scale with the live run's restore scans, as ``compare`` simulates a
        run (at time scale 1 lesson 01's fix predicted a p99 wait of 0.28 beside 1.23 on real
        Celery; at 0.05, 0.78)."""
        default, fixed = self.live_scenarios()  # a lesson without [lesson.live] stops here
        scale = self.live.time_scale
        return tuple(costs.beside_live_run(paying(sc), scale) for sc in (default, fixed))


def figures(sc: Scenario, trace: Trace | None = None) -> dict[str, float]:
    """The summary of ``trace`` (a simulation of ``sc`` if None) plus the lessons' figures; a
    task type's, queue's or pool's figures flattened: ``"by_task.short.wait_p99"``."""
    trace = simulate(sc) if trace is None else trace
    summary = summarize(trace, sc).to_dict()
    groups = {kind: summary.pop(kind) for kind in GROUP_FIGURES}
    _, memory = result_memory(trace, sc.results.expires, sc.results.size)
    pending = backend_pending(trace, sc.results.track_started)
    return {
        **summary,
        **{
            f"{kind}.{name}.{field}": value
            for kind, members in groups.items()
            for name, each in members.items()
            for field, value in each.items()
        },
        "result_memory_peak": float(memory.max(initial=0)),
        "backend_pending_mean": float(pending.mean()) if len(pending) else 0.0,
    }


# the lessons' own figures, read from the trace: in no summary, so `queuelab simulate` prints none
OWN_FIGURES = ("result_memory_peak", "backend_pending_mean")
FIGURES = (*(f for f in Summary.__dataclass_fields__ if f not in GROUP_FIGURES), *OWN_FIGURES)


def split_figure(figure: str) -> tuple[str, str, str]:
    """``"by_task.short.wait_p99"`` → ``("by_task", "short", "wait_p99")``; a figure of the
    whole run → ``("", "", figure)``. Names may hold dots, figures do not."""
    kind, _, rest = figure.partition(".")
    if kind not in GROUP_FIGURES or "." not in rest:
        return "", "", figure
    name, _, field = rest.rpartition(".")
    return kind, name, field


def group_names(sc: Scenario) -> dict[str, tuple[str, ...]]:
    """The task types, queues and pools ``sc`` has figures for."""
    return {
        "by_task": tuple(t.name for t in sc.task_types),
        "by_queue": sc.queues,
        "by_pool": tuple(p.name for p in sc.worker_pools),
    }


def tasks_of(figure: str, trace: Trace) -> np.ndarray:
    """Per task index, whether ``figure`` is about it: its task type's or queue's tasks, else
    every task (a pool's figure is about its workers)."""
    kind, name, _ = split_figure(figure)
    column = {"by_task": 0, "by_queue": 1}.get(kind)
    if column is None:
        return np.ones(trace.n_tasks, dtype=bool)
    mine = [i for i, each in enumerate(trace.types) if each[column] == name]
    return np.isin(trace.task_types(), mine)


def load(path: str | Path) -> Lesson:
    path = Path(path)
    meta = scenario_io.read_toml(path).get("lesson")
    if not isinstance(meta, dict):
        raise ScenarioError(f"{path}: a lesson needs a [lesson] table (title, story, figure, fix)")
    missing = [k for k in ("title", "story", "figure", "fix") if k not in meta]
    if missing:
        raise ScenarioError(f"{path}: [lesson] is missing {', '.join(missing)}")
    better = meta.get("better", "lower")
    if better not in ("lower", "higher"):
        raise ScenarioError(f"{path}: lesson.better = {better!r}: must be 'lower' or 'higher'")
    lesson = Lesson(
        path.stem,
        meta["title"],
        meta["story"],
        meta["figure"],
        better,
        dict(meta["fix"]),
        scenario_module.load(path),
        _live(path, meta.get("live")),
    )
    _check_figure(path, lesson.figure, (lesson.scenario, lesson.fixed()))  # a valid fix too
    return lesson


def _check_figure(path: Path, figure: str, sides: tuple[Scenario, Scenario]) -> None:
    """A whole-run figure, or a task type's, queue's or pool's that both sides have."""
    kind, name, field = split_figure(figure)
    if not kind:
        if figure not in FIGURES:
            raise ScenarioError(
                f"{path}: lesson.figure = {figure!r} is not a summary figure nor "
                "by_task.<type>.<figure>, by_queue.<queue>.<figure> or by_pool.<pool>.<figure>"
            )
        return
    if field not in GROUP_FIGURES[kind]:
        raise ScenarioError(
            f"{path}: lesson.figure = {figure!r}: {kind} has {', '.join(GROUP_FIGURES[kind])}"
        )
    for side, sc in zip(("as deployed", "with the fix"), sides, strict=True):
        names = group_names(sc)[kind]
        if name not in names:
            raise ScenarioError(
                f"{path}: lesson.figure = {figure!r}: the scenario {side} has no {name!r} "
                f"in {kind}: {', '.join(names)}"
            )


def _live(path: Path, table: Any) -> LiveRun | None:
    if table is None:
        return None
    try:
        live = LiveRun(float(table["time_scale"]), int(table["tasks"]))
    except (TypeError, KeyError, ValueError):
        raise ScenarioError(
            f"{path}: [lesson.live] needs time_scale (a number > 0) and tasks (an integer >= 1)"
        ) from None
    if not (live.time_scale > 0 and live.tasks >= 1):
        raise ScenarioError(f"{path}: [lesson.live] time_scale must be > 0 and tasks >= 1")
    return live


def all_lessons(folder: Path = LESSONS) -> list[Lesson]:
    return [load(p) for p in sorted(folder.glob("*.toml"))]


def named(given: str, lessons: list[Lesson]) -> Lesson:
    """The lesson ``given`` names: its whole name (``.toml`` or not), or the start of one
    lesson's name alone, such as its number (``17`` for 17_node_cooldown_flaps); a
    ``LookupError`` listing the lessons where none begins so ("" names none), or those that
    do where several do."""
    name = given.removesuffix(".toml")
    found = [x for x in lessons if x.name == name] or [
        x for x in lessons if name and x.name.startswith(name)
    ]
    if len(found) == 1:
        return found[0]
    every = ", ".join(x.name for x in lessons)
    if not found:
        raise LookupError(f"no lesson {given!r}: the lessons are {every}")
    several = ", ".join(x.name for x in found)
    raise LookupError(f"{given!r} begins {len(found)} lessons' names, {several}: give more of one")


WHOSE = {"by_task": "of {} tasks", "by_queue": "on queue {}", "by_pool": "in pool {}"}


SAID = {  # the lessons' own figures, named for what they measure
    "backend_pending_mean": "time shown as PENDING, mean",
    "result_memory_peak": "result-backend memory, peak",
}


def said(figure: str) -> str:
    """A summary field as a reader says it: ``wait_p99`` is "wait p99", and
    ``by_task.short.wait_p99`` "wait p99 of short tasks"."""
    kind, name, field = split_figure(figure)
    words = SAID.get(field, field.replace("_", " "))
    return f"{words} {WHOSE[kind].format(name)}" if kind else words


AMOUNTS = {  # how a figure that is not a time is written, with its unit
    "result_memory_peak": lambda v: f"{v / 1e6:,.1f} MB",
    "worker_seconds": lambda v: f"{v:,.0f} worker-s",
    "node_seconds": lambda v: f"{v:,.0f} node-s",
    "throughput": lambda v: f"{v:#.3g} tasks/s",
    "utilization": lambda v: f"{v:.1%}",
}
COUNTED = ("tasks_", "executions", "retries", "duplicate_executions")


def shown(figure: str, value: float) -> str:
    """A lesson figure's value with its unit: "59.8 s", "873.0 MB", "41,469 worker-s", "134"
    (a bare "8.726e+08" said nothing of bytes)."""
    field = split_figure(figure)[2]
    if field in AMOUNTS:
        return AMOUNTS[field](value)
    if field.startswith(COUNTED):
        return f"{value:,.0f}"
    return seconds(value)  # waits, sojourns, the time shown as PENDING
