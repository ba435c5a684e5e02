"""The ``queuelab`` command. Exit codes: 0 ok, 1 a check failed, 2 bad input.

Each command reads its arguments (``queuelab.parser``), calls the use cases ``sim`` and ``live``
offer and prints what they return (``queuelab.report``). This is the one module that imports
both halves; ``live`` is imported only by its own subcommands, so the simulator runs where Celery
is not installed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path

from queuelab import report
from queuelab.parser import MAX_SERVERS, build_parser
from queuelab.report import ProgressBar, emit
from sim import costs, data_files, scenario
from sim.analysis import analytic, invariants, runs, sizing, sweep
from sim.analysis.metrics import Summary
from sim.engine import budget
from sim.engine.distributions import service_mean
from sim.engine.model import simulate, tally
from sim.rules import routing
from sim.saving import Saved, save
from sim.trace import ParquetStream, TraceError, capacity_path, read


class BadInput(Exception):
    """Input the user must fix; printed as one line, exit 2."""


def _check_output(path: str | Path, option: str, suffixes: tuple[str, ...]) -> Path:
    """Refuse an output file that could not be written (``_check_writable``), before any work
    is done for it, so a run never ends by failing to save what it found."""
    if str(path).endswith(("/", os.sep)):  # Path() drops it: "x.csv/" would write x.csv
        raise BadInput(f"{option} {str(path)!r} names a folder: give a file name")
    path = Path(path)
    if path.suffix not in suffixes:
        raise BadInput(f"{option} {str(path)!r}: the file must end in " + " or ".join(suffixes))
    if path.is_dir():
        raise BadInput(f"{option} {str(path)!r} is a folder: give a file name")
    _check_writable(path, f"{option} {str(path)!r}: cannot write there")
    return path


def _check_writable(path: Path, said: str) -> None:
    """Refuse ``path`` unless it can be written, ``said`` the start of the error. It is opened
    for appending (which changes nothing in an existing file) and a file that did not exist
    before is removed again."""
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as err:
        raise BadInput(
            f"{said} ({err.strerror}); give a path in a folder that exists and is writable"
        ) from None
    if not existed:
        path.unlink()


def _warn_if_overloaded(sc: scenario.Scenario) -> None:
    """Say so on stderr when the pool cannot keep up: the run still completes and its figures look
    normal, but they grow with the run's length. Not in ``--json``: the summary is the trace's."""
    warning = analytic.overload_warning(sc)
    if warning:
        print(f"queuelab: warning: {warning}", file=sys.stderr)


def _warn_if_endless(sc: scenario.Scenario) -> None:
    """Say so on stderr when a task type retries for ever and always fails (``runs.endless``)."""
    if said := runs.endless(sc):
        print(f"queuelab: warning: {said}", file=sys.stderr)


def _warn_if_idle_queues(sc: scenario.Scenario) -> None:
    """Say so on stderr when a ``[[pools]]`` pool consumes a queue no task type is sent to:
    legal in Celery, but here nothing else sends to it (``routing.idle_queues``)."""
    for line in routing.idle_queues(sc):
        print(f"queuelab: warning: {line}", file=sys.stderr)


def _check_trace_path(path: str | None, sc: scenario.Scenario) -> None:
    """Refuse a trace that could not be written, or that would be written (it or its capacity
    rows) over a data file the scenario reads: ``--trace service.csv`` replaced the user's
    service times with the run's rows, and the next load failed on them."""
    if path is None:
        return
    written = (Path(path), capacity_path(Path(path)))
    for data in data_files.paths(sc):
        if any(_same_file(out, Path(data)) for out in written):
            raise BadInput(
                f"--trace {path!r} would write over {data}, a data file the scenario reads: "
                "give the trace another name"
            )
    out = _check_output(path, "--trace", (".csv", ".parquet"))
    # the files written beside it: the capacity rows, and a streamed Parquet's rows until the
    # run ends. A writable trace in a read-only folder passed the check above, and its run
    # ended failing to write them: a CSV's trace went to a temp folder, a streamed one's
    # summary was lost after the whole run
    beside = [(capacity_path(out), "its capacity rows")]
    if out.suffix == ".parquet":
        beside.append((ParquetStream.partial_path(out), "its rows while the run goes"))
    for file, what in beside:
        _check_writable(file, f"--trace {path!r}: cannot write {what} beside it, {file}")


def _same_file(out: Path, given: Path) -> bool:
    """Whether writing ``out`` would replace the existing file ``given``: the same path once
    links are followed, or another name of it (a hard link)."""
    try:
        return out.resolve() == given.resolve() or (out.exists() and out.samefile(given))
    except OSError:
        return False


def _at_time_scale(sc: scenario.Scenario, time_scale: float) -> scenario.Scenario:
    """``sc`` as a live run at ``time_scale`` runs it (Celery's costs, and the restore scans the
    live app sets kombu to), or as deployed at 1; the flag named when that takes a cost past
    its field's range (the error named only the field, which the user had not set)."""
    try:
        return sc if time_scale == 1 else costs.beside_live_run(sc, time_scale)
    except scenario.ScenarioError as err:
        raise BadInput(
            f"--time-scale {time_scale:g} divides Celery's wall-clock costs into scenario "
            f"seconds past their range ({err}); use a larger --time-scale"
        ) from None


def cmd_simulate(args: argparse.Namespace) -> int:
    sc = _at_time_scale(scenario.load(args.scenario, args.set), args.time_scale)
    seed = sc.seed if args.seed is None else args.seed
    _check_trace_path(args.trace, sc)
    _say_cost(sc, trace=bool(args.trace) and not args.trace.endswith(".parquet"))
    _warn_if_overloaded(sc)
    _warn_if_endless(sc)
    _warn_if_idle_queues(sc)
    _stop_as_interrupt()  # else they killed it at once, a streamed trace's .partial left behind
    if args.reps > 1:
        return _simulate_replicated(sc.replace(seed=seed), args)
    trace = None
    with ProgressBar("simulating") as bar:  # its line ends however the run does
        if not args.trace:  # the summary alone: no trace kept (``sim.tally``)
            summary = runs.simulated(sc, seed=seed, progress=bar)
        elif args.trace.endswith(".parquet"):  # written as the run goes: memory stays flat
            summary = _streamed(args.trace, sc, seed, bar)
        else:
            trace = simulate(sc, seed=seed, progress=bar)
            summary = runs.summarize(trace, sc, seed=seed)
    # the trace after the summary: a failed write loses nothing printed, and no CSV cut short
    # by a full disk is left to pass for the trace (``save``); and written however printing
    # it ended: a reader gone (`| head`) cost the run's trace, as it did a live run's
    try:
        _emit_summary(summary, sc, args.json)
    finally:
        saved = save(Path(args.trace), trace.write) if trace is not None else None
    return _said_where(saved) if saved else 0


def _streamed(path: str, sc: scenario.Scenario, seed: int, bar: ProgressBar) -> Summary:
    """The run's summary, its trace written to Parquet at ``path`` as the run goes."""
    try:
        with ParquetStream(path) as stream:
            run = tally(sc, seed, bar, stream)
    except OSError as err:  # Arrow's names no file: said as ": Error writing bytes …"
        raise BadInput(
            f"--trace {path!r}: could not write it ({err.strerror or err}), and the run "
            "stopped with it: free space there or give another path"
        ) from None
    return runs.summary(run, sc, seed=seed)


def _emit_summary(summary: Summary, sc: scenario.Scenario, as_json: bool) -> None:
    """Print a run's summary; a run that submitted nothing says so, and one whose tasks did not
    all end says how many (``runs.unfinished``), where its figures, all zero or those of the
    tasks that ended, would read as a perfect queue."""
    if not summary.tasks_submitted:
        print(f"queuelab: warning: {runs.NO_TASKS}", file=sys.stderr)
    elif said := runs.unfinished(summary, sc):
        print(f"queuelab: warning: {said}", file=sys.stderr)
    emit(summary.to_dict(), as_json)


def _check_seeds(seed: int, reps: int) -> None:
    """Replications run at seeds ``seed`` … ``seed + reps - 1``: the last must be a seed too, one
    that ``--seed`` takes to run that replication alone."""
    top = scenario.FIELD_BY_KEY["seed"].max
    if seed + reps - 1 > top:
        raise BadInput(
            f"--reps {reps} from seed {seed} runs seeds up to {seed + reps - 1}, but a seed must "
            f"be <= {top}: lower the seed or --reps"
        )


def _simulate_replicated(sc: scenario.Scenario, args: argparse.Namespace) -> int:
    if args.trace:
        raise BadInput("--trace with --reps: a trace is one run; drop one of them")
    _check_seeds(sc.seed, args.reps)
    bar = ProgressBar("simulating", "runs")
    try:
        summaries = sweep.replications(sc, args.reps, progress=bar)
    except sweep.Stopped as stopped:
        bar.close()
        kept, said = stopped.runs_of(0), "; none had finished"
        if kept:
            _print_replicated(sc, args, kept)
            said = (
                f"; kept the {len(kept)} of {args.reps} replications that finished (seeds "
                f"{_seed_span([sc.seed + r for r in kept])}): the means and intervals are over "
                "those alone"
            )
        return _said_stopped(stopped, "the replications", said)
    bar.close()
    _print_replicated(sc, args, dict(enumerate(summaries)))
    return 0


def _print_replicated(
    sc: scenario.Scenario, args: argparse.Namespace, kept: dict[int, Summary]
) -> None:
    """Each figure's mean and interval over the replications ``kept`` (by replication number:
    all of ``--reps``, or those that finished before a stop, the others named as missing)."""
    seeds = [sc.seed + r for r in kept]
    missing = [sc.seed + r for r in range(args.reps) if r not in kept]
    estimates = sweep.replicated(list(kept.values()))
    figures = {k: asdict(e) for k, e in estimates.items()}
    data = {"scenario": sc.name, "reps": len(kept), "seeds": _seed_span(seeds)}
    gaps = {"missing": missing} if missing and args.json else {}
    emit({**data, "figures": figures, **gaps}, args.json)
    if missing and not args.json:
        print(
            f"partial: {len(kept)} of {args.reps} replications: the intervals are over seeds "
            f"{_seed_span(seeds)} alone (no figures from seeds {_seed_span(missing)})"
        )
    need = sweep.reps_for(estimates["wait_mean"], len(kept))
    if need > len(kept):
        print(
            f"queuelab: wait_mean's 95 % interval is wider than ±5 % of its mean: "
            f"about --reps {need} (or longer runs: run.tasks) would bring it there",
            file=sys.stderr,
        )


def _seed_span(seeds: list[int]) -> str:
    """Seeds in order as a reader gives them back: ``3..7`` when they run on, else listed."""
    if len(seeds) > 1 and seeds[-1] - seeds[0] == len(seeds) - 1:
        return f"{seeds[0]}..{seeds[-1]}"
    return ",".join(map(str, seeds))


def _stop_as_interrupt() -> None:
    """SIGTERM and SIGHUP (a supervisor, a closed terminal) stop many runs as Ctrl-C does,
    keeping what finished."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        _unless_ignored(sig, signal.default_int_handler)


def _unless_ignored(sig: int, handler) -> None:
    """``handler`` for ``sig``, unless the command was started ignoring it, as Python leaves an
    ignored SIGINT: ``nohup`` starts it ignoring SIGHUP so that it outlives its terminal, and
    a live run closed with its terminal all the same, cut short."""
    if signal.getsignal(sig) != signal.SIG_IGN:
        signal.signal(sig, handler)


def _said_stopped(stopped: sweep.Stopped, what: str, kept: str) -> int:
    """The line that ends runs cut short, ``kept`` saying what was printed of them: interrupted
    they exit 130; stopped by an error (a lost Redis, a replication failed on its worker) 2, as
    ``live`` does."""
    if isinstance(stopped.cause, KeyboardInterrupt):
        print(f"queuelab: interrupted: stopped {what}{kept}", file=sys.stderr)
        return 130
    print(f"queuelab: error: {stopped.cause}{kept}", file=sys.stderr)
    return 2


def _say_cost(sc: scenario.Scenario, trace: bool) -> None:
    """Refuse a run that cannot fit in memory; say what a large one will hold before it starts
    (``trace``: it keeps its trace to write at the end)."""
    budget.check_fits(sc, trace=trace)
    if said := budget.large(sc, trace):
        print(f"queuelab: {said}", file=sys.stderr)


def cmd_sweep(args: argparse.Namespace) -> int:
    sc = scenario.load(args.scenario, args.set)
    if bool(sc.pools) != bool(args.pool):
        names = ", ".join(p.name for p in sc.pools)
        raise BadInput(
            f"--pool: this scenario's pools are {names}: give --pool NAME, the pool whose worker "
            "count --workers sweeps (workers.count reaches no [[pools]] pool)"
            if sc.pools
            else "--pool: this scenario has no [[pools]]: --workers sweeps workers.count"
        )
    if args.pool and args.pool not in (names := [p.name for p in sc.pools]):
        raise BadInput(f"--pool {args.pool}: no pool of that name; pools: {', '.join(names)}")
    key = sc.pool_field(args.pool, "count")
    _check_seeds(sc.seed, args.reps)
    swept = [p for p in sc.worker_pools if not sc.pools or p.name == args.pool]
    if swept and swept[0].workers.node_autoscaled:
        w, field = swept[0].workers, key.rpartition(".")[0]
        raise BadInput(
            f"--workers sweeps {key}, but under {field}.node_autoscaler = "
            f"{w.node_autoscaler!r} that is only the node count a run starts with: the "
            f"autoscaler then keeps {w.min_nodes} to {w.max_nodes} nodes as the queue moves. "
            f"Sweep static pools with --set {field}.node_autoscaler=none, or compare "
            f"{field}.max_nodes settings with simulate --set"
        )
    _warn_if_idle_queues(sc)
    _warn_if_endless(sc)  # its table's sojourns, all 0, read as a perfect queue
    for count in args.workers:
        _warn_if_overloaded(sc.replace(**{key: count}))
    _stop_as_interrupt()
    bar = ProgressBar("sweeping", "runs")
    try:
        if args.redis_url:
            runs = _celery_sweep(args, sc, key, bar)
        else:
            runs = sweep.sweep_field(sc, key, args.workers, args.reps, progress=bar)
    except sweep.Stopped as stopped:
        bar.close()
        return _stopped_sweep(args, sc, stopped)
    bar.close()
    _print_sweep(args, sc, args.workers, runs)
    return 0


def _print_sweep(args: argparse.Namespace, sc, workers: list[int], runs: list, missing=()) -> None:
    """The sweep's table (and the pool's, with ``--pool``) at ``workers``; a stopped sweep's
    names the worker counts ``missing``, whose replications did not all finish."""
    points = sweep.points(workers, runs)
    curve = sizing.curve_of(sc, args.pool, workers, runs) if args.pool else None
    if args.json:
        pool = {"pool": asdict(curve)} if curve else {}
        gaps = {"missing": list(missing)} if missing else {}
        points_json = [p.to_dict() for p in points]
        print(json.dumps({"scenario": sc.name, "points": points_json, **pool, **gaps}))
        return
    print("\n".join(report.sweep_table(points)))
    if curve:
        print("\n" + "\n".join(report.pool_table(curve)))
    if missing:
        print(f"partial: no figures for --workers {','.join(map(str, missing))}")


def _stopped_sweep(args: argparse.Namespace, sc, stopped: sweep.Stopped) -> int:
    """A sweep cut short prints the worker counts whose replications all finished, the others
    named as missing (nothing, when none did)."""
    workers, runs = stopped.complete(args.workers, args.reps)
    kept = ""
    if workers:
        _print_sweep(args, sc, workers, runs, [w for w in args.workers if w not in workers])
        kept = (
            f"; kept the {len(workers)} of {len(args.workers)} worker counts whose "
            "replications all finished"
        )
    return _said_stopped(stopped, "the sweep", kept)


def _celery_sweep(args: argparse.Namespace, sc, key: str, bar: ProgressBar) -> list:
    """The sweep's replications as Celery tasks on ``--redis-url``, for sweep workers to take;
    stopped, it withdraws the replications still waiting."""
    _live_modules()
    from live import sweep_app

    try:
        return sweep_app.sweep_field(
            args.redis_url, sc, key, args.workers, args.reps, bar, bar.note
        )
    except sweep_app.RedisUnavailable as err:
        raise BadInput(str(err)) from None


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
    terminal = [fd for fd in (1, 2) if os.isatty(fd)]

    def stopped(sig: int, _frame) -> None:
        if sig == signal.SIGHUP:
            _off_closed_terminal(terminal)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        _unless_ignored(sig, stopped)
    return stop


def _off_closed_terminal(fds: list[int]) -> None:
    """Point those of ``fds`` (stdout, stderr: a terminal when the run began) that a hang-up
    closed at /dev/null. Every write to a closed terminal fails (EIO): the progress bar's ended
    the command before it wrote the run's trace, which was lost. A terminal still open (a
    SIGHUP sent by hand) keeps the output."""
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in fds:
        if not os.isatty(fd):
            os.dup2(null, fd)
    os.close(null)


def cmd_live(args: argparse.Namespace) -> int:
    sc = scenario.load(args.scenario, args.set)
    _check_live(args, sc)
    _check_trace_path(args.trace, sc)
    _warn_if_overloaded(sc)
    _warn_if_endless(sc)
    trace, stop, lost_redis = _run_live(args, sc, partial=True)
    summary = runs.summarize(trace, sc, engine="live", seed=args.seed).to_dict()
    try:
        emit(summary, args.json)
    finally:  # a reader gone (`| head`) costs the summary, not the run's trace
        saved = save(Path(args.trace), trace.write) if args.trace else None
    misplaced = _said_where(saved) if saved else 0
    what = "unfinished when the run stopped" if stop.is_set() or lost_redis else "lost"
    for line in report.lost_lines(trace, what):
        print(line, file=sys.stderr)
    if lost_redis:
        print(f"queuelab: error: {lost_redis}", file=sys.stderr)
    if lost_redis or misplaced:
        return 2
    if stop.is_set():  # what was kept, as a lost Redis's line says it
        kept = f"the summary and the trace ({saved.path}) hold" if saved else "the summary holds"
        print(
            f"queuelab: interrupted: stopped the run and its workers; {kept} what ran until then",
            file=sys.stderr,
        )
        return 130
    return 0


def _say_long_wall(sc: scenario.Scenario, seed: int | None, time_scale: float) -> None:
    """Warn when the arrivals alone take long in wall time (``--time-scale 5`` read as five
    times faster runs five times slower, with nothing said until its progress), or a retry
    does (``live.run.long_retry``)."""
    from live.run import LONG_WALL, arrivals_wall, long_retry

    wall = arrivals_wall(sc, seed, time_scale)
    if wall > LONG_WALL:
        print(
            f"queuelab: warning: the arrivals alone take {wall / 60:,.0f} minutes of wall time "
            f"at --time-scale {time_scale:g} (wall seconds per scenario second: 0.1 runs ten "
            "times faster than real time); Ctrl-C stops the run and keeps what ran",
            file=sys.stderr,
        )
    if said := long_retry(sc, time_scale, f"--time-scale {time_scale:g}"):
        print(
            f"queuelab: warning: {said}; Ctrl-C stops the run and keeps what ran", file=sys.stderr
        )


def _say_host_load(sc, time_scale: float) -> None:
    """Warn when the run would ask so much of the host's CPUs that it times the host."""
    from live.host_cpu import cores, demand, load_note
    from sim.analysis.compare import SATURATED

    rate, n = analytic.arrival_rate(sc, peak=True), cores()
    if rate and demand(rate, time_scale, n) >= SATURATED:
        print(
            f"queuelab: warning: {load_note(rate, time_scale, n)}: its timings will be the "
            "host's, not the scenario's; use a larger --time-scale",
            file=sys.stderr,
        )


def _check_live(args: argparse.Namespace, sc: scenario.Scenario) -> None:
    """Refuse, before any warning and anything started, a scenario the live run cannot run:
    what only the simulator models, and a wait past what Python, Celery or Redis can wait at
    ``--time-scale`` (``live.waits``, the scenario's own bound: mmc takes millions)."""
    _, run, _ = _live_modules()  # Celery missing is said first
    run.check_live(sc, args.seed, args.time_scale)


def _say_before_live(args: argparse.Namespace, sc) -> None:
    """What the user should hear before a live run starts (or compare's probe before it): a
    service too short to time, a run long in wall time, a load the host cannot carry, a node
    autoscaler's ``node_start`` shorter than a real node's boot."""
    _, run, _ = _live_modules()  # Celery missing is said first
    from live.clock import Clock
    from live.node_autoscaler import start_note

    wall_service = Clock(None, args.time_scale).wall_seconds(service_mean(sc.service))
    if wall_service < run.MIN_SERVICE_WALL:
        print(
            f"queuelab: warning: mean service of {wall_service * 1000:.2g} ms wall time is "
            "below what Celery can time faithfully; use a larger --time-scale",
            file=sys.stderr,
        )
    _say_long_wall(sc, args.seed, args.time_scale)
    _say_host_load(sc, args.time_scale)
    if note := start_note(sc, args.time_scale):
        print(f"queuelab: warning: {note}", file=sys.stderr)
    _warn_if_idle_queues(sc)


def _run_live(
    args: argparse.Namespace, sc, partial: bool = False, host=None, stop=None, said=False
) -> tuple:
    """Run the live half with the CLI's error handling; returns (trace, stop event, and the
    lost Redis, a ``run.RedisLost``, or None). A run whose Redis went away returns what it
    collected when ``partial``; otherwise it is an error. ``host`` (a BusyShare) measures the
    host's CPUs; ``stop``, the signals' event when they were caught before (else they are
    caught now); ``said``: ``_say_before_live`` was called already."""
    redis_server, run, workers = _live_modules()
    if not said:
        _say_before_live(args, sc)
    stop = stop or _stop_on_signals()
    bar = ProgressBar("running")
    try:
        trace = run.run_live(
            sc, args.redis_url, args.time_scale, args.seed, args.drain, bar, stop, host=host
        )
    except (redis_server.RedisUnavailable, workers.WorkerStartError) as err:
        raise BadInput(str(err)) from None
    except run.RedisLost as err:
        if not partial:  # nothing of it is printed or written: it is lost
            raise BadInput(f"{err.what}, and with it the run; {err.remedy}") from None
        return err.trace, stop, err
    finally:
        bar.close()
    return trace, stop, None


def cmd_compare(args: argparse.Namespace) -> int:
    from live.host_cpu import BusyShare
    from sim.analysis.compare import (
        beside_again,
        compare,
        costless,
        producer_lag,
        simulated_beside,
    )

    sc = scenario.load(args.scenario, args.set)
    _check_live(args, sc)
    seed = sc.seed if args.seed is None else args.seed
    _say_before_live(args, sc)  # not after the probe's seconds
    stop = _stop_on_signals()  # from the probe on: one stopped there compares nothing
    simulated = _host_costs(args, sc, stop) if args.costs == "host" else sc
    if stop.is_set():
        print("queuelab: interrupted while measuring Celery's costs: no run", file=sys.stderr)
        return 130
    warning = costless(simulated, args.time_scale)
    if warning:
        print(f"queuelab: warning: {warning}", file=sys.stderr)
    host = BusyShare()
    live_trace, stop, _ = _run_live(args, sc, host=host, stop=stop, said=True)
    if stop.is_set() and not _ran_whole(live_trace, sc, seed):
        print("queuelab: interrupted: no comparison", file=sys.stderr)
        return 130
    sim_trace = simulated_beside(simulated, live_trace, args.time_scale, seed)
    result = compare(sc, sim_trace, live_trace, args.tolerance, host_busy=host.share)
    lag = producer_lag(sc, sim_trace, seed)
    again, second_lost = None, None
    if args.again and not stop.is_set():  # a Ctrl-C since the first run counts
        second, second_lost = _second_run(args, sc, stop)
        if second is not None and (not stop.is_set() or _ran_whole(second, sc, seed)):
            again = compare(sc, second, live_trace, args.tolerance)
            result = beside_again(result, again)
    if args.json:
        extra = {"again": report.again_json(again)} if again else {}
        print(json.dumps({**result.to_dict(), "producer_lag": lag, **extra}))
    else:
        print(
            "simulated with the live run's send times as arrivals (the producer sent up to "
            f"{lag:.3g} s behind the scenario's)"
        )
        print("\n".join(report.comparison_text(result)))
        if again:
            print("\n".join(report.again_text(again)))
    if second_lost:
        print(f"queuelab: error: the second live run is lost: {second_lost}", file=sys.stderr)
        return 2
    if args.again and again is None:  # the first run's comparison is printed: it is whole
        print("queuelab: interrupted: no second run", file=sys.stderr)
        return 130
    return 0 if result.ok else 1


def _second_run(args: argparse.Namespace, sc: scenario.Scenario, stop) -> tuple:
    """``compare --again``'s second live run: (its trace, None), or (None, why it is lost) when
    its Redis went away or could not start it. That costs the second run alone: it threw away
    the first run's comparison, whole and judged by then, with an exit 2 and nothing printed."""
    try:
        trace, _, lost = _run_live(args, sc, stop=stop, said=True, partial=True)
    except BadInput as err:
        return None, str(err)
    if lost:
        return None, f"{lost.what}; {lost.remedy}"
    return trace, None


def _ran_whole(trace, sc: scenario.Scenario, seed: int) -> bool:
    """Every drawn task was sent and ended: a Ctrl-C that came after the run's drain, while it
    wound up, cut nothing of it (it discarded a whole run, and with ``--again`` the first
    run's comparison too)."""
    from sim.analysis.metrics import last_terminal
    from sim.engine.draws import Draws

    _, states = last_terminal(trace)
    return len(states) == Draws(sc, seed).n_tasks and bool((states >= 0).all())


def _host_costs(args: argparse.Namespace, sc: scenario.Scenario, stop) -> scenario.Scenario:
    """``sc`` with Celery's costs as the probe measures them on this host now; said on stderr.
    ``stop`` ends the probe early (``sc`` is returned then)."""
    redis_server, _, workers = _live_modules()
    from live.probe import ProbeStopped, host_costs
    from sim.analysis.calibrate import CalibrationError

    try:
        costs = host_costs(sc, args.time_scale, args.redis_url, stop)
    except (redis_server.RedisUnavailable, workers.WorkerStartError) as err:
        raise BadInput(str(err)) from None
    except ProbeStopped:
        return sc
    except CalibrationError as err:
        print(
            f"queuelab: warning: could not measure Celery's costs on this host ({err}); "
            "simulating with the scenario's own",
            file=sys.stderr,
        )
        return sc
    print(f"queuelab: Celery's costs on this host now: {costs.describe()}", file=sys.stderr)
    return sc.replace(**costs.fields(sc))


def cmd_calibrate(args: argparse.Namespace) -> int:
    from sim.analysis.calibrate import CalibrationError, calibrated_text, fit_overheads, replaced

    sc = scenario.load(args.scenario, args.set)
    if _same_file(Path(args.out), Path(args.scenario)):
        raise BadInput(
            f"--out {args.out!r} is the scenario file itself: calibrate writes it anew (its "
            "comments dropped, its description replaced), so give the calibrated file another name"
        )
    _check_live(args, sc)
    out = _check_output(args.out, "--out", (".toml",))
    stated = replaced(args.scenario)
    if stated:
        print(
            f"queuelab: warning: {args.scenario} states {', '.join(stated)}; calibrate replaces "
            "them with Celery's costs on queuelab's own workers on this machine. If `queuelab "
            "record` wrote them, they are your own nodes' costs, which predict your deployment "
            "better: simulate the recorded file as it is",
            file=sys.stderr,
        )
    trace, stop, _ = _run_live(args, sc)
    if stop.is_set():
        print("queuelab: interrupted: nothing calibrated", file=sys.stderr)
        return 130
    try:
        fit = fit_overheads(trace, sc, args.seed, args.time_scale)
    except CalibrationError as err:
        raise BadInput(str(err)) from None
    if fit.handover is None:
        print(
            f"queuelab: warning: only {fit.handovers_used} tasks waited for a slot: the "
            "hand-over was not fitted (calibrate at a higher arrival rate or with fewer workers)",
            file=sys.stderr,
        )
    how = f"a live run at time scale {args.time_scale:g}" + (
        f" with --set {' '.join(args.set)}" if args.set else ""
    )
    saved = save(out, lambda path: path.write_text(calibrated_text(args.scenario, fit, path, how)))
    emit({**fit.to_dict(), "time_scale": args.time_scale, "out": str(saved.path)}, args.json)
    return _said_where(saved)


def _said_where(saved: Saved) -> int:
    """The exit code of a run whose result ``saved`` holds: 2, said on stderr, when it could
    not go where ``--out`` or ``--trace`` asked (its folder gone or unwritable since it was
    checked)."""
    if saved.failed:
        print(f"queuelab: error: {saved.failed} instead", file=sys.stderr)
        return 2
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    redis_server, _, _ = _live_modules()
    from live.record import data_files, record

    out = _check_output(args.out, "--out", (".toml",))
    for data in data_files(out):
        _check_output(data, "--out (its data file)", (".csv",))
    try:
        redis_server.ping(args.redis_url, remedy="give the broker URL of the Celery app to record")
    except redis_server.RedisUnavailable as err:
        raise BadInput(str(err)) from None
    stop = _stop_on_signals()
    try:
        saved = record(
            args.redis_url,
            args.duration,
            out,
            stop,
            warn=lambda deaf: print(
                f"queuelab: warning: {deaf} (Ctrl-C ends the recording)", file=sys.stderr
            ),
            listening=lambda: print(
                f"listening to task events on {redis_server.shown(args.redis_url)} for "
                f"{args.duration:g}s "
                "(workers must run with -E)",
                file=sys.stderr,
                flush=True,
            ),
        )
    except ValueError as err:
        raise BadInput(str(err)) from None
    recorded = saved.value
    for warning in recorded.warnings:
        print(f"queuelab: warning: {warning}", file=sys.stderr)
    sc = recorded.scenario
    emit(
        {
            "out": str(saved.path),
            "tasks": sc.run.tasks,
            "arrivals_from": recorded.arrivals_from,
            "workers": len(sc.nodes),
            "failure_probability": sc.failures.probability,
            "by_task": {
                t.name: {
                    "queue": t.queue,
                    "share": share,
                    "failure_probability": t.failures.probability,
                }
                for t, share in zip(sc.task_types, sc.shares, strict=True)
            },
            "by_pool": {
                p.name: {
                    "queues": ",".join(p.queues),
                    "count": p.workers.count,
                    "concurrency": p.workers.concurrency,
                }
                for p in sc.worker_pools
            },
        },
        args.json,
    )
    if recorded.lost:
        print(f"queuelab: error: {recorded.lost}", file=sys.stderr)
    if _said_where(saved) or recorded.lost:
        return 2
    if stop.is_set():
        print("queuelab: interrupted: wrote what was heard until then", file=sys.stderr)
        return 130
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    redis_server, run, workers = _live_modules()
    try:
        redis_server.ping(args.redis_url, remedy="give the --redis-url of the run to join")
    except redis_server.RedisUnavailable as err:
        raise BadInput(str(err)) from None
    stop = _stop_on_signals()
    print(
        f"waiting for a live run on {redis_server.shown(args.redis_url)} (Ctrl-C to stop)",
        file=sys.stderr,
    )

    def joined(config, names: list[str]) -> None:
        print(f"joined run {config.run_id} with {len(names)} workers", file=sys.stderr)

    try:
        run.join_run(args.redis_url, args.count, args.concurrency, stop, joined)
    except (redis_server.RedisUnavailable, workers.WorkerStartError) as err:
        raise BadInput(str(err)) from None
    return 0


def cmd_sweep_worker(args: argparse.Namespace) -> int:
    _live_modules()
    from live import sweep_app

    try:
        sweep_app.serve(args.redis_url, args.concurrency, args.visibility_timeout)
    except sweep_app.RedisUnavailable as err:
        raise BadInput(str(err)) from None
    return 0


def cmd_lessons(args: argparse.Namespace) -> int:
    from sim.analysis.lessons import LESSONS, all_lessons, named

    lessons = all_lessons()
    if args.name is not None:  # "" is no lesson's name: it listed them all
        try:
            each = named(args.name, lessons)
        except LookupError as err:
            raise BadInput(str(err)) from None
        default, fixed = each.run()
        if args.json:
            print(json.dumps(report.lesson_run(each, default, fixed)))
        else:
            print("\n".join(report.lesson_run_text(each, default, fixed)))
        return 0
    if args.json:
        print(json.dumps(report.lessons_json(lessons, LESSONS)))
    else:
        print("\n".join(report.lessons_text(lessons, LESSONS)))
    return 0


def cmd_analytic(args: argparse.Namespace) -> int:
    try:
        result = analytic.analyze(args.rate, args.service_mean, args.workers).to_dict()
        if args.service_cv != 1.0 or args.arrival_cv != 1.0:
            result["wait_mean_allen_cunneen"] = analytic.allen_cunneen(
                args.rate, args.service_mean, args.workers, args.arrival_cv, args.service_cv
            )
    except analytic.UnstableError as err:
        beyond = args.rate * args.service_mean + 1 > MAX_SERVERS  # advice --workers cannot take
        raise BadInput(
            f"{err}" + (f", more than --workers takes ({MAX_SERVERS:,})" if beyond else "")
        ) from None
    emit(result, args.json)
    if "wait_mean_allen_cunneen" in result and not args.json:
        print(
            "every figure but the last is M/M/c's (cv 1 for the gaps and the service); "
            f"for --arrival-cv {args.arrival_cv:g} and --service-cv {args.service_cv:g} "
            "the mean wait is Allen-Cunneen's approximation, the last line"
        )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    if args.set and not args.scenario:
        raise BadInput("--set changes the scenario: give it with --scenario")
    trace = read(args.trace)
    if not len(trace):
        raise BadInput(f"{args.trace}: the trace holds no rows, so there is nothing to check")
    sc = scenario.load(args.scenario, args.set) if args.scenario else None
    if sc is not None and (why := invariants.mismatch(trace, sc, args.seed)):
        raise BadInput(f"{args.trace} is not a run of scenario {args.scenario}: {why}")
    found = invariants.check(trace, sc, seed=args.seed)
    if args.json:
        print(json.dumps(report.check_json(found)))
    else:
        print("\n".join(report.check_text(found, sc)))
    return 0 if found.ok else 1


COMMANDS = {
    "simulate": cmd_simulate,
    "sweep": cmd_sweep,
    "live": cmd_live,
    "compare": cmd_compare,
    "calibrate": cmd_calibrate,
    "record": cmd_record,
    "worker": cmd_worker,
    "sweep-worker": cmd_sweep_worker,
    "lessons": cmd_lessons,
    "analytic": cmd_analytic,
    "check": cmd_check,
}


def main(argv: list[str] | None = None) -> int:
    # what sim logs (a warning) reaches stderr through logging's handler of last resort:
    # prefixed as the CLI's own warnings are
    logging.lastResort.setFormatter(logging.Formatter("queuelab: %(message)s"))
    try:
        args = build_parser().parse_args(argv)  # --redis-url's check imports redis and kombu
        return COMMANDS[args.command](args)
    except (BadInput, scenario.ScenarioError, TraceError) as err:
        print(f"queuelab: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (| head) closed: not an error of the command's
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return 1
    except OSError as err:  # one of no file (stdout on a full disk) read "error: : No space …"
        where = f"{err.filename}: " if err.filename else ""
        print(f"queuelab: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("queuelab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
