"""A Celery worker node: ``concurrency`` slots, a prefetch buffer, and ETA messages held.

It reserves messages from the broker while its prefetch limit allows, runs each when a slot is
free, and ends every execution as its ``Fates`` say: it crashes part-way (the whole node, or only
the pool child), or its work ends in SUCCESS, FAILURE or RETRY (a new message with a countdown).
What it may hold and when it acks are calls into ``sim.rules.ack``; what it reads of the
scenario is a ``WorkerPolicy``, built once per run. A warm shutdown (``sim.engine.deploy``) stops
it taking messages; a dead node is ``down`` until it restarts ``restart_delay`` later.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import simpy

from sim.engine.backend import Backend
from sim.engine.broker import Broker, Delivery, Message
from sim.rules import ack, contention, retry
from sim.rules.fate import Fates
from sim.rules.states import FAILURE, RECEIVED, RETRY, STARTED
from sim.scenario import Scenario


@dataclass(frozen=True)
class WorkerPolicy:
    """What a worker node is configured to do, from the scenario's workers, ack, retry and
    failures tables."""

    concurrency: int
    limit: int | None  # most un-acked messages it reserves; None: no limit
    acks_late: bool
    ack_at_start: bool  # acked as the task starts, so a crash mid-run loses it
    reject_on_worker_lost: bool
    retry_on_worker_lost: bool
    max_retries: int
    lost_child_countdown: float  # before the retry of a task whose pool child died
    cores: int  # 0: no CPU contention
    crashes: bool  # executions may die part-way
    child_crashes: bool  # a crash kills the pool child only, not the node
    start_write: float  # the STARTED state's write to the backend, when tracked
    record_overhead: float  # the write that ends an execution
    lost_wait: float  # a dead child's WorkerLostError comes this late
    kill_linger: float  # a killed node's waiting BRPOP is served this long
    restart_delay: float
    shutdown_grace: float

    @classmethod
    def from_scenario(cls, s: Scenario) -> WorkerPolicy:
        w = s.workers
        return cls(
            concurrency=w.concurrency,
            limit=ack.prefetch_limit(w.prefetch_multiplier, w.concurrency),
            acks_late=s.ack.late,
            ack_at_start=ack.acked_before_run(s.ack.late),
            reject_on_worker_lost=s.ack.reject_on_worker_lost,
            retry_on_worker_lost=s.retry.on_worker_lost,
            max_retries=s.retry.max_retries,
            lost_child_countdown=retry.lost_child_countdown(s.retry),
            cores=w.cores,
            crashes=s.failures.crash_probability > 0,
            child_crashes=s.failures.crash_kind == "child",
            start_write=s.overhead.record if s.results.track_started else 0.0,
            record_overhead=s.overhead.record,
            lost_wait=w.lost_wait,
            kill_linger=w.kill_linger,
            restart_delay=w.restart_delay,
            shutdown_grace=w.shutdown_grace,
        )


class Worker:
    """One worker node of a run: its slots, what it reserved, and whether it is up."""

    # slots: the hot path reads these attributes millions of times, and an instance dict of
    # more than 30 keys stops sharing its keys, which makes every read a dict lookup
    __slots__ = (
        *("index", "policy", "env", "broker", "backend"),  # what it is and works with
        *("_row", "_finished", "_fetch", "_dispatch"),  # its calls and reads on the hot path
        *("_ending", "_service", "_crash_point", "_timed"),
        *("limit", "acks_late", "ack_at_start", "cores", "crashes"),
        *("start_write", "record_overhead"),
        *("free_slots", "running", "reserved", "ready", "held"),  # what it holds
        *("alive", "stopping", "down", "back", "incarnation"),  # whether it is up
        *("waiting", "fetching", "lingers_until"),  # its BRPOP
    )

    def __init__(
        self,
        index: int,
        policy: WorkerPolicy,
        env: simpy.Environment,
        broker: Broker,
        backend: Backend,
        fates: Fates,
    ) -> None:
        self.index = index
        self.policy = policy
        self.env = env
        self.broker = broker
        self.backend = backend
        # the hot path: one bound call or one attribute each, not a chain through the policy
        self._row, self._finished, self._fetch = backend.row, backend.finish, broker.fetch
        self._dispatch, self._ending = broker.dispatch, fates.ending
        self._service, self._crash_point = fates.service, fates.crash_point
        self._timed = fates.timed
        p = policy
        self.limit, self.acks_late, self.ack_at_start = p.limit, p.acks_late, p.ack_at_start
        self.cores, self.crashes = p.cores, p.crashes
        self.start_write, self.record_overhead = p.start_write, p.record_overhead
        self.free_slots = policy.concurrency
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

    @property
    def prefetched(self) -> int:
        """Messages it received that wait for a free slot."""
        return len(self.ready)

    def can_reserve(self) -> bool:
        return self.alive and (
            self.limit is None
            or ack.counted_unacked(self.reserved, self.running, self.acks_late) < self.limit
        )

    def reserve(self, delivery: Delivery) -> None:
        """The broker hands us a message; it arrives after the dispatch overhead."""
        self.reserved += 1
        delivery.incarnation = self.incarnation
        if self._dispatch > 0:
            event = self.env.timeout(self._dispatch)
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
            self._fetch(self)
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
        message = delivery.message
        self.free_slots -= 1
        if delivery.counted:
            self.reserved -= 1
            self.running += 1
        if self.ack_at_start:
            message.ack()
        self._row((message.task, message.attempt, STARTED, self.env.now, self.index))
        service = self._service(message.attempt)[message.task]
        if self.cores:
            busy = self.policy.concurrency - self.free_slots
            service *= contention.slowdown(busy, self.cores)
        crash_at = self._crash_point(message.task, message.attempt) if self.crashes else None
        if crash_at is None:
            work, then = self.start_write + service + self.record_overhead, self._finish
        elif self.policy.child_crashes:
            work, then = self.start_write + service * crash_at, self._child_died
        else:
            work, then = self.start_write + service * crash_at, self._crash
        self.env.timeout(work, delivery).callbacks.append(then)
        self._fetch(self)

    def _finish(self, event: simpy.Event) -> None:
        delivery = event.value
        if delivery.incarnation != self.incarnation:
            return
        message = delivery.message
        now = self.env.now if self._timed else 0.0
        state, countdown = self._ending(message.task, message.attempt, now)
        self._end(delivery, state, countdown)

    def _child_died(self, event: simpy.Event) -> None:
        """The pool child running a delivery died; the node notices ``worker_lost_wait`` later
        (meanwhile a late-ack message is still un-acked and may be restored)."""
        self.env.timeout(self.policy.lost_wait, event.value).callbacks.append(self._child_lost)

    def _child_lost(self, event: simpy.Event) -> None:
        """WorkerLostError: the node lives, and Celery decides the task's fate."""
        delivery = event.value
        if delivery.incarnation != self.incarnation:
            return
        message, p = delivery.message, self.policy
        verdict = ack.on_worker_lost(
            p.acks_late,
            p.reject_on_worker_lost,
            p.retry_on_worker_lost,
            message.attempt,
            p.max_retries,
        )
        if verdict == ack.REQUEUE:
            self._release(delivery)
            message.ack()  # rejected with requeue: back on the queue at once
            self.broker.publish(message)
        else:
            state = RETRY if verdict == ack.RETRY_LOST else FAILURE
            self._end(delivery, state, p.lost_child_countdown)

    def _end(self, delivery: Delivery, state: int, countdown: float) -> None:
        """An execution ends in RETRY (re-published after ``countdown``), SUCCESS or FAILURE."""
        message = delivery.message
        if state == RETRY:
            self.backend.record(message.task, message.attempt, RETRY, self.index)
            eta = self.env.now + countdown
            self.broker.publish(Message(message.task, message.attempt + 1, eta))
        else:
            self._finished(message.task, message.attempt, state, self.index)
        message.ack()  # late ack acks now (also on failure); early ack already did
        self._release(delivery)

    def _release(self, delivery: Delivery) -> None:
        """The slot is free again: run what is ready and fetch more."""
        if delivery.counted:
            self.running -= 1
        self.free_slots += 1
        if self.stopping:
            self.exit_if_idle()
            return
        self._run_next()
        self._fetch(self)

    def when_back(self) -> simpy.Event:
        """An event fired the next time this node starts again."""
        self.back = self.env.event()
        return self.back

    def stop_taking(self) -> None:
        """SIGTERM: take and start no more messages, and exit once the running tasks end."""
        self.alive, self.stopping = False, True

    def exit_if_idle(self) -> None:
        """A stopping node whose slots are all free exits, cleanly."""
        if self.free_slots == self.policy.concurrency:
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

    def _crash(self, event: simpy.Event) -> None:
        if event.value.incarnation == self.incarnation:
            self.crash()

    def crash(self) -> None:
        """The node dies: everything it held stays un-acked in Redis until restored, and a BRPOP
        it was waiting on stays served while its connection lingers (see ``Broker.publish``)."""
        if self.down:
            return
        if self.waiting and not self.stopping:
            self.lingers_until = self.env.now + self.policy.kill_linger
        self.incarnation += 1
        self.ready.clear()
        self.held.clear()
        self.free_slots = self.running = self.reserved = 0
        self.stopping = False
        self._go_down()

    def _go_down(self) -> None:
        self.alive, self.down = False, True
        event = self.env.timeout(self.policy.restart_delay)
        event.callbacks.append(lambda _: self._restart())

    def _restart(self) -> None:
        self.alive, self.down = True, False
        self.free_slots = self.policy.concurrency
        if self.back is not None:
            self.back.succeed()
            self.back = None
        self._fetch(self)
