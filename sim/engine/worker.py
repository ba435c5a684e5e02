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
from math import inf
from operator import attrgetter
from typing import TYPE_CHECKING

import simpy

from sim.engine.backend import Backend
from sim.engine.broker import Broker, Delivery, Message
from sim.engine.policy import WorkerPolicy
from sim.engine.timer import Callback, clock, scheduler
from sim.rules import ack, contention, retry, routing
from sim.rules.fate import SUCCEEDED, Fates
from sim.rules.limits import HARD, SOFT, dies_first, time_limited
from sim.rules.states import FAILURE, RECEIVED, RETRY, STARTED

if TYPE_CHECKING:
    from sim.engine.autoscale import Autoscaler


class Worker:
    """One worker node of a run: its slots, what it reserved, and whether it is up."""

    # slots: the hot path reads these attributes millions of times, and an instance dict of
    # more than 30 keys stops sharing its keys, which makes every read a dict lookup
    __slots__ = (
        *("index", "policy", "env", "_clock", "broker", "backend", "_after"),  # it, its parts
        *("_arrives", "_finishes", "_replaces"),  # its timers' most frequent callbacks
        *("_row", "_received", "_finished", "_fetch"),  # its hot path's calls and reads
        *("_dispatch", "_delivery", "_ending", "_service", "_crash_point"),
        *("_timed", "_succeeds", "_fates", "_type_of"),
        *("order", "cycle", "rotates", "wait", "_limits", "_gaps", "next_token"),
        *("limit", "running_counts", "acks_late", "ack_at_start", "cores", "crashes"),
        *("start_write", "record_overhead", "handover", "_plain"),
        *("slots", "starting", "autoscaler"),  # its pool, and who grows and shrinks it
        *("free_slots", "running", "reserved", "ready", "held"),  # what it holds
        *("alive", "stopping", "down", "back", "incarnation", "retired", "up_since"),  # is it up
        *("waiting", "fetching", "lingers_until", "delivered_until"),  # its BRPOP
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
        self.index, self.policy, self.env = index, policy, env
        self._clock = clock(env)  # the hot path's clock (``sim.engine.timer``)
        self.broker, self.backend = broker, backend
        self._after = scheduler(env)  # its timers (``sim.engine.timer``), and their callbacks
        self._arrives: Callback = self._receive  # each bound once, not at every timer
        self._finishes: Callback = self._finish
        self._replaces: Callback = self._replaced
        # the hot path: one bound call or one attribute each, not a chain through the policy
        self._row, self._finished, self._fetch = backend.row, backend.finish, broker.fetch
        self._received = backend.received
        self._dispatch, self._ending = broker.dispatch, fates.ending
        self._delivery = fates.delivery if policy.delivers else None
        self._service, self._crash_point = fates.service, fates.crash_point
        self._timed, self._fates, self._type_of = fates.timed, fates, fates.type_of
        self._succeeds = fates.succeeds  # no execution can raise: no call to ``_ending``
        p = policy
        self.cycle = p.queues  # its queue cycle: the order it reads its queues in
        self.order = routing.read_order(self.cycle, p.lanes)  # the broker's lanes, as it reads
        self.rotates = p.rotates
        self.wait = 0  # counts its BRPOPs: an entry in a lane's blocked clients names one
        self._limits, self._gaps = p.time_limits, p.token_gaps
        self.next_token = [0.0] * len(self._gaps)  # per task type: its rate bucket's next token
        self.limit = inf if p.limit is None else p.limit  # its prefetch limit (inf: none)
        # the weight of a running message against it, taken once from the rule: 1 under late ack
        self.running_counts = ack.counted_unacked(0, 1, p.acks_late)
        self.acks_late, self.ack_at_start = p.acks_late, p.ack_at_start
        self.cores, self.crashes = p.cores, p.crashes
        self.start_write, self.record_overhead = p.start_write, p.record_overhead
        self.handover = p.handover
        self._plain = not (self.cores or self._limits or self.crashes)  # runs its service, ends
        self.slots = self.free_slots = policy.concurrency  # pool processes; those idle
        self.starting = 0  # processes started that take no work yet
        self.autoscaler: Autoscaler | None = None  # with --autoscale (``sim.engine.autoscale``)
        self.running = 0  # running non-ETA messages (they count against prefetch under late ack)
        self.reserved = 0  # non-ETA messages in transit or waiting for a slot
        self.ready: deque[Delivery] = deque()
        self.held: dict[Delivery, None] = {}  # ETA messages waiting, in order (a dict: a set's
        # order would vary from run to run, and so would the order they are given back in)
        self.alive = True
        self.stopping = False  # in a warm shutdown
        self.down = False  # dead, restarting
        self.back: simpy.Event | None = None  # fires when a redeployed worker is up again
        self.retired = False  # removed by a node autoscaler: once down, it stays down
        self.incarnation = 0  # bumped by a crash: callbacks of the dead process are ignored
        self.waiting = False  # queued in broker.consumers
        self.fetching = False  # inside broker.fetch: a nested fetch leaves it to that loop
        self.lingers_until = -1.0  # killed while waiting: its BRPOP is served until then
        self.delivered_until = 0.0  # its last delivery's arrival: the next cannot pass it
        self.up_since = env.now  # its restore scans count from here (``sim.rules.restore``)
        self.capacity_changed()
        broker.node_up()

    def came_from(self, lane: int) -> None:
        """``round_robin``: the queue of the message just received goes to the end of the cycle."""
        self.cycle = routing.rotated(self.cycle, self.policy.lanes[lane][0])
        self.order = routing.read_order(self.cycle, self.policy.lanes)

    @property
    def prefetched(self) -> int:
        """Messages it received that wait for a free slot."""
        return len(self.ready)

    def can_reserve(self) -> bool:
        """Whether it is up and its un-acked messages (``ack.counted_unacked``) leave room."""
        return self.alive and self.reserved + self.running * self.running_counts < self.limit

    def reserve(self, delivery: Delivery) -> None:
        """The broker hands us a message; it arrives after Celery's delivery and the dispatch
        overhead, and not before the one handed to us before it (one connection, one main
        process: the replies come in order)."""
        self.reserved += 1
        delivery.incarnation = self.incarnation
        delay = self._dispatch
        if self._delivery is not None:
            message, now = delivery.message, self._clock.now
            at = now + delay + self._delivery(message.attempt)[message.task]
            if at < self.delivered_until:
                at = self.delivered_until
            self.delivered_until = at
            delay = at - now
        if delay > 0:
            self._after(delay, delivery, self._arrives)
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
        message, now = delivery.message, self._clock.now
        self._received((message.task, message.attempt, RECEIVED, now, self.index))
        if message.eta > now:
            # ETA messages are held in memory and do not use a prefetch slot
            self.reserved -= 1
            delivery.counted = False
            self.held[delivery] = None
            self._after(message.eta - now, delivery, self._due)
            self._fetch(self)
        else:
            self._ready(delivery)
        if self.autoscaler is not None:
            self.autoscaler.received(message)

    def _ready(self, delivery: Delivery, limited: bool = True) -> None:
        """A message may run: it waits for a slot, and first, if its type is rate limited, for
        its bucket's token (held, still reserved: it counts against the prefetch limit)."""
        if limited and self._gaps:
            kind = self._type_of[delivery.message.task]
            if gap := self._gaps[kind]:
                now = self.env.now
                at = max(now, self.next_token[kind])
                self.next_token[kind] = at + gap
                if at > now:
                    self.held[delivery] = None
                    self._after(at - now, delivery, self._token)
                    return
        if self.free_slots and not self.ready:
            self._start(delivery)  # what run_next would do, without the queue
        else:
            self.ready.append(delivery)
            self.run_next()

    def _unheld(self, delivery: Delivery) -> bool:
        """Whether the delivery an ETA or token timer fired for was still held by a live node,
        which lets go of it now."""
        if self.alive and delivery in self.held:  # not in a shutdown, given back or lost
            del self.held[delivery]
            return True
        return False

    def _due(self, delivery: Delivery) -> None:
        """An ETA message is due: it counts against the prefetch limit again, as any reserved
        message, until it is acked (Celery's ``apply_eta_task`` and ``_limit_post_eta`` give
        back the place ``increment_eventually`` lent it: ``qos.decrement_eventually``)."""
        if self._unheld(delivery):
            delivery.counted = True
            self.reserved += 1
            self._ready(delivery)

    def _token(self, delivery: Delivery) -> None:
        if self._unheld(delivery):
            self._ready(delivery, limited=False)

    def run_next(self) -> None:
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
        task, attempt = message.task, message.attempt
        self._row((task, attempt, STARTED, self._clock.now, self.index))
        service = self._service(task, attempt)
        if self._plain:
            work, then = self.start_write + service + self.record_overhead, self._finishes
        else:
            work, then = self._execution(task, attempt, service)
        self._after(work, delivery, then)
        self._fetch(self)

    def _execution(self, task: int, attempt: int, service: float) -> tuple[float, Callback]:
        """How long an execution that just started runs, and what ends it, under CPU contention,
        time limits or crashes (a plain execution runs its service and finishes)."""
        if self.cores:
            busy = self.slots - self.free_slots - self.starting
            service *= contention.slowdown(busy, self.cores)
        cut, limit = service, 0
        if self._limits:
            cut, limit = time_limited(service, *self._limits[self._type_of[task]])
        crash_at = self._crash_point(task, attempt) if self.crashes else None
        if crash_at is None or not dies_first(service, crash_at, cut):
            ends = self._soft_limit if limit == SOFT else self._kill
            then = self._finishes if not limit else ends
            return self.start_write + cut + (self.record_overhead if limit != HARD else 0.0), then
        if self.policy.child_crashes:
            return self.start_write + service * crash_at, self._child_died
        return self.start_write + service * crash_at, self._crash

    def _finish(self, delivery: Delivery) -> None:
        if delivery.incarnation != self.incarnation:
            return
        if self._succeeds:
            state, countdown = SUCCEEDED
        else:
            message = delivery.message
            now = self._clock.now if self._timed else 0.0
            state, countdown = self._ending(message.task, message.attempt, now)
        self._end(delivery, state, countdown)

    def _soft_limit(self, delivery: Delivery) -> None:
        """SoftTimeLimitExceeded: the task raised, and retries as on any failure."""
        if delivery.incarnation == self.incarnation:
            message = delivery.message
            self._end(delivery, *self._ending(message.task, message.attempt, self.env.now, True))

    def _kill(self, delivery: Delivery) -> None:
        """A hard time limit: the child is killed, the task ends in FAILURE and is acked
        (``acks_on_failure_or_timeout``); its slot takes work once a new child has started."""
        if delivery.incarnation != self.incarnation:
            return
        self._record_end(delivery.message, FAILURE, 0.0)
        self._new_child(delivery)

    def _new_child(self, delivery: Delivery) -> None:
        """The slot's pool child is gone: the prefetch window has room at once, and the slot
        takes work once a new child has started."""
        if delivery.counted:
            self.running -= 1
            delivery.counted = False
        self._after(self.policy.process_start, delivery, self._replaces)
        self._fetch(self)

    def _replaced(self, delivery: Delivery) -> None:
        if delivery.incarnation == self.incarnation:
            self._release(delivery)

    def _child_died(self, delivery: Delivery) -> None:
        """WorkerLostError: the pool child running a delivery died and the node lives. Celery's
        prefork pool marks the job lost as it reaps the child (``AsynPool.on_job_process_lost``;
        ``worker_lost_wait`` is billiard's plain pool's, not this one's: measured, DESIGN), so
        Celery decides the task's fate at once; the slot's new child starts meanwhile."""
        if delivery.incarnation != self.incarnation:
            return
        message, p = delivery.message, self.policy
        verdict = ack.on_worker_lost(
            p.acks_late,
            p.reject_on_worker_lost,
            p.retry_on_worker_lost,
            message.attempt,
            self._fates.max_retries(message.task),
        )
        if verdict == ack.REQUEUE:
            message.ack()  # rejected with requeue: back on the queue at once
            self.broker.publish(message)
        else:
            state = RETRY if verdict == ack.RETRY_LOST else FAILURE
            self._record_end(message, state, self._fates.lost_child_countdown(message.task))
        self._new_child(delivery)

    def _end(self, delivery: Delivery, state: int, countdown: float) -> None:
        """An execution ends in RETRY (re-published after ``countdown``), SUCCESS or FAILURE;
        its slot hands over to the next task."""
        self._record_end(delivery.message, state, countdown)
        if self.handover:
            self._hand_over(delivery)
        else:
            self._release(delivery)

    def _record_end(self, message: Message, state: int, countdown: float) -> None:
        """The end of an execution in the backend and the broker: a RETRY re-published after
        ``countdown``, else the final state; the message acked (late ack acks now, also on
        failure; early ack already did)."""
        if state == RETRY:
            self.backend.record(message.task, message.attempt, RETRY, self.index)
            if retry.followed(message.attempt + 1):  # else retried for ever: left retrying
                eta = self.env.now + countdown
                self.broker.publish(Message(message.task, message.attempt + 1, eta))
        else:
            self._finished(message.task, message.attempt, state, self.index)
        message.ack()

    def _hand_over(self, delivery: Delivery) -> None:
        """Celery's hand-over: the ack frees room in the prefetch window now, but the slot takes
        its next task ``handover`` later (the result's way back, the pool's next job)."""
        if delivery.counted:
            self.running -= 1
            delivery.counted = False
        self._fetch(self)
        self._after(self.handover, delivery, self._replaces)

    def _release(self, delivery: Delivery) -> None:
        """The slot is free again: run what is ready, and fetch more if the message still
        counted against the prefetch limit. One that no longer did (a hand-over, a new child)
        fetched as it gave its place back, and a free slot alone leaves the limit as it was:
        every start fetches for itself."""
        counted = delivery.counted
        if counted:
            self.running -= 1
        self.free_slots += 1
        if self.stopping:
            self.exit_if_idle()
            return
        if self.ready:
            self.run_next()
        if counted:
            self._fetch(self)

    def when_back(self) -> simpy.Event:
        """An event fired the next time this node starts again."""
        self.back = self.env.event()
        return self.back

    def capacity_changed(self) -> None:
        """Log whether it consumes and how many pool processes it has (a capacity row): those
        forked, not those an autoscaler decided whose fork is still to come."""
        unforked = self.autoscaler.unforked if self.autoscaler is not None else 0
        self.backend.node(self.index, self.alive, self.slots - unforked)

    def stop_taking(self) -> None:
        """SIGTERM: take and start no more messages, and exit once the running tasks end."""
        self.alive, self.stopping = False, True
        self.capacity_changed()

    def exit_if_idle(self) -> None:
        """A stopping node whose slots are all free exits, cleanly."""
        if self.free_slots + self.starting == self.slots:
            self.stopping = False
            self._give_back()
            self._go_down()

    def _give_back(self) -> None:
        """A clean exit: the node's connection restores every message it reserved or held, in
        the order they were delivered (kombu's ``restore_unacked`` walks ``QoS._delivered``;
        each goes to the head of its queue, so the last delivered is read first). Every
        delivery's deadline is its time plus the same visibility timeout."""
        for delivery in sorted((*self.ready, *self.held), key=attrgetter("deadline")):
            self.broker.restore(delivery)
        self.reserved -= sum(d.counted for d in (*self.ready, *self.held))
        self.ready.clear()
        self.held.clear()

    def _crash(self, delivery: Delivery) -> None:
        if delivery.incarnation == self.incarnation:
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
        self.capacity_changed()
        self._after(self.policy.restart_delay, None, self._restart)

    def _restart(self, _value: None = None) -> None:
        """A new process: all slots free, its queue cycle and rate buckets as at the start."""
        if self.retired:
            return
        self.alive, self.down = True, False
        self.up_since = self.env.now
        self.slots = self.free_slots = self.policy.concurrency
        self.starting = 0
        if self.autoscaler is not None:
            self.autoscaler = self.autoscaler.fresh()
        self.capacity_changed()
        self.cycle = self.policy.queues
        self.order = routing.read_order(self.cycle, self.policy.lanes)
        self.next_token = [0.0] * len(self._gaps)
        if self.back is not None:
            self.back.succeed()
            self.back = None
        self.broker.node_up()  # it scans as it connects, before it consumes
        self._fetch(self)
