"""Redis as Celery's broker: a FIFO list per (queue, priority step), the consumers blocked on
them, the ``unacked`` hash.

A message stays in ``unacked`` from its delivery until it is acked; once ``visibility_timeout``
has passed since the delivery, a message still un-acked goes back to the head of the queue at the
next restore scan of any up node (``sim.rules.restore``; exactly at its deadline in the textbook
queue) and is delivered again, whoever still holds it. Only that makes copies of a message, so
when such redeliveries multiply without end the run stops with a ``RunawayError``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING

import simpy

from sim.engine.timer import clock
from sim.rules import restore, retry
from sim.scenario import Scenario, ScenarioError

if TYPE_CHECKING:
    from sim.engine.worker import Worker


class RunawayError(ScenarioError):
    """Redeliveries multiply without end: the scenario, not the machine, must change.

    Only the visibility timeout makes copies of a message, so redeliveries are what is counted;
    executions are not (a task failing ``max_retries`` times in a row is legitimate work).
    """


def runaway_advice(s: Scenario) -> str:
    """Why a scenario's messages come back again and again, and what to change: a countdown
    longer than the visibility timeout is named only where a task can retry at all."""
    longest = retry.longest_retry_wait(s)
    if longest > s.ack.visibility_timeout:
        return (
            f"a retry waits up to {longest:g}s on its countdown, held un-acked by a worker, so "
            "Redis hands it out again every visibility timeout and every copy runs (Celery's "
            "ETA-beyond-the-visibility-timeout pitfall). Raise ack.visibility_timeout above the "
            "longest countdown, or lower retry.countdown / retry.backoff_max."
        )
    return (
        "messages are held un-acked longer than the visibility timeout (reserved behind other "
        "tasks, or running under late ack), so Redis hands them out again and again, and every "
        "copy runs. Raise ack.visibility_timeout above the longest wait and task, or lower "
        "workers.prefetch_multiplier."
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


class Broker:
    """Redis: a FIFO list per lane (queue, priority step; ``sim.rules.routing``), the consumers
    blocked on each, and the ``unacked`` hash.

    A message goes to its task type's lane (``lane_of_task``). An idle worker blocks on all its
    lanes at once, as its BRPOP names all its lists; Redis serves a list's blocked clients in the
    order they blocked, and one reply ends a BRPOP, so the other lanes' entries of a worker it
    served are stale (``wait`` tells).

    Un-acked deliveries are kept in delivery order; since every one expires ``visibility_timeout``
    after it was made, one restorer process wakes at the oldest deadline. With restore scans
    (``scan_every``, seconds) it then waits for the next scan of an up node and restores every
    message due by then; without, it puts that one message back at once. A node that starts
    scans at once (``node_up``).
    """

    def __init__(
        self,
        env: simpy.Environment,
        visibility_timeout: float,
        dispatch: float,
        max_redeliveries: int,
        runaway_advice: str = "",
        lanes: int = 1,
        lane_of_task: Sequence[int] | None = None,
        quiet: Callable[[], bool] | None = None,
        handover: float = 0.0,
        scan_every: float | None = None,
        nodes: Sequence[Worker] = (),
    ) -> None:
        self.env = env
        self._clock = clock(env)  # the hot path's clock (``sim.engine.timer``)
        self.visibility_timeout = visibility_timeout
        self.dispatch = dispatch
        self.redelivered = 0  # messages the visibility timeout handed out again
        self.max_redeliveries = max_redeliveries
        self.look_every = max(1, max_redeliveries // 100)  # redeliveries between ``_held_ahead``
        self.quiet = quiet  # nothing left but held retries (``_held_ahead``)
        self.handover = handover  # a restored message's longest hand-over to a node, seconds
        self.runaway_advice = runaway_advice
        self.lanes: list[deque[Message]] = [deque() for _ in range(lanes)]
        self.consumers: list[deque[tuple[Worker, int]]] = [deque() for _ in range(lanes)]
        self.lane_of_task = lane_of_task
        self.unacked: deque[Delivery] = deque()
        self.scan_every = scan_every  # a node's restore scans: None, at each deadline
        self.nodes = nodes  # the run's worker nodes, whose scans restore (a list that grows)
        self._restorer_idle: simpy.Event | None = None
        self._look = False  # ``_held_ahead`` is due at the next scan
        self._scan_served: list[Worker] | None = None  # in a scan: the nodes it handed one
        env.process(self._restorer())

    @property
    def queued(self) -> int:
        """Messages waiting in every list (Redis's ``LLEN``, summed)."""
        return sum(map(len, self.lanes))

    @property
    def unacked_count(self) -> int:
        """Messages delivered and not yet acked (``HLEN unacked``): a message counts once, by its
        latest delivery."""
        return sum(d.message.unacked is d for d in self.unacked)

    def publish(self, message: Message, front: bool = False) -> None:
        """Queue a message; ``front`` for a restored one (kombu RPUSHes it where BRPOP reads).

        A waiting consumer gets it at once. One that was killed while it waited may still hold
        its connection open for ``kill_linger``: Redis hands that BRPOP the message, which no
        process reads, so it is neither queued nor un-acked: lost, whatever the ack mode.
        """
        lane = self.lane_of_task[message.task] if self.lane_of_task else 0
        consumers = self.consumers[lane]
        while consumers:
            worker, wait = consumers.popleft()
            if not worker.waiting or worker.wait != wait:
                continue  # served from another of its lists since
            worker.waiting = False
            if worker.can_reserve():
                self._deliver(message, worker, lane)
                if self._scan_served is None:
                    self.fetch(worker)  # its next BRPOP, while the prefetch limit allows one
                else:
                    self._scan_served.append(worker)  # its next BRPOP after the scan
                return
            if worker.lingers_until > self.env.now:
                worker.lingers_until = -1.0  # BRPOP returns one message
                return
        if front:
            self.lanes[lane].appendleft(message)
        else:
            self.lanes[lane].append(message)

    def fetch(self, worker: Worker) -> None:
        """Hand ``worker`` messages while it may reserve more; else it waits for the next.

        A delivery can ask for a fetch again (an ETA message frees its prefetch place at once, a
        started task asks for its successor); while this loop runs, such a call returns and the
        loop goes on, so a long run of ETA messages is a loop, not a recursion per message.
        """
        if worker.fetching:
            return
        worker.fetching = True
        lanes = self.lanes
        while worker.can_reserve():
            for lane in worker.order:
                if lanes[lane]:
                    self._deliver(lanes[lane].popleft(), worker, lane)
                    break
            else:
                if not worker.waiting:
                    worker.waiting = True
                    worker.wait += 1
                    for lane in worker.order:
                        self.consumers[lane].append((worker, worker.wait))
                break
        worker.fetching = False

    def _deliver(self, message: Message, worker: Worker, lane: int) -> None:
        if worker.rotates:
            worker.came_from(lane)
        delivery = Delivery(message, self._clock.now + self.visibility_timeout)
        unacked = self.unacked
        while unacked and unacked[0].message.unacked is not unacked[0]:
            unacked.popleft()  # acked: the restorer would skip it, and it holds its message
        unacked.append(delivery)
        if self._restorer_idle is not None:
            self._restorer_idle.succeed()
            self._restorer_idle = None
        worker.reserve(delivery)

    def _restorer(self) -> Generator[simpy.Event, object, None]:
        unacked = self.unacked
        planned: tuple[Worker, float, float] | None = None  # the scan it was last waiting for
        while True:
            woke_for, planned = planned, None
            while unacked and unacked[0].message.unacked is not unacked[0]:
                unacked.popleft()
            now = self.env.now
            if not unacked:
                wake = self._idle()
            elif unacked[0].deadline > now:
                wake = self.env.timeout(unacked[0].deadline - now)
            elif self.scan_every is None:
                self._redeliver([unacked.popleft()])  # its holder may still run it
                continue
            elif woke_for is not None and self._scans(*woke_for[:2]):
                self.scan()
                continue
            elif (planned := self._next_scan(self.scan_every)) is not None:
                wake = self.env.timeout(planned[2] - now)
            else:
                wake = self._idle()  # no node up: the next to start scans (``node_up``)
            yield wake

    def _idle(self) -> simpy.Event:
        """An event fired by the next delivery or node start."""
        self._restorer_idle = self.env.event()
        return self._restorer_idle

    def _next_scan(self, every: float) -> tuple[Worker, float, float] | None:
        """The up node that scans first from now on, scanning ``every`` seconds: it, its start
        and the scan's time."""
        now = self.env.now
        soonest: tuple[Worker, float, float] | None = None
        for node in self.nodes:
            if not node.down:
                at = restore.next_scan(node.up_since, every, now)
                if soonest is None or at < soonest[2]:
                    soonest = (node, node.up_since, at)
        return soonest

    @staticmethod
    def _scans(node: Worker, up_since: float) -> bool:
        """Whether the scan the restorer waited for happens: its node is still up, not
        restarted (a restart scanned at once and moved its scans)."""
        return not node.down and node.up_since == up_since

    def node_up(self) -> None:
        """A node (re)starts: its first restore scan runs as it connects, before it consumes."""
        if self.scan_every is not None:
            self.scan()
            if self._restorer_idle is not None:
                self._restorer_idle.succeed()
                self._restorer_idle = None

    def scan(self) -> None:
        """A node's restore scan: every message past its deadline goes back, the latest
        delivered first, each to the head of its queue (kombu's ``restore_visible``), so the
        earliest delivered is read first. A BRPOP waiting in Redis is handed the first message
        pushed to its lists, and its node asks again only once the scan is over (the scanning
        node's event loop is busy with it; another's reply reaches it over the network), so
        each waiting node takes one restored message during a scan, the rest wait at the head.
        """
        if self._look:  # before it takes any: the last scan's messages are handed out by now
            self._look_ahead()
        unacked, now = self.unacked, self.env.now
        due = []
        while unacked and unacked[0].deadline <= now:
            delivery = unacked.popleft()
            if delivery.message.unacked is delivery:
                due.append(delivery)
        due.reverse()
        self._scan_served = []
        self._redeliver(due)
        served, self._scan_served = self._scan_served, None
        for node in served:
            self.fetch(node)

    def _redeliver(self, deliveries: list[Delivery]) -> None:
        """Restore these un-acked deliveries in order, counting them against the run's limit;
        every ``look_every`` of them, a look at the held retries: at once when one message at a
        time comes back, at the next scan when a scan brought them back (some then wait in the
        lists for their nodes' next BRPOP, which ``_held_ahead`` takes for work left)."""
        for delivery in deliveries:
            self.restore(delivery)
        before, self.redelivered = self.redelivered, self.redelivered + len(deliveries)
        if self.redelivered > self.max_redeliveries:
            raise self._runaway(f"more than {self.max_redeliveries}")
        if self.redelivered // self.look_every > before // self.look_every:
            self._look = True
            if self.scan_every is None:
                self._look_ahead()

    def _look_ahead(self) -> None:
        """Stop the run now if the retries held un-acked will pass the limit by themselves."""
        self._look = False
        if ahead := self._held_ahead():
            raise self._runaway(str(self.redelivered), ahead)

    def _runaway(self, count: str, ahead: str = "") -> RunawayError:
        return RunawayError(
            f"{count} redeliveries by ack.visibility_timeout = {self.visibility_timeout:g}s"
            f"{ahead}: {self.runaway_advice}"
        )

    def _held_ahead(self) -> str:
        """Why the retries held un-acked now will pass ``max_redeliveries`` by themselves, or ""
        when that is not certain. Once nothing else is left (``quiet``: every arrival sent, the
        lists empty, every node blocked on its BRPOP), a held message is acked only when a copy
        runs, at its ETA, and until then is restored and handed out again each cycle: the
        visibility timeout, at most a restore scan's period more, and ``handover`` for every held
        message (as if all were handed to one node one by one). Half of what that counts must
        pass the bound, so cycles twice as slow still would: a run that would end is never
        stopped (far-future countdowns at 5,000 tasks ran 510,000 redeliveries to be stopped;
        now one round)."""
        if self.quiet is None or self.queued or not self.quiet():
            return ""
        now = self.env.now
        etas = [d.message.eta for d in self.unacked if d.message.unacked is d]
        if not etas or min(etas) <= now:
            return ""  # a message running or due: not only held retries
        cycle = self.visibility_timeout + (self.scan_every or 0) + len(etas) * self.handover
        ahead = sum((eta - now) // cycle for eta in etas)
        if self.redelivered + ahead / 2 <= self.max_redeliveries:
            return ""
        return (
            f" so far, and the {len(etas)} retries held un-acked are handed out again about "
            f"{ahead:.3g} times more (every {cycle:.3g}s until their countdowns end), past the "
            f"run's limit of {self.max_redeliveries}"
        )

    def restore(self, delivery: Delivery) -> None:
        """Put an un-acked message back at the head of the queue, if it still is un-acked."""
        message = delivery.message
        if message.unacked is delivery:
            message.ack()  # gone from the unacked hash
            self.publish(message, front=True)
