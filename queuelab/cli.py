"""The ``queuelab`` command. Exit codes: 0 ok, 1 a check failed, 2 bad input.

This is the one module that imports both halves; ``live`` is imported only by its own
subcommands, so the simulator runs where Celery is not installed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict

from sim import analytic, invariants, scenario, sweep
from sim.metrics import summarize
from sim.model import simulate
from sim.trace import TraceError, read


class BadInput(Exception):
    """Input the user must fix; printed as one line, exit 2."""


class ProgressBar:
    """A bar on stderr, shown only for runs that take more than a second, and only on a terminal."""

    def __init__(self, label: str, delay: float = 1.0) -> None:
        self.label = label
        self.started = time.monotonic()
        self.delay = delay
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not sys.stderr.isatty() or time.monotonic() - self.started < self.delay:
            return
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
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


def _table(rows: dict) -> str:
    width = max(len(k) for k in rows)
    lines = []
    for key, value in rows.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}  {shown}")
    return "\n".join(lines)


def _emit(data: dict, as_json: bool) -> None:
    print(json.dumps(data, indent=None if as_json else 2) if as_json else _table(data))


def cmd_simulate(args: argparse.Namespace) -> int:
    sc = scenario.load(args.scenario, args.set)
    seed = sc.seed if args.seed is None else args.seed
    if args.trace and not args.trace.endswith((".csv", ".parquet")):
        raise BadInput(f"--trace {args.trace!r}: trace files end in .csv or .parquet")
    bar = ProgressBar("simulating")
    trace = simulate(sc, seed=seed, progress=bar)
    bar.close()
    if args.trace:
        trace.write(args.trace)
    _emit(summarize(trace, sc.workers.slots, scenario=sc.name, seed=seed).to_dict(), args.json)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    sc = scenario.load(args.scenario, args.set)
    bar = ProgressBar("sweeping")
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


def cmd_analytic(args: argparse.Namespace) -> int:
    try:
        result = analytic.analyze(args.rate, args.service_mean, args.workers)
    except analytic.UnstableError as err:
        raise BadInput(str(err)) from None
    _emit(result.to_dict(), args.json)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    trace = read(args.trace)
    sc = scenario.load(args.scenario, args.set) if args.scenario else None
    report = invariants.check(trace, sc, seed=args.seed)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "violations": [asdict(v) for v in report.violations],
                    "duplicate_terminals": report.duplicate_terminals,
                    "redeliveries": report.redeliveries,
                }
            )
        )
    else:
        for violation in report.violations:
            print(violation)
        print(
            f"{'ok' if report.ok else 'FAILED'}: {len(report.violations)} violations, "
            f"{report.redeliveries} redeliveries, {report.duplicate_terminals} duplicate terminals"
        )
    return 0 if report.ok else 1


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

    p = sub.add_parser("simulate", help="run the SimPy model of a scenario")
    scenario_args(p)
    p.add_argument("--seed", type=int, help="seed in place of the scenario's")
    p.add_argument("--trace", help="write the trace to FILE (.csv or .parquet)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(run=cmd_simulate)

    p = sub.add_parser("sweep", help="simulate several worker counts, replicated")
    scenario_args(p)
    p.add_argument("--workers", type=_positive_int_list, required=True, help="e.g. 1,2,4,8")
    p.add_argument("--reps", type=_positive(int), default=5, help="replications per point")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_sweep)

    p = sub.add_parser("analytic", help="M/M/c figures by Erlang C and Little's law")
    p.add_argument("--rate", type=_positive(float), required=True, help="arrivals per second")
    p.add_argument("--service-mean", type=_positive(float), required=True, help="seconds")
    p.add_argument("--workers", type=_positive(int), required=True, help="servers c")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_analytic)

    p = sub.add_parser("check", help="check a trace against the invariants; exit 1 if violated")
    p.add_argument("trace", help="trace file (.csv or .parquet)")
    p.add_argument("--scenario", help="the scenario that made it, for its own rules")
    p.add_argument("--set", action="append", default=[], metavar="K=V")
    p.add_argument("--seed", type=int, help="seed the trace was made with")
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
