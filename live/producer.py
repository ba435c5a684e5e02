"""The producer: sends each task at its drawn arrival time, on the run's clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from celery import Celery
from kombu import Producer

from live.celery_app import LiveConfig, task_name
from live.clock import Clock
from live.redis_server import unanswered
from sim.scenario import TaskType


def produce(
    app: Celery,
    config: LiveConfig,
    clock: Clock,
    arrivals: list[float],
    types: list[TaskType],
    sent: list[tuple[int, float]],
    stop: threading.Event | None = None,
) -> None:
    """Send every task (task ``i`` of type ``types[i]``, at its priority; ``task_routes`` picks
    its queue), appending (task, wall time sent) to ``sent``: the trace's PENDING rows. Once
    ``stop`` is set, or when Redis answered nothing, a send that failed is not retried
    (``_give_up_when``). What the first send would open is opened before its arrival
    (``_ready``)."""
    retry_policy = {"errback": _give_up_when(stop)}
    # a connection of the run's own, closed when it ends: the app's pool sits in kombu's
    # process-wide registry (``kombu.pools``), whose connection stayed open for good
    with app.connection_for_write() as connection:
        producer = app.amqp.Producer(connection)
        if arrivals:
            _ready(app, producer, config.task_id(0), retry_policy)
        for index, (at, kind) in enumerate(zip(arrivals, types, strict=True)):
            if clock.sleep_until(at, stop):
                break
            sent.append((index, time.time()))
            app.tasks[task_name(kind)].apply_async(
                args=[index],
                task_id=config.task_id(index),
                priority=kind.priority,
                producer=producer,
                retry_policy=retry_policy,
            )


def _ready(app: Celery, producer: Producer, first: str, retry_policy: dict) -> None:
    """Do before the first arrival what the first send did on its way out: connect, declare
    the queues, make the result backend and subscribe to a result (``on_task_call``, as
    ``apply_async`` does for each task; the first subscription opens the backend's pub/sub
    connection). The first send took 9-23 ms wall more than the next ones on a quiet host
    (25-130 ms on a busy one), the tasks due meanwhile went out together at its end: a burst
    at the start of a run at time scale 0.02 that the scenario does not have; 2-6 ms ready.
    A failed declaration is retried as a send is (``retry_policy``)."""
    for queue in app.amqp.queues.values():
        producer.maybe_declare(queue, retry=True, **retry_policy)
    app.backend.on_task_call(producer, first)


def _give_up_when(stop: threading.Event | None) -> Callable[[Exception, float], None]:
    """kombu's hook on each failed try of a send (``Connection.ensure``'s errback): the error
    ends the send once the run is stopped, or when Redis answered nothing for
    ``redis_server.TIMEOUT`` (``redis_server.unanswered``), a frozen Redis by the run's measure.
    A refused connection (Redis restarting) is retried as Celery's policy says. Each retry
    reconnects, and a frozen Redis's kernel accepts the connection and Redis answers nothing:
    Celery's three retries waited ``TIMEOUT`` each, 40 s before the run counted Redis lost
    (measured), and Ctrl-C waited out all of them."""

    def errback(err: Exception, interval: float) -> None:
        if (stop is not None and stop.is_set()) or unanswered(err):
            raise err

    return errback
