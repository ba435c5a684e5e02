"""What the ``queuelab`` command prints: tables, reports and progress, from results it is given.

Nothing here runs anything; each function turns one result (a summary, a sweep, a comparison, a
check) into the lines a reader or a script sees, so the CLI's commands stay a few calls long.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from sim.analysis import invariants, sizing, sweep
from sim.analysis.compare import Comparison, percent
from sim.analysis.lessons import Lesson, said, shown
from sim.analysis.metrics import lost_tasks
from sim.scenario import Scenario
from sim.scenario_io import toml_value
from sim.trace import Trace
from sim.words import counted

SHOWN_PER_RULE = 20  # violations of one rule listed in the text report before "… and N more"
SHOWN_LOST = 10  # lost task ids listed in the text report


class ProgressBar:
    """Progress on stderr for runs long enough to wonder about. On a terminal, a bar redrawn in
    place after ``delay`` seconds. Elsewhere (a pipe, a CI log) carriage returns would pile up in
    the log and silence would make a long run look hung, so a plain line comes after ``quiet``
    seconds and then at most every ``every`` seconds. ``clock`` is there for tests."""

    def __init__(
        self,
        label: str,
        unit: str = "tasks",
        delay: float = 1.0,
        quiet: float = 5.0,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.unit = unit
        self.every = every
        self.clock = clock
        self.tty = sys.stderr.isatty()
        self.due = clock() + (delay if self.tty else quiet)
        self.shown = False
        self.gone = False  # its stream's reader has gone: nothing more is drawn

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if now < self.due or self.gone:
            return
        self.shown = True  # before it is written: a Ctrl-C as it is, and close ends its line
        if self.tty:
            width = 30
            filled = width * done // max(total, 1)
            self._write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        else:
            percent = 100 * done // max(total, 1)
            self._write(f"{self.label}: {done}/{total} {self.unit} ({percent}%)\n")
            self.due = now + self.every

    def _write(self, text: str) -> None:
        """``text`` on stderr; a stream whose reader has gone (a closed terminal, ``2>&1 |
        head``) ends the bar, not the work: raised in a live run's collecting thread, the
        failed write stopped the collection, and the drain counted the queue's tail lost."""
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except OSError:
            self.gone = True

    def note(self, text: str) -> None:
        """A line on stderr while the bar runs, on a line of its own."""
        after_bar = "\n" if self.shown and self.tty else ""
        print(f"{after_bar}queuelab: {text}", file=sys.stderr)

    def close(self) -> None:
        if self.shown and self.tty and not self.gone:
            self._write("\n")
        self.shown = False  # closed twice, one line end

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *_: object) -> None:
        """Closed however the work ends: a Ctrl-C's or an error's line came after the bar's
        last count, on its line ("… 120000/3000000queuelab: interrupted")."""
        self.close()


def table(rows: dict) -> str:
    """One ``key  value`` line per entry, keys aligned, floats to four significant digits; a
    group of figures (``by_task``: name → figures) one line per member, ``key.member``."""
    flat = {}
    for key, value in rows.items():
        if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
            for member, figures in value.items():
                flat[f"{key}.{member}"] = "  ".join(f"{k}={_shown(v)}" for k, v in figures.items())
        else:
            flat[key] = _shown(value)
    width = max(len(k) for k in flat)
    return "\n".join(f"{key:<{width}}  {shown}" for key, shown in flat.items())


def _shown(value) -> str:
    """A number for a reader: four significant digits, a large one whole with its thousands
    ("25,160", where .4g wrote "2.516e+04"); one that four digits round to 1 but is not 1 with
    as many as tell it from 1 (a utilisation of 0.999999 read 1 beside a mean wait of
    999,999). Four digits never round a figure other than 0 to 0."""
    if not isinstance(value, float):
        return str(value)
    if 1e4 <= abs(value) < 1e15:
        return f"{value:,.0f}"
    digits = 4
    while abs(float(f"{value:.{digits}g}")) == 1 != abs(value):
        digits += 1
    return f"{value:.{digits}g}"


def emit(data: dict, as_json: bool) -> None:
    """``data`` as one JSON object, or as a table for a reader."""
    print(json.dumps(data, indent=None if as_json else 2) if as_json else table(data))


def sweep_table(points: list[sweep.SweepPoint]) -> list[str]:
    """One row per worker count: each figure's mean and its confidence interval."""
    lines = [f"{'workers':>7}  " + "  ".join(f"{f:>30}" for f in sweep.FIGURES)]
    for p in points:
        lines.append(f"{p.workers:>7}  " + "  ".join(_cell(getattr(p, f)) for f in sweep.FIGURES))
    return lines


def pool_table(curve: sizing.PoolCurve) -> list[str]:
    """A pool's sweep, row per count: the p95s of the task types it serves and its own
    utilisation (the run's whole figures mix in the other pools' tasks)."""
    columns = {
        f"{kind} {figure}": estimates
        for figure, per_type in curve.figures.items()
        for kind, estimates in per_type.items()
    }
    columns[f"pool {curve.pool} utilization"] = curve.utilization
    lines = [
        f"pool {curve.pool}: the task types it serves",
        f"{'workers':>7}  " + "  ".join(f"{name:>30}" for name in columns),
    ]
    for i, count in enumerate(curve.counts):
        lines.append(f"{count:>7}  " + "  ".join(_cell(e[i]) for e in columns.values()))
    return lines


def _cell(e: sweep.Estimate) -> str:
    """An estimate's mean and its confidence interval, in a table's 30 characters."""
    ci = f"[{e.low:.4g}, {e.high:.4g}]" if e.low is not None else ""
    return f"{e.mean:>10.4g} {ci:>19}"


def comparison_text(result: Comparison) -> list[str]:
    """Every figure side by side with its verdict, the KS distances, the state flows and the
    headline last."""
    width = max([22, *(len(f.figure) + 2 for f in result.figures)])  # a task type's long name
    lines = [f"{'figure':<{width}}{'sim':>12}{'live':>12}{'diff':>9}  verdict"]
    for f in result.figures:
        diff = percent(f.relative_difference)
        verdict = "ok" if f.ok else f"MISS: {f.likely_cause}"
        lines.append(f"{f.figure:<{width}}{f.sim:>12.4g}{f.live:>12.4g}{diff:>9}  {verdict}")
    lines.append(
        f"\nKolmogorov-Smirnov distance: wait {result.ks_wait:.3f}, sojourn {result.ks_sojourn:.3f}"
    )
    if result.host_busy is not None:
        lines.append(f"host CPUs {result.host_busy:.0%} busy during the live run")
    lines.append(f"\n{'state flow':<22}{'sim':>8}{'live':>8}")
    for flow in sorted(set(result.flows_sim) | set(result.flows_live)):
        sim, live = result.flows_sim.get(flow, 0), result.flows_live.get(flow, 0)
        lines.append(f"{flow:<22}{sim:>8}{live:>8}")
    lines.append(f"\n{result.headline()}")
    return lines


def again_json(result: Comparison) -> dict:
    """A second live run of the same draws against the first (``compare --again``): the
    figures outside the tolerance, by the first run's relative difference from the second,
    and the KS distances. The model's likely causes do not apply to two live runs."""
    return {
        "ok": result.ok,
        "outside": {f.figure: f.relative_difference for f in result.figures if not f.ok},
        "ks": {"wait": result.ks_wait, "sojourn": result.ks_sojourn},
    }


def again_text(result: Comparison) -> list[str]:
    """``again_json`` in words: how far the real queue is from itself."""
    outside = [
        f"{name} {percent(diff)}" if diff is not None else name
        for name, diff in again_json(result)["outside"].items()
    ]
    return [
        "\nA second live run of the same draws against the first (the real queue against itself):",
        f"figures outside {result.tolerance:.0%}: {', '.join(outside) or 'none'}",
        f"Kolmogorov-Smirnov distance: wait {result.ks_wait:.3f}, sojourn {result.ks_sojourn:.3f}",
    ]


def lost_lines(trace: Trace, what: str, shown: int = 10) -> list[str]:
    """The tasks a run gave up on, by where they were last seen."""
    lines = []
    for where, ids in lost_tasks(trace).items():
        more = f" … and {len(ids) - shown} more" if len(ids) > shown else ""
        lines.append(
            f"queuelab: {counted(len(ids), 'task')} {what}, {where}: {', '.join(ids[:shown])}{more}"
        )
    return lines


def lessons_json(lessons: list[Lesson], folder: Path) -> list[dict]:
    return [
        {
            "name": x.name,
            "title": x.title,
            "figure": x.figure,
            "better": x.better,
            "fix": x.fix,
            "file": str(folder / f"{x.name}.toml"),
            "live": x.live.__dict__ if x.live else None,
        }
        for x in lessons
    ]


def lesson_run(each: Lesson, default: dict[str, float], fixed: dict[str, float]) -> dict:
    """A lesson run both ways: its figure on each side, then every figure of each."""
    return {
        "name": each.name,
        "figure": each.figure,
        "better": each.better,
        "fix": _fix(each),
        "as_deployed": default[each.figure],
        "with_the_fix": fixed[each.figure],
        "figures_as_deployed": default,
        "figures_with_the_fix": fixed,
    }


def lesson_run_text(each: Lesson, default: dict[str, float], fixed: dict[str, float]) -> list[str]:
    """A lesson run both ways, for a reader: its figure on each side."""
    before, after = (shown(each.figure, side[each.figure]) for side in (default, fixed))
    return [
        f"{each.name}: {each.title}",
        f"{said(each.figure)} ({each.better} is better): {before} as deployed, {after} with the "
        f"fix ({_fix(each)})",
    ]


def _fix(each: Lesson) -> str:
    """A lesson's fix as ``--set`` takes it: ``retry.backoff_max=3600.0, …``."""
    return ", ".join(f"{k}={toml_value(v)}" for k, v in each.fix.items())


def lessons_text(lessons: list[Lesson], folder: Path) -> list[str]:
    """Each lesson with its fix and figure, the command that runs it live where it can, and
    the command that simulates one; paths relative to here where they can be."""
    shown = folder.relative_to(Path.cwd()) if folder.is_relative_to(Path.cwd()) else folder
    lines = []
    width = max((len(x.name) for x in lessons), default=0)
    for x in lessons:
        lines.append(f"{x.name:<{width}} {x.title}")
        lines.append(f"{'':<{width}} fix: {_fix(x)}; watch {x.figure} ({x.better})")
        if x.live:
            lines.append(
                f"{'':<{width}} live: queuelab live {shown}/{x.name}.toml "
                f"--time-scale {x.live.time_scale:g} --set run.tasks={x.live.tasks}"
            )
    lines.append(
        f"\nrun one both ways: queuelab lessons NAME; as a scenario: queuelab simulate "
        f"{shown}/NAME.toml"
    )
    return lines


def check_json(report: invariants.Report) -> dict:
    """Everything the check found, every lost task id included: scripts read this."""
    return {
        "ok": report.ok,
        "violations": [asdict(v) for v in report.violations],
        "tasks_lost": len(report.lost),
        "lost_task_ids": report.lost,
        "lost_violations": sum(v.rule == "lost-under-late-ack" for v in report.violations),
        "duplicate_terminals": report.duplicate_terminals,
        "redeliveries": report.redeliveries,
    }


def check_text(report: invariants.Report, sc: Scenario | None) -> list[str]:
    """The report for a reader: the first violations of each rule, what was lost and why that
    is or is not a violation, and a last line with every count."""
    per_rule = Counter(v.rule for v in report.violations)
    lines, shown = [], Counter()
    for violation in report.violations:
        shown[violation.rule] += 1
        if shown[violation.rule] <= SHOWN_PER_RULE:
            lines.append(str(violation))
    lines += [
        f"… and {n - SHOWN_PER_RULE} more {rule}"
        for rule, n in per_rule.items()
        if n > SHOWN_PER_RULE
    ]
    if report.lost:
        ids = ", ".join(report.lost[:SHOWN_LOST])
        if len(report.lost) > SHOWN_LOST:
            ids += f" … and {len(report.lost) - SHOWN_LOST} more"
        lines.append(
            f"lost: {counted(len(report.lost), 'task')} never reached a terminal state "
            f"({_lost_means(sc)}): {ids}"
        )
    lines.append(
        f"{'ok' if report.ok else 'FAILED'}: {len(report.violations)} violations, "
        f"{len(report.lost)} lost, {report.redeliveries} redeliveries, "
        f"{report.duplicate_terminals} duplicate terminals"
    )
    return lines


def _lost_means(sc: Scenario | None) -> str:
    """Whether a lost task is a bug, which depends on the ack mode."""
    if sc is None:
        return "give --scenario to know the ack mode, and so whether that is a violation"
    if sc.ack.late:
        return (
            "late ack: a violation, unless a killed node's lingering BRPOP took its message "
            "before any worker received it (kombu/Redis behaviour, see DESIGN.md)"
        )
    return (
        "early ack: Celery loses a task whose worker dies mid-run, as documented; not a violation"
    )
