"""The ``queuelab`` command line: its subcommands, their options and the checks on each value.

One builder per subcommand; values are checked as they are parsed, so a bad one is refused
before anything starts (a private redis-server, workers, a long simulation).
"""

from __future__ import annotations

import argparse
import math
import re
import urllib.parse

from live.host_cpu import CPU_PER_TASK
from sim import scenario
from sim.sections import MAX_CV, MAX_POOL, MAX_RATE, MAX_SECONDS

# not unix://: redis-py reads it, Celery's kombu has no such transport (every worker failed)
REDIS_SCHEMES = ("redis", "rediss")
MAX_REPS = 100_000  # replications of one point: past it a typo, whose job list would fill memory
MAX_SERVERS = 1_000_000  # analytic --workers: Erlang B is a loop over them (5 s at this many)


def _positive_int_list(text: str) -> list[int]:
    items = text.split(",")
    if not all(v.strip() for v in items):  # refused, not skipped: "4,,5" likely lost a count
        raise argparse.ArgumentTypeError(f"{text!r} has an empty item: give integers like 1,2,4,8")
    try:
        values = [int(v) for v in items]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected integers like 1,2,4,8") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: worker counts must be integers >= 1")
    if len(set(values)) < len(values):  # each would be swept again, a row of the table twice
        raise argparse.ArgumentTypeError(f"{text!r}: give each worker count once")
    return values


def _positive(kind, least: str = "> 0", most: float | None = None):
    """An argparse type: a ``kind`` number that is finite, ``least`` ("> 0" or ">= 0") and at
    most ``most`` where given (past it the arithmetic overflows or the work never ends)."""
    what = "a whole number" if kind is int else "a finite number"
    top = "" if most is None else f" and <= {most}" if kind is int else f" and <= {most:g}"
    allowed = f"{what} {least}{top}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if (
            not math.isfinite(value)
            or value < 0
            or (least == "> 0" and value == 0)
            or (most is not None and value > most)
        ):
            raise argparse.ArgumentTypeError(f"{text!r}: must be {allowed}")
        return value

    return parse


def _path(text: str) -> str:
    """A file named on the command line: an empty name (an unset shell variable, say) is
    refused, where it read as no file at all or as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty file name: give a path")
    return text


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


def _redis_url(text: str) -> str:
    """A Redis URL, checked before anything starts: redis-py would refuse it later, with a
    traceback, after workers and a private redis-server are already up."""
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError as err:  # 'redis://[::1': argparse said "invalid _redis_url value"
        raise argparse.ArgumentTypeError(f"{text!r} is not a Redis URL: {err}") from None
    if parts.scheme not in REDIS_SCHEMES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Redis URL: use redis://HOST[:PORT][/DB] or rediss://… (TLS); "
            "Celery takes no unix:// socket"
        )
    try:
        parts.port  # noqa: B018 - urllib checks the port range only when it is read
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the port must be 0-65535") from None
    if not re.fullmatch(r"/?\d*", parts.path):
        # redis-py reads '/x' as database 0 and kombu refuses it in every Celery worker
        raise argparse.ArgumentTypeError(
            f"{text!r}: the database {parts.path[1:]!r} is not a whole number >= 0: give "
            "redis://HOST[:PORT]/N, N a database number (0 when left out; 0-15 on a Redis "
            "of the default 16 databases)"
        )
    if refused := _redis_options_refused(text):
        raise argparse.ArgumentTypeError(f"{text!r}: {refused}")
    return text


def _redis_options_refused(url: str) -> str | None:
    """Why redis-py or Celery refuses ``url``'s options, or None; checked where they are
    installed (without them, a live subcommand says how to install them)."""
    try:
        from live.redis_server import options_refused
    except ImportError:
        return None
    return options_refused(url)


def _scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", type=_path, help="scenario TOML file (see scenarios/)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="K=V",
        help="override a field, e.g. --set workers.count=8 (repeatable)",
    )


def _json_flag(p: argparse.ArgumentParser, what: str) -> None:
    """``--json``, saying what it prints: a bare flag left `--help` silent on it in eight
    subcommands, and what ``lessons --json`` prints (an array) differs from the others."""
    p.add_argument("--json", action="store_true", help=f"print {what}")


def _live_args(p: argparse.ArgumentParser) -> None:
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
        help="wall seconds per scenario second (default 1; at most what keeps the scenario's "
        "longest wait one that Python, Celery and Redis can take, said where it is past)",
    )
    p.add_argument("--seed", type=_field_flag("seed"), help="seed in place of the scenario's")
    p.add_argument(
        "--drain",
        type=_positive(float),
        metavar="S",
        help="scenario seconds to wait after the last event before counting the "
        "unfinished as lost (default: from the scenario)",
    )


def _simulate(sub) -> None:
    p = sub.add_parser("simulate", help="run the SimPy model of a scenario")
    _scenario_args(p)
    p.add_argument("--seed", type=_field_flag("seed"), help="seed in place of the scenario's")
    p.add_argument("--trace", type=_path, help="write the trace to FILE (.csv or .parquet)")
    p.add_argument(
        "--time-scale",
        type=_positive(float),
        default=1.0,
        metavar="X",
        help="predict a live run at this time scale: Celery's wall-clock costs are X times as "
        "long in scenario time, and un-acked messages are restored as the live run's nodes "
        "restore them (default 1: a real deployment)",
    )
    p.add_argument(
        "--reps",
        type=_positive(int, most=MAX_REPS),
        default=1,
        help="replications at seeds SEED, SEED+1, …: each figure's mean and 95 %% interval",
    )
    _json_flag(p, "the summary as one JSON object")


def _sweep(sub) -> None:
    p = sub.add_parser("sweep", help="simulate several worker counts, replicated")
    _scenario_args(p)
    p.add_argument("--workers", type=_positive_int_list, required=True, help="e.g. 1,2,4,8")
    p.add_argument(
        "--pool",
        help="with [[pools]]: the pool whose worker count --workers gives (the others stay)",
    )
    p.add_argument(
        "--reps", type=_positive(int, most=MAX_REPS), default=5, help="replications per point"
    )
    p.add_argument(
        "--redis-url",
        type=_redis_url,
        help="run the replications as Celery tasks on this Redis, taken by `queuelab "
        "sweep-worker` processes on any machine (default: this machine's cores)",
    )
    _json_flag(p, "the points (and the pool's table, with --pool) as one JSON object")


def _live_run(sub, name: str, **text) -> argparse.ArgumentParser:
    """A subcommand that runs a scenario on real Celery: the scenario and the live options."""
    p = sub.add_parser(name, **text)
    _scenario_args(p)
    _live_args(p)
    return p


def _live(sub) -> None:
    p = _live_run(
        sub,
        "live",
        help="run the scenario for real on Redis with Celery workers",
        description=(
            "Run the scenario on a real redis-server with real Celery workers and write the same "
            "trace and summary as `simulate`. --time-scale X multiplies every duration (0.01 runs "
            "100x faster); the summary stays in scenario seconds. Faithful while scaled service "
            "times stay well above a few milliseconds: Celery adds a few milliseconds of wall "
            "time to every task (its delivery and the hand-over between tasks; `compare` measures "
            "them first), which show up divided by the scale, and Celery, Redis and queuelab "
            f"spend about {CPU_PER_TASK * 1000:.0f} ms of CPU a task, so each core carries at "
            f"most about {1 / CPU_PER_TASK:.0f} tasks a wall second (a run that asks too much of "
            "this host's CPUs is warned about before it starts)."
        ),
    )
    p.add_argument("--trace", type=_path, help="write the trace to FILE (.csv or .parquet)")
    _json_flag(p, "the summary as one JSON object")


def _compare(sub) -> None:
    p = _live_run(
        sub,
        "compare",
        help="simulate and run live on the same draws; report both side by side",
        description="Every summary figure of the simulation and the live run with their relative "
        "difference and a verdict against --tolerance, the Kolmogorov–Smirnov distance of their "
        "wait and sojourn distributions, and their state flows. Exit 1 when a figure misses.",
    )
    p.add_argument(
        "--tolerance",
        type=_positive(float),
        default=0.15,
        help="relative difference allowed per figure (default 0.15)",
    )
    p.add_argument(
        "--costs",
        choices=("host", "scenario"),
        default="host",
        help="Celery's costs the simulation pays: host (default) measures them on this host "
        "just before the run (a probe of a few seconds on the run's nodes at its rate); "
        "scenario takes the scenario's [overhead] as written (a calibrated file's, say)",
    )
    p.add_argument(
        "--again",
        action="store_true",
        help="run live a second time on the same draws and judge it against the first by the "
        "same tolerance: how far the real queue is from itself, the yardstick for the "
        "simulation's misses",
    )
    _json_flag(p, "the comparison as one JSON object")


def _calibrate(sub) -> None:
    p = _live_run(
        sub,
        "calibrate",
        help="fit the simulator's overheads to a short live run; write a calibrated scenario",
        description="Run the scenario live, fit Celery's delivery (overhead.delivery and "
        "delivery_spread), overhead.record and the hand-over between back-to-back tasks "
        "(overhead.handover, or handover_late under late ack) to its trace (the drawn service "
        "times are known, so the rest is overhead), and write the scenario with them to --out. "
        "Simulate that file at other worker counts or rates.",
    )
    p.add_argument(
        "--out", type=_path, required=True, help="calibrated scenario file to write (.toml)"
    )
    _json_flag(p, "the fitted costs and the file written as one JSON object")


def _record(sub) -> None:
    p = sub.add_parser(
        "record",
        help="listen to a real deployment's Celery events and write a scenario that replays it",
    )
    p.add_argument("--redis-url", type=_redis_url, required=True, help="the deployment's broker")
    p.add_argument("--duration", type=_positive(float), default=60.0, help="seconds to listen")
    p.add_argument("--out", type=_path, required=True, help="scenario file to write (.toml)")
    _json_flag(p, "what was recorded and the file written as one JSON object")


def _worker(sub) -> None:
    p = sub.add_parser("worker", help="join a live run on this Redis with more Celery workers")
    p.add_argument(
        "--redis-url", type=_redis_url, required=True, help="the Redis the live run uses"
    )
    # as workers.count and workers.concurrency: 100000 started that many Celery nodes
    p.add_argument(
        "--count", type=_positive(int, most=MAX_POOL), default=1, help="worker nodes to start"
    )
    p.add_argument(
        "--concurrency",
        type=_positive(int, most=MAX_POOL),
        help="slots per node (default: scenario)",
    )


def _sweep_worker(sub) -> None:
    p = sub.add_parser(
        "sweep-worker",
        help="run the replications of `sweep --redis-url` published on this Redis",
        description="A Celery worker of queuelab's sweep app: it takes replications of any sweep "
        "published on this Redis, one per pool process, until Ctrl-C (a warm shutdown: running "
        "replications finish). A replication of a worker that dies runs again on another.",
    )
    p.add_argument("--redis-url", type=_redis_url, required=True, help="the sweeps' Redis")
    p.add_argument(
        "--concurrency",
        type=_positive(int, most=MAX_POOL),
        help="replications at once (default: cores)",
    )
    p.add_argument(
        "--visibility-timeout",
        type=_positive(float),
        default=3600.0,
        metavar="S",
        help="seconds after which a replication taken by a worker that died (or still running) "
        "is run again by another (default 3600; one still running then runs twice)",
    )


def _lessons(sub) -> None:
    p = sub.add_parser(
        "lessons",
        help="list the Celery pitfalls shipped as lesson scenarios, or run one both ways",
    )
    p.add_argument(
        "name",
        nargs="?",
        help="a lesson's name (01_prefetch) or the start of one alone, its number (01): "
        "simulate it as deployed and with its fix and print its figure, as the Learn page shows "
        "it (a figure such as backend_pending_mean is in no simulate summary)",
    )
    _json_flag(p, "the lessons as one JSON array, or NAME's figures both ways as one object")


def _analytic(sub) -> None:
    p = sub.add_parser("analytic", help="M/M/c figures by Erlang C and Little's law")
    p.add_argument(
        "--rate", type=_positive(float, most=MAX_RATE), required=True, help="arrivals per second"
    )
    p.add_argument(
        "--service-mean", type=_positive(float, most=MAX_SECONDS), required=True, help="seconds"
    )
    p.add_argument(
        "--workers", type=_positive(int, most=MAX_SERVERS), required=True, help="servers c"
    )
    p.add_argument(
        "--service-cv",
        type=_positive(float, ">= 0", MAX_CV),
        default=1.0,
        help="service-time coefficient of variation (1 = exponential); either cv away from 1 "
        "adds the Allen-Cunneen G/G/c mean wait",
    )
    p.add_argument(
        "--arrival-cv",
        type=_positive(float, ">= 0", MAX_CV),
        default=1.0,
        help="inter-arrival coefficient of variation (1 = Poisson)",
    )
    _json_flag(p, "the figures as one JSON object")


def _check(sub) -> None:
    p = sub.add_parser("check", help="check a trace against the invariants; exit 1 if violated")
    p.add_argument("trace", type=_path, help="trace file (.csv or .parquet)")
    p.add_argument("--scenario", type=_path, help="the scenario that made it, for its own rules")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="K=V",
        help="the overrides the trace was made with, as simulate's --set (repeatable)",
    )
    p.add_argument("--seed", type=_field_flag("seed"), help="seed the trace was made with")
    _json_flag(p, "the check's result as one JSON object")


SUBCOMMANDS = (  # in the order ``queuelab --help`` lists them
    _simulate,
    _sweep,
    _live,
    _compare,
    _calibrate,
    _record,
    _worker,
    _sweep_worker,
    _lessons,
    _analytic,
    _check,
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; ``args.command`` names the subcommand given."""
    parser = argparse.ArgumentParser(
        prog="queuelab",
        description="Simulate a Celery-on-Redis task queue and check what it does.",
    )
    # a metavar, not argparse's "{simulate,sweep,...}": that set filled the usage line and
    # headed the list of subcommands, each named twice before its help
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser
