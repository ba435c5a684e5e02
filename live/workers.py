"""Real ``celery worker`` processes for a run: started, ready-checked, restarted, stopped.

Each worker node runs in its own session (process group), so a crash drawn by a task can kill the
node — main process and pool — and stopping the run leaves no process behind. A node that dies is
restarted after the scenario's (scaled) restart delay, as a supervisor such as systemd would.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis
from kombu.exceptions import OperationalError

from live import redis_server
from live.celery_app import ENV, LiveConfig
from live.lifeline import parent_env
from sim.scenario import Scenario

WARM_STOP = 10.0  # wall seconds a stopped node gets to end its tasks before its SIGKILL
# wall seconds from a node's spawn to its first task, on 2 cores: 3.9-4.8 s, three nodes booting
# at once at load 15 (tests/live/test_node_autoscaler.py; DESIGN, "A queue-length node
# autoscaler"); what a probe's nodes (``live.probe``) usually take to start too
BOOT = 4.0


def grace_after(err: BaseException | None) -> float:
    """Wall seconds the nodes get to end their tasks once ``err`` ended what they ran for (None:
    it ended well): none after a lost Redis, where a warm shutdown waits on it (a frozen one:
    the whole grace, 10 s of the minute a frozen Redis took to end a run) for rows no one can
    read any more. (A stop while they start is ``WorkerPool.start``'s own.)"""
    return 0.0 if isinstance(err, (redis.RedisError, OperationalError)) else WARM_STOP


class WorkerStartError(RuntimeError):
    """Workers did not report ready in time."""


class BootStopped(RuntimeError):
    """The run was stopped (Ctrl-C, the Live page's Stop) while its nodes started; they are
    stopped."""


def why_exited(last_line: str, code: int = 1) -> str:
    """What to tell the user of a node that exited at boot with exit ``code``, from the last
    line it wrote: the signal that killed it (the OOM killer's SIGKILL, a user's), as its last
    line is then whatever it was in the middle of (a warning's source line, as Celery's warning
    on running as root, was said as the reason); its error, and for a Redis out of memory
    (``maxmemory`` reached, policy noeviction) the remedy."""
    if code < 0:
        return f": killed by {signal.Signals(-code).name}"
    if redis_server.out_of_memory(last_line):
        why = last_line.rpartition(": ")[2].rstrip(".")
        return f": Redis is out of memory ({why}); {redis_server.FULL}, then run again"
    return f": {last_line}" if last_line else ""


def worker_command(config: LiveConfig, name: str, concurrency: int) -> list[str]:
    """``celery worker`` for node ``name`` of ``config``'s pool, on that pool's queues: a fixed
    ``--concurrency``, or ``--autoscale MAX,MIN`` when the pool autoscales."""
    queues = ",".join(config.queue_name(q) for q in config.worker_pool.queues)
    w = config.worker_pool.workers
    pool_size = (
        ["--autoscale", f"{w.autoscale_max},{w.autoscale_min}"]
        if w.autoscale_max
        else ["--concurrency", str(concurrency)]
    )
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "live.worker_main",
        "worker",
        "--pool",
        "prefork",
        *pool_size,
        "--hostname",
        f"{name}@{config.run_id}",
        "--queues",
        queues,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "WARNING",
    ]


def on_keepalive_grid(pool: WorkerPool, sc: Scenario, earliest: float) -> float:
    """The run's origin: the first wall time from ``earliest`` on which the keepalive timer of
    the first ``--autoscale`` node ticks. The simulator's timer ticks every keepalive from the
    node's start at 0; a live node's started when it got ready, before the run, so without
    this a shrink could come up to a keepalive earlier or later than simulated."""
    scaled = [name for name, p in sc.nodes if p.workers.autoscale_max]
    if not scaled or scaled[0] not in pool.ready_at:
        return earliest
    pool_of = dict(sc.nodes)[scaled[0]]
    period = pool.config.clock.wall_seconds(pool_of.workers.autoscale_keepalive)
    start = pool.ready_at[scaled[0]]
    return start + math.ceil((earliest - start) / period) * period


def autoscale_env(config: LiveConfig) -> dict[str, str]:
    """The (scaled) keepalive of an autoscaling pool: Celery reads it only from the environment
    variable AUTOSCALE_KEEPALIVE, once, when celery.worker.autoscale is imported."""
    w = config.worker_pool.workers
    if not w.autoscale_max:
        return {}
    return {"AUTOSCALE_KEEPALIVE": repr(config.clock.wall_seconds(w.autoscale_keepalive))}


@dataclass(frozen=True)
class Node:
    """One worker node to start: its name, the scenario pool it belongs to, its slots."""

    name: str
    pool: str
    concurrency: int


class WorkerPool:
    """The run's worker nodes (w1…wN, or <pool>-1… for the scenario's pools), restarted
    ``restart_delay`` wall seconds after they die."""

    def __init__(
        self,
        config: LiveConfig,
        nodes: list[Node],
        restart_delay: float,
        logs: Path | None = None,
    ) -> None:
        self.config = config
        self.nodes = {node.name: node for node in nodes}
        self.names = list(self.nodes)
        self.restart_delay = restart_delay
        self.logs = logs  # a folder for each node's output (NAME.log), to say why one exited
        self.procs: dict[str, subprocess.Popen] = {}
        self.crashes = 0
        self.died: dict[str, float] = {}  # node → wall time its death was seen
        self.ready_at: dict[str, float] = {}  # node → wall time it first reported ready
        # a node autoscaler's: the nodes added while the run goes, the wall time each began
        # to consume (none yet: held or booting), those removed with their SIGKILL's deadline
        self.added: list[str] = []
        self.consume_at: dict[str, float] = {}  # an added node's: it takes no message before
        self.since: dict[str, float] = {}
        self.retired: dict[str, float] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    def _spawn(self, name: str) -> None:
        node = self.nodes[name]
        config = self.config.with_pool(node.pool, self.consume_at.get(name, 0.0))
        env = {**os.environ, ENV: config.to_env(), **autoscale_env(config), **parent_env()}
        with open(self.log(name), "ab") if self.logs else contextlib.nullcontext() as log:
            self.procs[name] = subprocess.Popen(
                worker_command(config, name, node.concurrency),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log or subprocess.DEVNULL,
                stderr=log or subprocess.DEVNULL,
                start_new_session=True,
            )

    def log(self, name: str) -> Path:
        """Where node ``name`` writes its output (its restarts append to it)."""
        return self.logs / f"{name}.log"

    def last_line(self, name: str) -> str:
        """The last line node ``name`` wrote ("" without logs or a line)."""
        if not self.logs or not self.log(name).exists():
            return ""
        lines = self.log(name).read_text(errors="replace").splitlines()
        return next((line.strip() for line in reversed(lines) if line.strip()), "")

    def start(
        self,
        timeout: float = 90.0,
        stop: threading.Event | None = None,
        grace: float = WARM_STOP,
        last_look: Callable[[], None] | None = None,
    ) -> None:
        """Start every node and wait until each has reported ready. Whatever ends the wait
        early (a node that exits, the timeout, Redis lost, ``stop`` set: ``BootStopped``)
        stops the nodes: a caller that lives on, as the app does, would otherwise keep them.
        ``stop`` is looked at every tenth of a second: unwatched, a Ctrl-C waited for every
        node to be ready, up to ``timeout`` for a node hung in its boot. Stopped, it kills the
        nodes still booting at once (one hung there ignores a SIGTERM), calls ``last_look()``
        on those that came up (a run's capacity rows), then gives them ``grace`` seconds of
        warm shutdown, as a stop after the boot does: a node that joined a run going on
        (`queuelab worker`) may be running its tasks, and was killed with them."""
        stop = stop or threading.Event()
        client = redis_server.client(self.config.redis_url)
        wanted = {f"{n}@{self.config.run_id}".encode() for n in self.names}
        try:
            with self._lock:
                for name in self.names:
                    self._spawn(name)
            deadline = time.monotonic() + timeout
            while not wanted <= (ready := client.hgetall(self.config.key("ready"))).keys():
                dead = [n for n, p in self.procs.items() if p.poll() is not None]
                if dead or time.monotonic() > deadline:
                    why = (
                        f"worker {dead[0]} exited"
                        + why_exited(self.last_line(dead[0]), self.procs[dead[0]].returncode)
                        if dead
                        else f"not ready after {timeout:g}s"
                    )
                    raise WorkerStartError(f"Celery workers failed to start: {why}")
                if stop.wait(0.1):
                    raise BootStopped("stopped while the workers started")
        except BootStopped:
            # read again: a node takes its first task within ms of its ready (measured 30 ms),
            # and one ready since the last read was killed with it
            with contextlib.suppress(redis.RedisError):  # lost: that last read's
                ready = client.hgetall(self.config.key("ready"))
            self._stop_at_boot(ready, grace, last_look)
            raise
        except BaseException as err:
            self.stop(grace_after(err))
            raise
        finally:
            client.close()
        self.ready_at = self._ready_at(ready)
        self._watcher.start()

    def _ready_at(self, ready: dict[bytes, bytes]) -> dict[str, float]:
        """Per node in ``ready`` (the run's hash of ready nodes), the wall time it got ready."""
        times = {name.decode().partition("@")[0]: float(t) for name, t in ready.items()}
        return {n: times[n] for n in self.names if n in times}

    def _stop_at_boot(
        self, ready: dict[bytes, bytes], grace: float, last_look: Callable[[], None] | None
    ) -> None:
        self.ready_at = self._ready_at(ready)
        for name, proc in self.procs.items():
            if name not in self.ready_at:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        if last_look is not None:
            last_look()
        self.stop(grace)

    def _watch(self) -> None:
        """Restart each dead node ``restart_delay`` after its own death, as the simulator's
        nodes restart: slept through in line, a second node dead meanwhile came back a whole
        delay after the first, and a removed node waited as long for its SIGKILL."""
        due: dict[str, float] = {}  # a dead node → the monotonic time it restarts
        while not self._stopping.wait(0.05):
            self._end_removed()
            with self._lock:
                if self._stopping.is_set():
                    return
                now = time.monotonic()
                for name, proc in self.procs.items():
                    if name in due or name in self.retired or proc.poll() is None:
                        continue
                    self.crashes += 1
                    self.died[name] = time.time()
                    due[name] = now + self.restart_delay
                for name in [n for n, at in due.items() if at <= now]:
                    del due[name]
                    if name not in self.retired:
                        self._spawn(name)

    def add(self, node: Node, consume_at: float) -> None:
        """Start ``node`` while the run goes (a node autoscaler's), to take no message before
        wall time ``consume_at`` (``celery_app.hold``); it is restarted as the others when it
        dies, and said to consume once ``consuming`` is told so."""
        with self._lock:
            if self._stopping.is_set():
                return
            self.nodes[node.name] = node
            self.names.append(node.name)
            self.added.append(node.name)
            self.consume_at[node.name] = consume_at
            self._spawn(node.name)

    def consuming(self, name: str, since: float) -> None:
        """Added node ``name`` has consumed since wall time ``since`` (its ready)."""
        with self._lock:
            self.since[name] = since

    def remove(self, name: str, grace: float) -> None:
        """Node ``name`` goes for good (a node autoscaler's scale-down), as a deploy's node
        stops: a warm shutdown (SIGTERM; one held or booting takes no message after it), its
        process group SIGKILLed once its main process has exited or after ``grace`` wall
        seconds; it is never restarted, and ``stop`` kills whatever is left of it."""
        with self._lock:
            if name in self.retired:
                return
            self.retired[name] = time.monotonic() + grace
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def _end_removed(self) -> None:
        with self._lock:
            for name, deadline in self.retired.items():
                proc = self.procs[name]
                if name not in self.died and (
                    proc.poll() is not None or time.monotonic() > deadline
                ):
                    _signal_group(proc, signal.SIGKILL)  # its pool children too
                    proc.wait()
                    self.died[name] = time.time()  # an execution it ran will not end

    def _unheld(self, name: str) -> bool:
        """Node ``name`` is not an added one still held (or booting)."""
        return name not in self.consume_at or name in self.since

    def _counted(self, name: str) -> bool:
        """Node ``name`` is one of the pool's now: not removed, and not added and still held."""
        return name not in self.retired and self._unheld(name)

    def _consumes(self, name: str, proc: subprocess.Popen) -> bool:
        return proc.poll() is None and self._counted(name)

    def all_up(self) -> bool:
        """Every node is running (none is dead and waiting for its restart; a removed one is
        not waited for, nor one an autoscaler added that has not begun to consume)."""
        with self._lock:
            return all(p.poll() is None for n, p in self.procs.items() if self._counted(n))

    def up(self) -> dict[str, bool]:
        """Per node, whether it consumes now (False: dead, waiting for its restart, stopped,
        removed, or added and not consuming yet)."""
        with self._lock:
            return {name: self._consumes(name, proc) for name, proc in self.procs.items()}

    def main_pids(self) -> dict[str, int | None]:
        """Per node, the pid of its running main process (None: not started yet, dead,
        waiting for its restart, or added and not consuming yet: its processes are not the
        pool's until it does; one removed keeps it until it exits, its processes draining what
        they run)."""
        with self._lock:
            procs = {name: self.procs.get(name) for name in self.names}
            return {
                n: p.pid if p and p.poll() is None and self._unheld(n) else None
                for n, p in procs.items()
            }

    def stop(self, grace: float = WARM_STOP) -> None:
        """Warm shutdown (SIGTERM) of every node, then after ``grace`` seconds SIGKILL of
        whatever is left (at once for a ``grace`` of 0)."""
        self._stopping.set()
        with self._lock:
            procs = list(self.procs.values())
        if grace > 0:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)  # the main process: a warm shutdown of its pool
            deadline = time.monotonic() + grace
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(max(0.1, deadline - time.monotonic()))
        for proc in procs:
            _signal_group(proc, signal.SIGKILL)  # the pool children too, whatever the main did
            proc.wait()
        if self._watcher.is_alive():
            self._watcher.join(timeout=5)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
