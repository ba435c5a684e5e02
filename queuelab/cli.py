"""The ``queuelab`` command. Exit codes: 0 ok, 1 a check failed, 2 bad input.

This is the one module that imports both halves; ``live`` is imported only by its own
subcommands, so the simulator runs where Celery is not installed.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from sim import analytic, budget, invariants, scenario, sweep
from sim.distributions import service_mean
from sim.metrics import lost_tasks, summarize
from sim.model import simulate
from sim.trace import TraceError, read


class BadInput(Exception):
    """Input the user must fix; printed as one line, exit 2."""


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

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if now < self.due:
            return
        if self.tty:
            width = 30
            filled = width * done // max(total, 1)
            sys.stderr.write(
                f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
            )
        else:
            percent = 100 * done // max(total, 1)
            sys.stderr.write(f"{self.label}: {done}/{total} {self.unit} ({percent}%)\n")
            self.due = now + self.every
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown and self.tty:
            sys.stderr.write("\n")


def _positive_int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected integers like 1,2,4,8") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: worker counts must be integers >= 1")
    return values


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0 or (isinstance(value, float) and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
        return value

    return parse


def _field_flag(key: str):
    """An argparse type for a flag that stands in for a scenario field (``--seed`` for ``seed``),
    so the flag has the field's range and message: a seed the scenario file would refuse is
    refused on the command line too."""

    def parse(text: str):
        try:
            return scenario.coerce(key, scenario.parse_override(f"{key}={text}")[1])
        except scenario.ScenarioError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return parse


REDIS_SCHEMES = ("redis", "rediss", "unix")


def _redis_url(text: str) -> str:
    """A Redis URL, checked before anything starts: redis-py would refuse it later, with a
    traceback, after workers and a private redis-server are already up."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in REDIS_SCHEMES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Redis URL: use redis://HOST[:PORT][/DB], rediss://… (TLS) "
            "or unix:///PATH/TO/SOCKET"
        )
    try:
        parts.port  # noqa: B018 - urllib checks the port range only when it is read
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the port must be 0-65535") from None
    return text


def _table(rows: dict) -> str:
    width = max(len(k) for k in rows)
    lines = []
    for key, value in rows.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}  {shown}")
    return "\n".join(lines)


def _emit(data: dict, as_json: bool) -> None:
    print(json.dumps(data, indent=None if as_json else 2) if as_json else _table(data))


def _check_output(path: str | Path, option: str, suffixes: tuple[str, ...]) -> Path:
    """Refuse an output file that could not be written, before any work is done for it.

    It is opened for appending (which changes nothing in an existing file) and a file that did
    not exist before is removed again, so a run never ends by failing to save what it found.
    """
    path = Path(path)
    if path.suffix not in suffixes:
        raise BadInput(f"{option} {str(path)!r}: the file must end in " + " or ".join(suffixes))
    if path.is_dir():
        raise BadInput(f"{option} {str(path)!r} is a folder: give a file name")
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as err:
        raise BadInput(
            f"{option} {str(path)!r}: cannot write there ({err.strerror}); "
            "give a path in a folder that exists and is writable"
        ) from None
    if not existed:
        path.unlink()
    return path


def _warn_if_overloaded(sc: scenario.Scenario) -> None:
    """Say so on stderr when the pool cannot keep up: the run still completes and its figures look
    normal, but they grow with the run's length. Not in ``--json``: the summary is the trace's."""
    warning = analytic.overload_warning(sc)
    if warning:
        print(f"queuelab: warning: {warning}", file=sys.stderr)


def _check_trace_path(path: str | None) -> None:
    if path:
        _check_output(path, "--trace", (".csv", ".parquet"))


def cmd_simulate(args: argparse.Namespace) -> int:
    sc = scenario.load(args.scenario, args.set)
    seed = sc.seed if args.seed is None else args.seed
    _check_trace_path(args.trace)
    _say_cost(sc)
    _warn_if_overloaded(sc)
    bar = ProgressBar("simulating")
    trace = simulate(sc, seed=seed, progress=bar)
    bar.close()
    _emit(summarize(trace, sc.workers.slots, scenario=sc.name, seed=seed).to_dict(), args.json)
    if args.trace:
        trace.write(args.trace)  # after the summary: a failed write loses nothing printed
    return 0


def _say_cost(sc: scenario.Scenario) -> None:
    """Refuse a run that cannot fit in memory; say what a large one will hold before it starts."""
    budget.check_fits(sc)
    need = budget.estimated_bytes(sc)
    if need > budget.WARN_BYTES:
        print(
            f"queuelab: this run will hold about {budget.gib(need)} in memory "
            f"({budget.expected_tasks(sc):,.0f} tasks)",
            file=sys.stderr,
        )


def cmd_sweep(args: argparse.Namespace) -> int:
    sc = scenario.load(args.scenario, args.set)
    for count in args.workers:
        _warn_if_overloaded(sc.replace(**{"workers.count": count}))
    bar = ProgressBar("sweeping", "runs")
    points = sweep.sweep(sc, args.workers, reps=args.reps, progress=bar)
    bar.close()
    if args.json:
        print(json.dumps({"scenario": sc.name, "points": [p.to_dict() for p in points]}))
        return 0
    print(f"{'workers':>7}  " + "  ".join(f"{f:>30}" for f in sweep.FIGURES))
    for p in points:
        cells = []
        for f in sweep.FIGURES:
            e = getattr(p, f)
            ci = f"[{e.low:.4g}, {e.high:.4g}]" if e.low is not None else ""
            cells.append(f"{e.mean:>10.4g} {ci:>19}")
        print(f"{p.workers:>7}  " + "  ".join(cells))
    return 0


def _live_modules():
    """The live half, imported only when asked for, so simulation works without Celery."""
    try:
        from live import redis_server, run, workers
    except ImportError as err:
        raise BadInput(
            f"live mode needs Celery and redis-py ({err.name} is missing): pip install -e '.[live]'"
        ) from None
    return redis_server, run, workers


def _stop_on_signals() -> threading.Event:
    """Ctrl-C, SIGTERM or a closed terminal (SIGHUP) asks a live run to stop; it then cleans up
    and reports what it saw."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def cmd_live(args: argparse.Namespace) -> int:
    sc = scenario.load(args.scenario, args.set)
    _check_trace_path(args.trace)
    _warn_if_overloaded(sc)
    trace, stop, lost_redis = _run_live(args, sc, partial=True)
    seed = sc.seed if args.seed is None else args.seed
    summary = summarize(trace, sc.workers.slots, engine="live", scenario=sc.name, seed=seed)
    _emit(summary.to_dict(), args.json)
    if args.trace:
        trace.write(args.trace)
    _say_lost(trace, "unfinished when the run stopped" if stop.is_set() or lost_redis else "lost")
    if lost_redis:
        print(f"queuelab: error: {lost_redis}", file=sys.stderr)
        return 2
    if stop.is_set():
        print("queuelab: interrupted: stopped the run and its workers", file=sys.stderr)
        return 130
    return 0


def _say_lost(trace, what: str, shown: int = 10) -> None:
    """Name the tasks a run gave up on, by where they were last seen."""
    for where, ids in lost_tasks(trace).items():
        more = f" … and {len(ids) - shown} more" if len(ids) > shown else ""
        print(
            f"queuelab: {len(ids)} task{'s' * (len(ids) != 1)} {what}, {where}: "
            f"{', '.join(ids[:shown])}{more}",
            file=sys.stderr,
        )


def _run_live(args: argparse.Namespace, sc, partial: bool = False) -> tuple:
    """Run the live half with the CLI's error handling; returns (trace, stop event, and the
    lost-Redis message or None). A run whose Redis went away returns what it collected when
    ``partial``; otherwise it is an error."""
    redis_server, run, workers = _live_modules()
    from live.clock import Clock

    wall_service = Clock(None, args.time_scale).wall_seconds(service_mean(sc.service))
    if wall_service < run.MIN_SERVICE_WALL:
        print(
            f"queuelab: warning: mean service of {wall_service * 1000:.2g} ms wall time is "
            "below what Celery can time faithfully; use a larger --time-scale",
            file=sys.stderr,
        )
    stop = _stop_on_signals()
    bar = ProgressBar("running")
    try:
        trace = run.run_live(sc, args.redis_url, args.time_scale, args.seed, args.drain, bar, stop)
    except (redis_server.RedisUnavailable, workers.WorkerStartError) as err:
        raise BadInput(str(err)) from None
    except run.RedisLost as err:
        if not partial:
            raise BadInput(str(err)) from None
        return err.trace, stop, str(err)
    finally:
        bar.close()
    return trace, stop, None


def cmd_compare(args: argparse.Namespace) -> int:
    from sim.compare import compare

    sc = scenario.load(args.scenario, args.set)
    seed = sc.seed if args.seed is None else args.seed
    sim_trace = simulate(sc, seed=seed)
    live_trace, stop, _ = _run_live(args, sc)
    if stop.is_set():
        print("queuelab: interrupted: no comparison", file=sys.stderr)
        return 130
    slots = sc.workers.slots
    result = compare(
        sim_trace,
        live_trace,
        summarize(sim_trace, slots, engine="sim", scenario=sc.name, seed=seed),
        summarize(live_trace, slots, engine="live", scenario=sc.name, seed=seed),
        tolerance=args.tolerance,
    )
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0 if result.ok else 1
    print(f"{'figure':<22}{'sim':>12}{'live':>12}{'diff':>9}  verdict")
    for f in result.figures:
        diff = f"{f.relative_difference:+.0%}" if f.relative_difference is not None else "-"
        verdict = "ok" if f.ok else f"MISS: {f.likely_cause}"
        print(f"{f.figure:<22}{f.sim:>12.4g}{f.live:>12.4g}{diff:>9}  {verdict}")
    print(
        f"\nKolmogorov-Smirnov distance: wait {result.ks_wait:.3f}, sojourn {result.ks_sojourn:.3f}"
    )
    print(f"\n{'state flow':<22}{'sim':>8}{'live':>8}")
    for flow in sorted(set(result.flows_sim) | set(result.flows_live)):
        print(f"{flow:<22}{result.flows_sim.get(flow, 0):>8}{result.flows_live.get(flow, 0):>8}")
    print(f"\n{result.headline()}")
    return 0 if result.ok else 1


def cmd_calibrate(args: argparse.Namespace) -> int:
    from sim.calibrate import CalibrationError, fit_overheads

    sc = scenario.load(args.scenario, args.set)
    out = _check_output(args.out, "--out", (".toml",))
    trace, stop, _ = _run_live(args, sc)
    if stop.is_set():
        print("queuelab: interrupted: nothing calibrated", file=sys.stderr)
        return 130
    try:
        fit = fit_overheads(trace, sc, args.seed)
    except CalibrationError as err:
        raise BadInput(str(err)) from None
    calibrated = sc.replace(**{"overhead.dispatch": fit.dispatch, "overhead.record": fit.record})
    out.write_text(scenario.dumps(calibrated))
    _emit({**fit.to_dict(), "time_scale": args.time_scale, "out": str(out)}, args.json)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    redis_server, _, _ = _live_modules()
    from live.record import data_files, record

    out = _check_output(args.out, "--out", (".toml",))
    for data in data_files(out):
        _check_output(data, "--out (its data file)", (".csv",))
    try:
        redis_server.ping(args.redis_url)
    except redis_server.RedisUnavailable as err:
        raise BadInput(str(err)) from None
    print(
        f"listening to task events on {args.redis_url} for {args.duration:g}s "
        "(workers must run with -E)",
        file=sys.stderr,
    )
    try:
        sc = record(args.redis_url, args.duration, out, _stop_on_signals())
    except ValueError as err:
        raise BadInput(str(err)) from None
    _emit(
        {
            "out": str(out),
            "tasks": sc.run.tasks,
            "workers": sc.workers.count,
            "concurrency": sc.workers.concurrency,
            "failure_probability": sc.failures.probability,
        },
        args.json,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    redis_server, run, _ = _live_modules()
    try:
        redis_server.ping(args.redis_url)
    except redis_server.RedisUnavailable as err:
        raise BadInput(str(err)) from None
    stop = _stop_on_signals()
    print(f"waiting for a live run on {args.redis_url} (Ctrl-C to stop)", file=sys.stderr)

    def joined(config, names: list[str]) -> None:
        print(f"joined run {config.run_id} with {len(names)} workers", file=sys.stderr)

    run.join_run(args.redis_url, args.count, args.concurrency, stop, joined)
    return 0


def cmd_lessons(args: argparse.Namespace) -> int:
    from sim.lessons import LESSONS, all_lessons

    lessons = all_lessons()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": x.name,
                        "title": x.title,
                        "figure": x.figure,
                        "better": x.better,
                        "fix": x.fix,
                        "file": str(LESSONS / f"{x.name}.toml"),
                        "live": x.live.__dict__ if x.live else None,
                    }
                    for x in lessons
                ]
            )
        )
        return 0
    shown = LESSONS.relative_to(Path.cwd()) if LESSONS.is_relative_to(Path.cwd()) else LESSONS
    for x in lessons:
        fix = ", ".join(f"{k}={v}" for k, v in x.fix.items())
        print(f"{x.name:<26} {x.title}\n{'':<26} fix: {fix}; watch {x.figure} ({x.better})")
        if x.live:
            print(
                f"{'':<26} live: queuelab live {shown}/{x.name}.toml "
                f"--time-scale {x.live.time_scale:g} --set run.tasks={x.live.tasks}"
            )
    print(f"\nrun one: queuelab simulate {shown}/NAME.toml")
    return 0


def cmd_analytic(args: argparse.Namespace) -> int:
    try:
        result = analytic.analyze(args.rate, args.service_mean, args.workers).to_dict()
        if args.service_cv != 1.0 or args.arrival_cv != 1.0:
            result["wait_mean_allen_cunneen"] = analytic.allen_cunneen(
                args.rate, args.service_mean, args.workers, args.arrival_cv, args.service_cv
            )
    except analytic.UnstableError as err:
        raise BadInput(str(err)) from None
    _emit(result, args.json)
    return 0


SHOWN_PER_RULE = 20  # violations of one rule listed in the text report before "… and N more"
SHOWN_LOST = 10  # lost task ids listed in the text report


def cmd_check(args: argparse.Namespace) -> int:
    if args.set and not args.scenario:
        raise BadInput("--set changes the scenario: give it with --scenario")
    trace = read(args.trace)
    if not len(trace):
        raise BadInput(f"{args.trace}: the trace holds no rows, so there is nothing to check")
    sc = scenario.load(args.scenario, args.set) if args.scenario else None
    if sc is not None and (why := invariants.mismatch(trace, sc, args.seed)):
        raise BadInput(f"{args.trace} is not a run of scenario {args.scenario}: {why}")
    report = invariants.check(trace, sc, seed=args.seed)
    if args.json:
        print(json.dumps(_check_json(report)))
    else:
        print("\n".join(_check_text(report, sc)))
    return 0 if report.ok else 1


def _check_json(report: invariants.Report) -> dict:
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


def _check_text(report: invariants.Report, sc: scenario.Scenario | None) -> list[str]:
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
            f"lost: {len(report.lost)} tasks never reached a terminal state "
            f"({_lost_means(sc)}): {ids}"
        )
    lines.append(
        f"{'ok' if report.ok else 'FAILED'}: {len(report.violations)} violations, "
        f"{len(report.lost)} lost, {report.redeliveries} redeliveries, "
        f"{report.duplicate_terminals} duplicate terminals"
    )
    return lines


def _lost_means(sc: scenario.Scenario | None) -> str:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="queuelab",
        description="Simulate a Celery-on-Redis task queue and check what it does.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def scenario_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("scenario", help="scenario TOML file (see scenarios/)")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="K=V",
            help="override a field, e.g. --set workers.count=8 (repeatable)",
        )

    def live_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--redis-url",
            type=_redis_url,
            help="use this Redis instead of a private redis-server",
        )
        p.add_argument(
            "--time-scale",
            type=_positive(float),
            default=1.0,
            metavar="X",
            help="wall seconds per scenario second (default 1)",
        )
        p.add_argument("--seed", type=_field_flag("seed"), help="seed in place of the scenario's")
        p.add_argument(
            "--drain",
            type=_positive(float),
            metavar="S",
            help="scenario seconds to wait after the last event before counting the "
            "unfinished as lost (default: from the scenario)",
        )

    p = sub.add_parser("simulate", help="run the SimPy model of a scenario")
    scenario_args(p)
    p.add_argument("--seed", type=_field_flag("seed"), help="seed in place of the scenario's")
    p.add_argument("--trace", help="write the trace to FILE (.csv or .parquet)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(run=cmd_simulate)

    p = sub.add_parser("sweep", help="simulate several worker counts, replicated")
    scenario_args(p)
    p.add_argument("--workers", type=_positive_int_list, required=True, help="e.g. 1,2,4,8")
    p.add_argument("--reps", type=_positive(int), default=5, help="replications per point")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_sweep)

    p = sub.add_parser(
        "live",
        help="run the scenario for real on Redis with Celery workers",
        description=(
            "Run the scenario on a real redis-server with real Celery workers and write the same "
            "trace and summary as `simulate`. --time-scale X multiplies every duration (0.01 runs "
            "100x faster); the summary stays in scenario seconds. Faithful while scaled service "
            "times stay well above a few milliseconds: Celery on Redis moves about 1,000 no-op "
            "tasks/s on 2 cores, so per-task overhead of ~1 ms wall is added to every task and "
            "shows up divided by the scale."
        ),
    )
    scenario_args(p)
    live_args(p)
    p.add_argument("--trace", help="write the trace to FILE (.csv or .parquet)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_live)

    p = sub.add_parser(
        "compare",
        help="simulate and run live on the same draws; report both side by side",
        description="Every summary figure of the simulation and the live run with their relative "
        "difference and a verdict against --tolerance, the Kolmogorov–Smirnov distance of their "
        "wait and sojourn distributions, and their state flows. Exit 1 when a figure misses.",
    )
    scenario_args(p)
    live_args(p)
    p.add_argument(
        "--tolerance",
        type=_positive(float),
        default=0.15,
        help="relative difference allowed per figure (default 0.15)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_compare)

    p = sub.add_parser(
        "calibrate",
        help="fit the simulator's overheads to a short live run; write a calibrated scenario",
        description="Run the scenario live, fit overhead.dispatch and overhead.record to its "
        "trace (the drawn service times are known, so the rest is overhead), and write the "
        "scenario with them to --out. Simulate that file at other worker counts or rates.",
    )
    scenario_args(p)
    live_args(p)
    p.add_argument("--out", required=True, help="calibrated scenario file to write (.toml)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_calibrate)

    p = sub.add_parser(
        "record",
        help="listen to a real deployment's Celery events and write a scenario that replays it",
    )
    p.add_argument("--redis-url", type=_redis_url, required=True, help="the deployment's broker")
    p.add_argument("--duration", type=_positive(float), default=60.0, help="seconds to listen")
    p.add_argument("--out", required=True, help="scenario file to write (.toml)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_record)

    p = sub.add_parser("worker", help="join a live run on this Redis with more Celery workers")
    p.add_argument(
        "--redis-url", type=_redis_url, required=True, help="the Redis the live run uses"
    )
    p.add_argument("--count", type=_positive(int), default=1, help="worker nodes to start")
    p.add_argument("--concurrency", type=_positive(int), help="slots per node (default: scenario)")
    p.set_defaults(run=cmd_worker)

    p = sub.add_parser("lessons", help="list the Celery pitfalls shipped as lesson scenarios")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_lessons)

    p = sub.add_parser("analytic", help="M/M/c figures by Erlang C and Little's law")
    p.add_argument("--rate", type=_positive(float), required=True, help="arrivals per second")
    p.add_argument("--service-mean", type=_positive(float), required=True, help="seconds")
    p.add_argument("--workers", type=_positive(int), required=True, help="servers c")
    p.add_argument(
        "--service-cv",
        type=float,
        default=1.0,
        help="service-time coefficient of variation; with --arrival-cv, adds the "
        "Allen-Cunneen G/G/c mean wait (1 = exponential)",
    )
    p.add_argument(
        "--arrival-cv",
        type=float,
        default=1.0,
        help="inter-arrival coefficient of variation (1 = Poisson)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_analytic)

    p = sub.add_parser("check", help="check a trace against the invariants; exit 1 if violated")
    p.add_argument("trace", help="trace file (.csv or .parquet)")
    p.add_argument("--scenario", help="the scenario that made it, for its own rules")
    p.add_argument("--set", action="append", default=[], metavar="K=V")
    p.add_argument("--seed", type=_field_flag("seed"), help="seed the trace was made with")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (BadInput, scenario.ScenarioError, TraceError) as err:
        print(f"queuelab: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"queuelab: error: {err.filename or ''}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("queuelab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
