"""Random draws keyed by (seed, task, attempt), so the same task is the same task everywhere.

Each kind of draw has its own counter-based stream (NumPy's Philox) per attempt number, drawn as
one vector indexed by task: attempt ``k`` of task ``i`` gets element ``i`` of stream ``k``, whatever
happened before it. Changing the worker count therefore leaves every task's service time and
outcome unchanged (common random numbers), and the live mode replays exactly what the simulator
drew. Crash draws are keyed by the execution number of the attempt too, because a redelivered
message keeps its attempt: keyed by attempt alone, a crash would repeat on every delivery (a
poison message).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim import costs
from sim.engine.arrivals import arrival_times
from sim.engine.distributions import sample_service
from sim.rules.outage import failure_probability
from sim.rules.retry import retry_delay
from sim.scenario import Scenario, TaskType

ARRIVALS, SERVICE, FAIL, JITTER, CRASH, TYPE, DELIVERY = range(7)
_MAX_EXECUTION = 2**16
BLOCK_SHIFT = 14  # a block of service times: 16,384 tasks, 128 KiB
# the shapes whose sampler draws each value from the stream in turn (an empirical sample's index
# too: a 64-bit integer each), so a block of values drawn where the block before it ended is that
# part of the one draw of every task; a hyperexponential draws every value's phase after them all
SEQUENTIAL = frozenset(
    {"exponential", "constant", "lognormal", "uniform", "erlang", "pareto", "weibull", "empirical"}
)


def stream(seed: int, kind: int, attempt: int = 0, execution: int = 0) -> np.random.Generator:
    """The generator for one kind of draw at one (attempt, execution); independent of the rest."""
    word = (kind << 56) | (min(attempt, 2**40 - 1) << 16) | min(execution, _MAX_EXECUTION - 1)
    return np.random.Generator(np.random.Philox(key=[seed, word]))


@dataclass(frozen=True)
class AttemptDraws:
    """What attempt ``k`` of every task will do, indexed by task."""

    service: np.ndarray  # seconds of work
    fail: np.ndarray  # uniform in [0, 1): the attempt raises when below failures.probability
    jitter: np.ndarray  # uniform in [0, 1): scales the backoff cap when jitter is on


def task_types(shares: list[float], rng: np.random.Generator, n: int) -> np.ndarray:
    """The type of each of ``n`` tasks, drawn by share; all 0 (no draw) for one type."""
    if len(shares) == 1:
        return np.zeros(n, np.int16)
    edges = np.cumsum(shares[:-1])
    return np.searchsorted(edges, rng.random(n), side="right").astype(np.int16)


class Draws:
    """All random draws of one scenario and seed, made lazily and cached per attempt.

    A task's type is drawn once by share; each type's service times come from their own stream
    (keyed by the type's index), so adding a type leaves the first type's draws as they were.
    Per task it keeps only what a run reads again and again (arrival, type, each attempt's
    service): a million tasks are a few 8-byte vectors, not one per kind of draw.
    """

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.types = scenario.task_types
        self.arrivals, self.type_of = self._arrivals()
        self.n_tasks = len(self.arrivals)
        self._fail_p = np.array([t.failures.probability for t in self.types])  # per type
        self._service: dict[int, np.ndarray] = {}
        self._uniforms: dict[tuple[int, int], np.ndarray] = {}  # (kind, attempt): FAIL, JITTER
        self._crashes: dict[tuple[int, int], np.ndarray] = {}

    def _arrivals(self) -> tuple[np.ndarray, np.ndarray]:
        """Arrival times and each task's type: the types with a share split [arrivals] by
        share; a type with its own arrivals has its own stream (keyed by its index); all
        merged in time order, ties in type order, and ``run.tasks`` kept."""
        sc, seed = self.scenario, self.seed
        shared = [j for j, t in enumerate(self.types) if t.arrivals is None]
        times, kinds = [], []
        if shared:
            t = arrival_times(sc, stream(seed, ARRIVALS))
            shares = [sc.shares[j] for j in shared]
            kinds.append(np.array(shared, np.int16)[task_types(shares, stream(seed, TYPE), len(t))])
            times.append(t)
        for j, kind in enumerate(self.types):
            if kind.arrivals is not None:
                own = dataclasses.replace(sc, arrivals=kind.arrivals)
                times.append(arrival_times(own, stream(seed, ARRIVALS, 0, j + 1)))
                kinds.append(np.full(len(times[-1]), j, np.int16))
        if len(self.types) == 1:  # every task the one type: a read-only view, no vector a task
            return times[0], np.broadcast_to(np.int16(0), len(times[0]))
        if len(times) == 1:
            return times[0], kinds[0]
        order = np.argsort(np.concatenate(times), kind="stable")
        keep = order if sc.run.duration else order[: sc.run.tasks]
        return np.concatenate(times)[keep], np.concatenate(kinds)[keep]

    def task_type(self, task: int) -> TaskType:
        return self.types[self.type_of[task]]

    def trace_types(self) -> dict[str, Any]:
        """The trace's ``type_of`` and ``types`` (``sim.trace.Recorder``) for these draws."""
        return {
            "type_of": self.type_of if len(self.types) > 1 else None,
            "types": tuple((t.name, t.queue) for t in self.types),
        }

    def attempt(self, k: int) -> AttemptDraws:
        """Draws of attempt ``k`` (0 = first execution) for every task."""
        return AttemptDraws(self.services(k), self._uniform(FAIL, k), self._uniform(JITTER, k))

    def services(self, k: int) -> np.ndarray:
        """Service times of attempt ``k`` for every task: each type's from its own stream."""
        if k not in self._service:
            self._service[k] = self._drawn_service(k)
        return self._service[k]

    def service_blocks(self, k: int) -> Blocks:
        """Service times of attempt ``k`` a block of tasks at a time: the floats of
        ``services(k)``, drawn block by block where the one type's sampler allows it (a run
        holds a block or two of them, not a vector of every task), else as one block."""
        service = self.types[0].service
        if len(self.types) > 1 or service.dist not in SEQUENTIAL:
            return Blocks(self.n_tasks.bit_length(), lambda _: self._drawn_service(k))
        rng = stream(self.seed, SERVICE, k, 0)
        starts = [rng.bit_generator.state]  # the stream's state where each block begins

        def draw(b: int) -> np.ndarray:
            rng.bit_generator.state = starts[b]
            lo = b << BLOCK_SHIFT
            values = sample_service(service, rng, min(self.n_tasks - lo, 1 << BLOCK_SHIFT))
            if len(starts) == b + 1:
                starts.append(rng.bit_generator.state)
            return np.ascontiguousarray(values, dtype=np.float64)

        def drawn(b: int) -> np.ndarray:
            for before in range(len(starts) - 1, b):  # drawn to learn where block b begins
                draw(before)
            return draw(b)

        return Blocks(BLOCK_SHIFT, drawn)

    def _drawn_service(self, k: int) -> np.ndarray:
        if len(self.types) == 1:  # all tasks are its members, in order: no index vector
            drawn = sample_service(
                self.types[0].service, stream(self.seed, SERVICE, k, 0), self.n_tasks
            )
            return np.ascontiguousarray(drawn, dtype=np.float64)
        service = np.empty(self.n_tasks)
        for j, kind in enumerate(self.types):
            members = np.flatnonzero(self.type_of == j)
            service[members] = sample_service(
                kind.service, stream(self.seed, SERVICE, k, j), len(members)
            )
        return service

    def deliveries(self, k: int) -> np.ndarray:
        """How long the delivery of attempt ``k`` of every task takes under the Celery model
        (``sim.costs.delivery``): its least time plus an exponential wait from its own stream."""
        least, spread = costs.delivery(self.scenario)
        return least + spread * stream(self.seed, DELIVERY, k).standard_exponential(self.n_tasks)

    def _uniform(self, kind: int, k: int) -> np.ndarray:
        """The FAIL or JITTER uniforms of attempt ``k``, drawn the first time they are read."""
        key = (kind, k)
        if key not in self._uniforms:
            self._uniforms[key] = stream(self.seed, kind, k).random(self.n_tasks)
        return self._uniforms[key]

    def crash(self, k: int, execution: int) -> np.ndarray:
        """Uniform draws in [0, 1) for execution ``execution`` of attempt ``k`` of every task.

        The attempt kills its worker when the draw ``u`` is below ``crash_probability`` ``p``;
        then ``u / p``, itself uniform in [0, 1), is how far through its work it dies.
        """
        key = (k, execution)
        if key not in self._crashes:
            self._crashes[key] = stream(self.seed, CRASH, k, execution).random(self.n_tasks)
        return self._crashes[key]

    # What one attempt of one task does: the simulator and the live worker both ask these.

    def service(self, task: int, attempt: int) -> float:
        """Seconds of work of this attempt."""
        return float(self.services(attempt)[task])

    def failures(self, attempt: int) -> np.ndarray:
        """Per task, whether attempt ``attempt`` raises outside any outage: drawn, not kept (the
        caller keeps the answer), and not drawn at all when no type fails (a uniform in [0, 1)
        is never below 0)."""
        if not self._fail_p.any():
            return np.zeros(self.n_tasks, bool)
        p = self._fail_p[0] if len(self.types) == 1 else self._fail_p[self.type_of]
        return stream(self.seed, FAIL, attempt).random(self.n_tasks) < p

    def fails(self, task: int, attempt: int, t: float) -> bool:
        """Whether this attempt raises when its work ends at scenario time ``t``."""
        f = self.task_type(task).failures
        p = failure_probability(f.probability, f.outage, t)
        return bool(self._uniform(FAIL, attempt)[task] < p)

    def countdown(self, task: int, attempt: int) -> float:
        """Seconds before the retry of this failed attempt may start."""
        u = float(self._uniform(JITTER, attempt)[task])
        return retry_delay(self.task_type(task).retry, attempt, u)

    def crash_point(self, task: int, attempt: int, execution: int) -> float | None:
        """How far through its work (0–1) this execution kills its worker; None if it does not."""
        p = self.task_type(task).failures.crash_probability
        if p == 0:
            return None
        u = float(self.crash(attempt, execution)[task])
        return u / p if u < p else None


class Blocks:
    """One attempt's service times as blocks of ``1 << shift`` tasks, each drawn by ``drawn(b)``
    when read; the last two read are held (a block's last tasks start beside the next one's
    first), any other drawn again if read again (a redelivery of an old task's attempt)."""

    HELD = 2

    def __init__(self, shift: int, drawn: Callable[[int], np.ndarray]) -> None:
        self.shift = shift
        self._drawn = drawn
        self._held: dict[int, Sequence[float]] = {}  # memoryviews of float64: typeshed's says int

    def block(self, b: int) -> Sequence[float]:
        """Block ``b``'s service times, indexed by task less ``b << shift``."""
        values = self._held.pop(b, None)
        if values is None:
            values = memoryview(self._drawn(b))
            if len(self._held) >= self.HELD:
                del self._held[next(iter(self._held))]  # the one read least lately
        self._held[b] = values  # last in the dict: read most lately
        return values
