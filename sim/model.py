"""The SimPy model of a Celery-on-Redis deployment: producer, broker, workers, result backend.

The parts are named as a Celery user knows them; the rules they follow (prefetch, ack, retry)
are calls into ``sim.ack`` and ``sim.retry``, shared with the live mode and the tests. Every part
is driven by callbacks on SimPy events rather than a process per task, so a task costs a handful
of events. All randomness comes from ``sim.draws``, keyed by (seed, task, attempt).
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager

import simpy

from sim import ack, budget, contention, retry
from sim.deploy import rolling_deploys
from sim.draws import Draws
from sim.scenario import Scenario, ScenarioError
from sim.states import FAILURE, PENDING, RECEIVED, RETRY, STARTED
from sim.trace import Recorder, Trace

Progress = Callable[[int, int], None]


class RunawayError(ScenarioError):
    """Redeliveries multiply without end: the scenario, not the machine, must change.

    Only the visibility timeout makes copies of a message, so redeliveries are what is counted;
    executions are not (a task failing ``max_retries`` times in a row is legitimate work).
    """


def runaway_advice(s: Scenario) -> str:
    """Why a scenario's messages come back again and again, and what to change."""
    longest = retry.longest_countdown(s.retry)
    if longest > s.ack.visibility_timeout:
        return (
            f"a retry waits up to {longest:g}s on its countdown, held un-acked by a worker, so "
            "Redis hands it out again every visibility timeout and every copy runs (Celery's "
            "ETA-beyond-the-visibility-timeout pitfall). Raise ack.visibility_timeout above the "
            "longest countdown, or lower retry.countdown / retry.backoff_max."
        )
    return (
        "messages wait reserved behind other tasks longer than the visibility timeout, so Redis "
        "hands them out again and again, and every copy runs. Raise ack.visibility_timeout, or "
        "lower workers.prefetch_multiplier."
    )


class Message:
    """One published task message; a retry is a new message, a redelivery is the same one."""

    __slots__ = ("task", "attempt", "eta", "unacked")

    def __init__(self, task: int, attempt: int, eta: float = 0.0) -> None:
        self.task = task
        self.attempt = attempt
        self.eta = eta  # not to run before this time (a retry's countdown)
        # its entry in Redis's unacked hash. Keyed by the message's delivery tag, which a restored
        # message keeps, so an ack from any copy removes the entry of the latest delivery.
        self.unacked: Delivery | None = None

    def ack(self) -> None:
        self.unacked = None


class Delivery:
    """One hand-over of a message to a worker; un-acked until acked or restored."""

    __slots__ = ("message", "counted", "deadline", "incarnation")

    def __init__(self, message: Message, deadline: float) -> None:
        self.message = message
        message.unacked = self
        self.counted = True  # counts against the worker's prefetch limit
        self.deadline = deadline  # visibility timeout: restored to the queue if still un-acked
        self.incarnation = 0  # of the worker that reserved it: if that one died, events about
        # this delivery (arrival, end of work) are ignored


class Backend:
    """The result backend and event stream: every state change becomes a trace row."""

    def __init__(
        self, env: simpy.Environment, recorder: Recorder, n_tasks: int, progress: Progress | None
    ) -> None:
        self.env = env
        self.recorder = recorder
        self._row = recorder.rows.append  # the hot path: one call per row
        self.n_tasks = n_tasks
        self.progress = progress
        self.finished = 0  # tasks with a terminal state; a duplicate run's second end not counted
        self._ended = bytearray(n_tasks)
        self._report_every = max(1, n_tasks // 100)

    def record(self, task: int, attempt: int, state: int, worker: int = -1) -> None:
        self._row((task, attempt, state, self.env.now, worker))

    def finish(self, task: int, attempt: int, state: int, worker: int) -> None:
        """Record a terminal state (SUCCESS or FAILURE)."""
        self._row((task, attempt, state, self.env.now, worker))
        if len(self.recorder.rows) >= Recorder.CHUNK:
            self.recorder.pack()  # here, once a task: workers append rows without checking
        if self._ended[task]:
            return
        self._ended[task] = 1
        self.finished += 1
        if self.progress and self.finished % self._report_every == 0:
            self.progress(self.finished, self.n_tasks)


class Broker:
    """Redis: one FIFO queue, idle consumers waiting on it, and the ``unacked`` hash.

    Un-acked deliveries are kept in delivery order; since every one expires ``visibility_timeout``
    after it was made, one restorer process wakes at the oldest deadline and puts that message
    back on the queue if it is still un-acked, as kombu's ``restore_visible`` does.
    """

    def __init__(
        self,
        env: simpy.Environment,
        visibility_timeout: float,
        dispatch: float,
        max_redeliveries: int,
        runaway_advice: str = "",
    ) -> None:
        self.env = env
        self.visibility_timeout = visibility_timeout
        self.dispatch = dispatch
        self.redelivered = 0  # messages the visibility timeout handed out again
        self.max_redeliveries = max_redeliveries
        self.runaway_advice = runaway_advice
        self.queue: deque[Message] = deque()
        self.consumers: deque[Worker] = deque()
        self.unacked: deque[Delivery] = deque()
        self._restorer_idle: simpy.Event | None = None
        env.process(self._restorer())

    def publish(self, message: Message, front: bool = False) -> None:
        """Queue a message; ``front`` for a restored one (kombu RPUSHes it where BRPOP reads).

        A waiting consumer gets it at once. One that was killed while it waited may still hold
        its connection open for ``kill_linger``: Redis hands that BRPOP the message, which no
        process reads, so it is neither queued nor un-acked: lost, whatever the ack mode.
        """
        while self.consumers:
            worker = self.consumers.popleft()
            worker.waiting = False
            if worker.can_reserve():
                self._deliver(message, worker)
                self.fetch(worker)  # its next BRPOP, while the prefetch limit allows one
                return
            if worker.lingers_until > self.env.now:
                worker.lingers_until = -1.0  # BRPOP returns one message
                return
        if front:
            self.queue.appendleft(message)
        else:
            self.queue.append(message)

    def fetch(self, worker: Worker) -> None:
        """Hand ``worker`` messages while it may reserve more; else it waits for the next.

        A delivery can ask for a fetch again (an ETA message frees its prefetch place at once, a
        started task asks for its successor); while this loop runs, such a call returns and the
        loop goes on, so a long run of ETA messages is a loop, not a recursion per message.
        """
        if worker.fetching:
            return
        worker.fetching = True
        while worker.can_reserve():
            if not self.queue:
                if not worker.waiting:
                    worker.waiting = True
                    self.consumers.append(worker)
                break
            self._deliver(self.queue.popleft(), worker)
        worker.fetching = False

    def _deliver(self, message: Message, worker: Worker) -> None:
        delivery = Delivery(message, self.env.now + self.visibility_timeout)
        self.unacked.append(delivery)
        if self._restorer_idle is not None:
            self._restorer_idle.succeed()
            self._restorer_idle = None
        worker.reserve(delivery)

    def _restorer(self):
        unacked = self.unacked
        while True:
            while unacked and unacked[0].message.unacked is not unacked[0]:
                unacked.popleft()
            if not unacked:
                self._restorer_idle = self.env.event()
                yield self._restorer_idle
            elif unacked[0].deadline > self.env.now:
                yield self.env.timeout(unacked[0].deadline - self.env.now)
            else:
                self.restore(unacked.popleft())  # its holder may still run it
                self.redelivered += 1
                if self.redelivered > self.max_redeliveries:
                    raise RunawayError(
                        f"more than {self.max_redeliveries} redeliveries by "
                        f"ack.visibility_timeout = {self.visibility_timeout:g}s: "
                        + self.runaway_advice
                    )

    def restore(self, delivery: Delivery) -> None:
        """Put an un-acked message back at the head of the queue, if it still is un-acked."""
        message = delivery.message
        if message.unacked is delivery:
            message.ack()  # gone from the unacked hash
            self.publish(message, front=True)


class Worker:
    """A Celery worker node: ``concurrency`` slots, a prefetch buffer, and ETA messages held.

    It takes messages while ``alive``; a deploy's warm shutdown (``redeploy``) stops that, lets
    running tasks finish and gives back what it reserved as it exits; a dead node is ``down``
    until it restarts ``restart_delay`` later.
    """

    def __init__(self, model: Model, index: int) -> None:
        s = model.scenario
        self.model = model
        self.env = model.env
        self.broker = model.broker
        self._row = model.recorder.rows.append  # a trace row, on the hot path
        self.index = index
        self.limit = ack.prefetch_limit(s.workers.prefetch_multiplier, s.workers.concurrency)
        self.acks_late = s.ack.late
        self.ack_at_start = ack.acked_before_run(s.ack.late)
        self.free_slots = s.workers.concurrency
        self.running = 0  # running non-ETA messages (they count against prefetch under late ack)
        self.reserved = 0  # non-ETA messages in transit or waiting for a slot
        self.ready: deque[Delivery] = deque()
        self.held: dict[Delivery, None] = {}  # ETA messages waiting, in order (a dict: a set's
        # order would vary from run to run, and so would the order they are given back in)
        self.alive = True
        self.stopping = False  # in a warm shutdown
        self.down = False  # dead, restarting
        self.back: simpy.Event | None = None  # fires when a redeployed worker is up again
        self.incarnation = 0  # bumped by a crash: callbacks of the dead process are ignored
        self.waiting = False  # queued in broker.consumers
        self.fetching = False  # inside broker.fetch: a nested fetch leaves it to that loop
        self.lingers_until = -1.0  # killed while waiting: its BRPOP is served until then

    def can_reserve(self) -> bool:
        return self.alive and (
            self.limit is None
            or ack.counted_unacked(self.reserved, self.running, self.acks_late) < self.limit
        )

    def reserve(self, delivery: Delivery) -> None:
        """The broker hands us a message; it arrives after the dispatch overhead."""
        self.reserved += 1
        delivery.incarnation = self.incarnation
        if self.broker.dispatch > 0:
            event = self.env.timeout(self.broker.dispatch)
            event.callbacks.append(lambda _: self._receive(delivery))
        else:
            self._receive(delivery)

    def _receive(self, delivery: Delivery) -> None:
        if delivery.incarnation != self.incarnation:
            return  # we died while it was in transit: it waits out its visibility timeout
        if self.stopping:
            self.ready.append(delivery)  # delivered before SIGTERM: given back at the exit
            return
        if not self.alive:
            self.reserved -= 1
            self.broker.restore(delivery)  # arrived after a clean exit
            return
        message, now = delivery.message, self.env.now
        self._row((message.task, message.attempt, RECEIVED, now, self.index))
        if message.eta > now:
            # ETA messages are held in memory and do not use a prefetch slot
            self.reserved -= 1
            delivery.counted = False
            self.held[delivery] = None
            self.env.timeout(message.eta - now, delivery).callbacks.append(self._due)
            self.broker.fetch(self)
        else:
            self.ready.append(delivery)
            self._run_next()

    def _due(self, event: simpy.Event) -> None:
        delivery = event.value
        if self.alive and delivery in self.held:  # not in a shutdown, given back or lost
            del self.held[delivery]
            self.ready.append(delivery)
            self._run_next()

    def _run_next(self) -> None:
        while self.free_slots and self.ready:
            self._start(self.ready.popleft())

    def _start(self, delivery: Delivery) -> None:
        message, model = delivery.message, self.model
        self.free_slots -= 1
        if delivery.counted:
            self.reserved -= 1
            self.running += 1
        if self.ack_at_start:
            message.ack()
        self._row((message.task, message.attempt, STARTED, self.env.now, self.index))
        service = model.service(message.attempt)[message.task]
        if model.cores:
            busy = model.scenario.workers.concurrency - self.free_slots
            service *= contention.slowdown(busy, model.cores)
        crash_at = model.crash_point(message) if model.crashes else None
        if crash_at is None:
            work, then = model.start_write + service + model.record_overhead, self._finish
        elif model.scenario.failures.crash_kind == "child":
            work, then = model.start_write + service * crash_at, self._child_died
        else:
            work, then = model.start_write + service * crash_at, self._crash
        self.env.timeout(work, delivery).callbacks.append(then)
        self.broker.fetch(self)

    def _finish(self, event: simpy.Event) -> None:
        delivery = event.value
        if delivery.incarnation != self.incarnation:
            return
        message, model = delivery.message, self.model
        if model.outages:
            failed = model.draws.fails(message.task, message.attempt, self.env.now)
        else:
            failed = model.failures(message.attempt)[message.task]
        state = retry.outcome(message.attempt, failed, model.scenario.retry.max_retries)
        countdown = model.draws.countdown(message.task, message.attempt) if state == RETRY else 0
        self._end(delivery, state, countdown)

    def _child_died(self, event: simpy.Event) -> None:
        """The pool child running a delivery died; the node notices ``worker_lost_wait`` later
        (meanwhile a late-ack message is still un-acked and may be restored)."""
        lost_wait = self.model.scenario.workers.lost_wait
        self.env.timeout(lost_wait, event.value).callbacks.append(self._child_lost)

    def _child_lost(self, event: simpy.Event) -> None:
        """WorkerLostError: the node lives, and Celery decides the task's fate."""
        delivery = event.value
        if delivery.incarnation != self.incarnation:
            return
        message, s = delivery.message, self.model.scenario
        verdict = ack.on_worker_lost(
            s.ack.late,
            s.ack.reject_on_worker_lost,
            s.retry.on_worker_lost,
            message.attempt,
            s.retry.max_retries,
        )
        if verdict == ack.REQUEUE:
            self._release(delivery)
            message.ack()  # rejected with requeue: back on the queue at once
            self.broker.publish(message)
        else:
            # a retry after a lost worker uses default_retry_delay, not the backoff
            state = RETRY if verdict == ack.RETRY_LOST else FAILURE
            self._end(delivery, state, s.retry.countdown)

    def _end(self, delivery: Delivery, state: int, countdown: float) -> None:
        """An execution ends in RETRY (re-published after ``countdown``), SUCCESS or FAILURE."""
        message, model = delivery.message, self.model
        if state == RETRY:
            model.backend.record(message.task, message.attempt, RETRY, self.index)
            eta = self.env.now + countdown
            model.broker.publish(Message(message.task, message.attempt + 1, eta))
        else:
            model.backend.finish(message.task, message.attempt, state, self.index)
        message.ack()  # late ack acks now (also on failure); early ack already did
        self._release(delivery)

    def _release(self, delivery: Delivery) -> None:
        """The slot is free again: run what is ready and fetch more."""
        if delivery.counted:
            self.running -= 1
        self.free_slots += 1
        if self.stopping:
            self._stop_if_done()
            return
        self._run_next()
        self.broker.fetch(self)

    def redeploy(self) -> simpy.Event:
        """A deploy restarts this node with a warm shutdown, as SIGTERM does: it takes and starts
        no more messages and lets running tasks finish. What it reserved (ETA messages too) stays
        un-acked in Redis until the node exits, when kombu restores it as the connection closes;
        killed because its tasks outlast ``shutdown_grace``, it restores nothing, and those
        messages wait out the visibility timeout (as Celery 5.7 on Redis does: see DESIGN.md).
        Fires when the node is back up."""
        self.back = back = self.env.event()
        if self.down:
            return back
        self.alive, self.stopping = False, True
        grace = self.env.timeout(self.model.scenario.workers.shutdown_grace)
        grace.callbacks.append(lambda _: self._grace_over(back))
        self._stop_if_done()
        return back

    def _stop_if_done(self) -> None:
        if self.free_slots == self.model.scenario.workers.concurrency:
            self.stopping = False
            self._give_back()
            self._go_down()

    def _give_back(self) -> None:
        """A clean exit: the node's connection restores every message it reserved or held."""
        for delivery in (*self.ready, *self.held):
            self.broker.restore(delivery)
        self.reserved -= sum(d.counted for d in self.ready)
        self.ready.clear()
        self.held.clear()

    def _grace_over(self, back: simpy.Event) -> None:
        if self.stopping and self.back is back:
            self.crash()  # SIGKILL after the grace period: running tasks die with the node

    def _crash(self, event: simpy.Event) -> None:
        if event.value.incarnation == self.incarnation:
            self.crash()

    def crash(self) -> None:
        """The node dies: everything it held stays un-acked in Redis until restored, and a BRPOP
        it was waiting on stays served while its connection lingers (see ``Broker.publish``)."""
        if self.down:
            return
        if self.waiting and not self.stopping:
            self.lingers_until = self.env.now + self.model.scenario.workers.kill_linger
        self.incarnation += 1
        self.ready.clear()
        self.held.clear()
        self.free_slots = self.running = self.reserved = 0
        self.stopping = False
        self._go_down()

    def _go_down(self) -> None:
        self.alive, self.down = False, True
        event = self.env.timeout(self.model.scenario.workers.restart_delay)
        event.callbacks.append(lambda _: self._restart())

    def _restart(self) -> None:
        self.alive, self.down = True, False
        self.free_slots = self.model.scenario.workers.concurrency
        if self.back is not None:
            self.back.succeed()
            self.back = None
        self.broker.fetch(self)


class Model:
    """One simulated deployment of a scenario; ``run()`` returns its trace."""

    def __init__(
        self, scenario: Scenario, seed: int | None = None, progress: Progress | None = None
    ) -> None:
        budget.check_fits(scenario)  # before the draws, which already hold a value per task
        self.scenario = scenario
        self.draws = Draws(scenario, seed)
        self.env = simpy.Environment()
        names = tuple(f"w{i + 1}" for i in range(scenario.workers.count))
        self.recorder = Recorder(workers=names)
        self.backend = Backend(self.env, self.recorder, self.draws.n_tasks, progress)
        self.broker = Broker(
            self.env,
            scenario.ack.visibility_timeout,
            scenario.overhead.dispatch,
            max_redeliveries=100 * self.draws.n_tasks + 10_000,
            runaway_advice=runaway_advice(scenario),
        )
        self.workers = [Worker(self, i) for i in range(scenario.workers.count)]
        self.record_overhead = scenario.overhead.record  # the write that ends an execution
        self.start_write = self.record_overhead if scenario.results.track_started else 0.0
        self.cores = scenario.workers.cores
        self.crashes = scenario.failures.crash_probability > 0
        self.outages = scenario.failures.outage
        self.produced = False  # every arrival submitted
        self._service: dict[int, list[float]] = {}
        self._failures: dict[int, list[bool]] = {}
        self._executions: dict[tuple[int, int], int] = {}

    def crash_point(self, message: Message) -> float | None:
        """Whether this execution kills its worker, and how far through its work.

        Keyed by the execution number of (task, attempt) — counted when it starts, as the live
        worker counts it in Redis — so a redelivered message draws afresh each time it runs.
        """
        key = (message.task, message.attempt)
        execution = self._executions.get(key, 0)
        self._executions[key] = execution + 1
        return self.draws.crash_point(message.task, message.attempt, execution)

    def failures(self, attempt: int) -> list[bool]:
        """Whether ``attempt`` of each task raises, as a list for fast indexing."""
        try:
            return self._failures[attempt]
        except KeyError:
            return self._failures.setdefault(attempt, self.draws.failures(attempt).tolist())

    def service(self, attempt: int) -> list[float]:
        """Service times of ``attempt`` for every task, as a list for fast indexing."""
        try:
            return self._service[attempt]
        except KeyError:
            return self._service.setdefault(attempt, self.draws.attempt(attempt).service.tolist())

    def submit(self, task: int) -> None:
        """The producer sends task ``task`` now."""
        self.backend.record(task, 0, PENDING)
        self.broker.publish(Message(task, 0))

    def _arrive(self, _event: simpy.Event | None = None) -> None:
        """The producer, as a callback chain rather than a process (one event per arrival):
        submit every task due now, then wait for the next arrival time."""
        arrivals, task, last = self._arrivals, self._next, self._last
        while task < len(arrivals):
            t = arrivals[task]
            if t > last:
                self._next, self._last = task, t
                self.env.timeout(t - last).callbacks.append(self._arrive)
                return
            self.submit(task)
            task += 1
        self.produced = True

    def start_workers(self) -> None:
        for worker in self.workers:
            self.broker.fetch(worker)

    def run(self) -> Trace:
        """Replay the scenario's arrivals and run until nothing is left to happen."""
        self._arrivals, self._next, self._last = self.draws.arrivals.tolist(), 0, 0.0
        start = self.env.event()
        start.callbacks.append(self._arrive)
        start.succeed()
        if self.scenario.workers.deploy_every:
            self.env.process(rolling_deploys(self))
        self.start_workers()
        with cyclic_gc_paused():
            self.env.run()
        return self.recorder.trace()


@contextmanager
def cyclic_gc_paused():
    """Pause Python's cycle collector while a run allocates its millions of short-lived objects.

    A run frees its events, messages and rows by reference counting (a message and its delivery
    point at each other only until the ack), so the collector finds nothing; left on, it walks
    the young objects every few hundred allocations and costs a fifth of the run.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def simulate(
    scenario: Scenario, seed: int | None = None, progress: Progress | None = None
) -> Trace:
    """Run ``scenario`` (with ``seed`` in place of its own, if given) and return the trace."""
    return Model(scenario, seed, progress).run()
