"""Live runs in a background thread, for a caller that keeps working while they go (the app).

A session runs its scenarios one after another and keeps the trace so far and each result; it
is stopped through its ``stop`` event, and every session still running when the process exits
is stopped cleanly then.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sim import data_files
from sim.data_files import Stamp
from sim.scenario import Scenario
from sim.trace import Trace

if TYPE_CHECKING:  # live.workers imports Redis and Celery; importing this module must not
    from live.probe import HostCosts
    from live.workers import WorkerPool


@dataclass(eq=False)  # identity: a run is itself, and can sit in a WeakSet
class LiveSession:
    """Live runs of one or more scenarios, one after another, in a background thread; a caller
    (an app page) reads ``latest`` (the run going on, so far) and ``results`` while they go."""

    scenarios: tuple[Scenario, ...]
    time_scale: float
    stop: threading.Event = field(default_factory=threading.Event)
    latest: Trace | None = None
    results: list[Trace] = field(default_factory=list)
    host_busy: list[float | None] = field(default_factory=list)  # per result, the host's CPUs
    error: str | None = None
    thread: threading.Thread | None = None
    compare_anyway: bool = False  # a stopped run goes to Compare only when asked
    pool: WorkerPool | None = None  # the current run's worker nodes, once they are up
    started: float | None = None  # time.monotonic() at the current run's start: its boot's progress
    probe: bool = False  # measure this host's Celery costs (live.probe) before the first run
    costs: HostCosts | None = None  # what the probe measured, once it has
    probed: bool = False  # the probe has ended (costs None then: it measured too little)
    lost: bool = False  # cut short by its Redis going away (its trace holds what was collected)
    # each data file its scenarios name, stamped as its runs read it (data_files.stamps: the
    # numbers of the last load): a file edited since is simulated beside them as it is now
    read: tuple[tuple[str, Stamp | None], ...] = field(init=False)

    def __post_init__(self) -> None:
        self.read = tuple(dict.fromkeys(s for sc in self.scenarios for s in data_files.stamps(sc)))

    def start(self) -> None:
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True)
        _RUNNING.add(self)
        self.thread.start()

    def _run(self) -> None:
        from live.host_cpu import BusyShare
        from live.probe import ProbeStopped, host_costs
        from live.run import RedisLost, run_live  # here: importing this module needs no Celery
        from sim.analysis.calibrate import CalibrationError

        try:
            if self.probe:
                with contextlib.suppress(CalibrationError):  # then the scenario's own costs
                    self.costs = host_costs(self.scenarios[0], self.time_scale, stop=self.stop)
                self.probed = True
            for sc in self.scenarios:
                if self.stop.is_set():  # a stopped run's next scenarios are not started
                    return
                self.started = time.monotonic()  # this run's own boot starts now
                host, lost = BusyShare(), None
                try:
                    trace = run_live(
                        sc,
                        time_scale=self.time_scale,
                        stop=self.stop,
                        watch=self._watch,
                        nodes=self._nodes,
                        host=host,
                    )
                except RedisLost as err:  # what was collected stands, as a stopped run's does
                    trace, lost = err.trace, err
                self.host_busy.append(host.share)
                self.results.append(trace)
                if lost is not None:
                    self.lost = True
                    self.stop.set()  # its tail is missing: compared only when asked
                    self.error = (
                        f"Redis went away mid-run ({lost.error}): below is what was collected "
                        "until then. Start another run."
                    )
                    return
        except ProbeStopped:
            return  # stopped before the run began: nothing to show
        except Exception as err:  # shown to the user: the run's own message says what to do
            self.error = f"{type(err).__name__}: {err}"

    def _watch(self, trace: Trace) -> None:
        self.latest = trace

    def _nodes(self, pool: WorkerPool) -> None:
        self.pool = pool

    def nodes_up(self) -> dict[str, bool]:
        """Per worker node, whether it runs now; every node is down once the run is over."""
        return self.pool.up() if self.pool is not None and self.running else {}

    def finish(self, timeout: float = 30.0) -> None:
        """Stop the run and wait until its workers and redis-server have stopped."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)

    @property
    def scenario(self) -> Scenario:
        """The first scenario, paying this host's costs once the probe has measured them (a
        live run pays them anyway; its simulation then does too)."""
        return self.paying(self.scenarios[0])

    def paying(self, sc: Scenario) -> Scenario:
        """``sc`` paying this host's Celery costs, once the probe has measured them."""
        return sc.replace(**self.costs.fields(sc)) if self.costs else sc

    @property
    def result(self) -> Trace | None:
        """The first run's trace, once it has finished."""
        return self.results[0] if self.results else None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


_RUNNING: weakref.WeakSet[LiveSession] = weakref.WeakSet()


def going() -> LiveSession | None:
    """A live run of this process that goes on, whichever page started it: one at a time, as
    two beside each other on one host skew each other's timings."""
    return next((s for s in list(_RUNNING) if s.running), None)


@atexit.register
def _stop_runs_at_exit() -> None:
    """The process exiting (Streamlit's Ctrl-C) stops every run cleanly: workers, redis-server,
    folders. (Were the process killed instead, ``live.lifeline`` takes them down.)"""
    for session in list(_RUNNING):
        session.finish()
