"""Hypothesis strategies for scenarios and retry policies, for queuelab's tests and for yours.

    from hypothesis import given
    from sim.strategies import scenarios

    @given(scenarios(max_tasks=100))
    def test_my_property(scenario): ...

Every strategy takes strategies for the parts you want to pin, e.g.
``scenarios(retry=st.just(my_policy))`` explores everything but your retry policy. Scenarios stay
small (a few hundred tasks) so a simulation per example takes milliseconds.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from hypothesis import strategies as st

from sim.scenario import FIELD_BY_KEY, MAX_RATE, MAX_SECONDS, TABLE_FIELDS, Retry, Scenario
from sim.shapes import ignored_fields

HUGE_TIMES = (0.0, 1e-9, 1.0, 600.0, 2e5, 1e6, MAX_SECONDS)
PIECES = 6  # the most pieces of piecewise arrivals drawn
# the most tasks of a hostile scenario retried for ever with every attempt failing: each runs
# retry.FOLLOWED + 1 times, a few thousand executions in all
ALWAYS_FAILING = 3


def field_values(
    key: str,
    low: float | None = None,
    high: float | None = None,
    *,
    among: tuple = (),
    leave_out: tuple[str, ...] = (),
) -> st.SearchStrategy:
    """Values of one declared field: ``among`` these, or numbers in [low, high] (by default the
    field's own range), or its choices but ``leave_out``, or true and false. Every value given
    is checked against the declaration here, so a range past it fails when the strategy is made,
    not in a rare example."""
    field = FIELD_BY_KEY[key]
    if among:
        return st.sampled_from([field.coerce(v) for v in among])
    if field.type is bool:
        return st.booleans()
    if field.choices:
        return st.sampled_from([c for c in field.choices if c not in leave_out])
    low = field.coerce(field.min if low is None else low)
    high = field.coerce(field.max if high is None else high)
    return st.integers(low, high) if field.type is int else st.floats(low, high)


def retry_bounds(most: int, forever: bool = True) -> st.SearchStrategy:
    """``retry.max_retries`` of 0 to ``most`` retries or, with ``forever``, now and then (one
    draw in ``most + 2``) for ever: inf, Celery's None, which the simulator follows through
    ``retry.FOLLOWED`` retries."""
    if not forever:
        return field_values("retry.max_retries", 0, most)
    return field_values("retry.max_retries", among=(*range(most + 1), math.inf))


def _picker(draw, fields: dict[str, Any]):
    """``pick(key, ...)`` draws a value of ``field_values(key, ...)`` into ``fields``."""

    def pick(key: str, *bounds: float, **kwargs: Any) -> None:
        fields[key] = draw(field_values(key, *bounds, **kwargs))

    return pick


def spreads(dist: str) -> st.SearchStrategy:
    """cv values ``dist`` takes (``sim.shapes.check_cv``): 1/√k for erlang, at least 1 for
    hyperexponential, a moderate range for the rest."""
    if dist == "erlang":
        return st.integers(1, 6).map(lambda k: 1 / math.sqrt(k))
    return field_values("service.cv", 1 if dist == "hyperexponential" else 0.2, 3)


@st.composite
def piecewise_rates(draw, mean: float) -> list[float]:
    """``arrivals.rates`` of one to ``PIECES`` pieces, some of them 0, averaging ``mean``: the
    ``arrivals.rate`` they must agree with when both are given. One piece above 0 is drawn
    first and put among the rest, so no example is discarded (all zero averages nothing)."""
    rest = draw(st.lists(st.one_of(st.just(0.0), st.floats(0.01, 4)), max_size=PIECES - 1))
    rest.insert(draw(st.integers(0, len(rest))), draw(st.floats(0.01, 4)))
    return [x / sum(rest) * len(rest) * mean for x in rest]


def _varying(draw, pick, fields: dict[str, Any], periods: tuple[float, ...]) -> None:
    """The fields of a rate that varies over time: piecewise rates, an amplitude, a period."""
    fields["arrivals.rates"] = draw(piecewise_rates(fields["arrivals.rate"]))
    pick("arrivals.amplitude")
    pick("arrivals.period", among=periods)


def _scenario(fields: dict[str, Any]) -> Scenario:
    """The scenario of the drawn fields its distributions and process read (given, the rest
    would be an error)."""
    ignored = ignored_fields({key: fields.get(key, f.default) for key, f in FIELD_BY_KEY.items()})
    return Scenario().replace(**{k: v for k, v in fields.items() if k not in ignored})


@st.composite
def retry_policies(draw, max_retries=None, backoff=None, jitter=None) -> Retry:
    """Celery retry settings: countdown, or exponential backoff with a cap and maybe jitter;
    ``max_retries=st.just(math.inf)`` retries for ever (Celery's None)."""
    if backoff is None:
        backoff = st.one_of(st.just(0.0), field_values("retry.backoff", 0.1, 10))
    return Retry(
        max_retries=draw(
            field_values("retry.max_retries", 0, 6) if max_retries is None else max_retries
        ),
        countdown=draw(field_values("retry.countdown", 0, 30)),
        backoff=draw(backoff),
        backoff_max=draw(field_values("retry.backoff_max", 0, 120)),
        jitter=draw(field_values("retry.jitter") if jitter is None else jitter),
        on_worker_lost=draw(field_values("retry.on_worker_lost")),
    )


@st.composite
def outages(draw) -> dict:
    """A downstream outage window in the first minute or so of a run."""
    start = draw(st.floats(0, 60))
    return {
        "start": start,
        "end": start + draw(st.floats(0.1, 30)),
        "probability": draw(st.sampled_from([0.5, 1.0])),
    }


@st.composite
def scenarios(
    draw,
    max_tasks: int = 300,
    retry=None,
    crashes: bool = True,
    live: bool = False,
    autoscale: bool = False,
) -> Scenario:
    """Small, valid scenarios across arrivals, service, pool shape, ack mode and failures;
    ``live=True`` leaves out what only the simulator models (deploys, CPU cores);
    ``autoscale=True`` gives every worker ``--autoscale MAX,MIN``."""
    fields: dict[str, Any] = {}
    pick = _picker(draw, fields)
    pick("service.dist", leave_out=("empirical",))  # an empirical service needs a sample
    pick("arrivals.dist")
    policy = draw(retry_policies() if retry is None else retry)
    pick("seed", 0, 2**32)
    pick("run.tasks", 1, max_tasks)
    pick("arrivals.process", leave_out=("trace",))  # a trace needs a file of arrival times
    pick("arrivals.rate", 0.2, 20)
    pick("arrivals.burst_size", 1, 50)
    _varying(draw, pick, fields, (1.0, 10.0, 60.0))
    pick("service.mean", 0.05, 2)
    fields["service.cv"] = draw(spreads(fields["service.dist"]))
    fields["arrivals.cv"] = draw(spreads(fields["arrivals.dist"]))
    fields["service.low"] = 0.1
    pick("service.high", 0.2, 2)
    pick("workers.count", 1, 6)
    pick("workers.concurrency", 1, 3)
    pick("workers.prefetch_multiplier", 0, 4)
    pick("workers.restart_delay", 0, 5)
    pick("workers.kill_linger", among=(0.0, 0.05, 1.0))
    pick("failures.probability", 0, 0.5)
    pick("failures.crash_probability", 0, 0.1 if crashes else 0)
    fields |= {f"retry.{k}": v for k, v in dataclasses.asdict(policy).items()}
    pick("failures.crash_kind")
    pick("ack.reject_on_worker_lost")
    pick("ack.late")
    # long enough that redeliveries stay bounded (sim.engine.broker.RunawayError is what is not)
    pick("ack.visibility_timeout", among=(600.0, 3600.0))
    pick("overhead.dispatch", among=(0.0, 0.01))
    pick("overhead.record", among=(0.0, 0.005))
    fields["failures.outage"] = draw(st.lists(outages(), max_size=2))
    if autoscale:  # --autoscale sizes the pools: a concurrency given with it is refused
        del fields["workers.concurrency"]
        pick("workers.autoscale_max", 1, 6)
        pick("workers.autoscale_min", 0, fields["workers.autoscale_max"])
        pick("workers.autoscale_keepalive", among=(0.5, 3.0, 30.0))
        pick("workers.process_start", among=(0.0, 0.2, 2.0))
    if not live:
        pick("workers.cores", 0, 3)
        pick("workers.deploy_every", among=(0.0, 0.0, 5.0, 20.0))
        pick("workers.shutdown_grace", among=(0.0, 1.0, 30.0))
    return _scenario(fields)


QUEUES = ("a", "b", "c")  # the queues mixed scenarios route to
RATE_LIMITS = ("", "", "2/s", "5/s", "90/m")  # Task.rate_limit: none, or a few a second
TIME_LIMITS = (0.0, 0.0, 0.3, 1.0, 3.0)  # seconds of a soft or hard limit, 0 = none


@st.composite
def task_tables(draw, queues: list[str], count: int) -> list[dict[str, Any]]:
    """``count`` ``[[tasks]]`` tables routed to ``queues``, each with a priority, maybe a rate
    limit and soft or hard time limits (around ``scenarios``' service means), its own failure
    rate (at most 0.5: most attempts succeed) and its own retry policy, now and then retrying
    for ever (``on_worker_lost`` is the deployment's, not a type's)."""
    tables = []
    for i in range(count):
        soft = draw(st.sampled_from(TIME_LIMITS))  # a soft limit at or above the hard one is
        hard = draw(st.sampled_from([t for t in TIME_LIMITS if not 0 < t <= soft]))  # refused
        # retried for ever only without a soft limit, which may raise on every attempt (work of
        # a constant length past it): each task would then run retry.FOLLOWED + 1 times
        policy = dataclasses.asdict(draw(retry_policies(max_retries=retry_bounds(6, not soft))))
        del policy["on_worker_lost"]
        tables.append(
            {
                "name": f"t{i}",
                "queue": draw(st.sampled_from(queues)),
                "priority": draw(st.integers(0, 9)),
                "rate_limit": draw(st.sampled_from(RATE_LIMITS)),
                "soft_time_limit": soft,
                "time_limit": hard,
                "failures": {"probability": draw(field_values("failures.probability", 0, 0.5))},
                "retry": policy,
            }
        )
    return tables


@st.composite
def pool_tables(draw, queues: list[str]) -> list[dict[str, Any]]:
    """One to three ``[[pools]]`` tables that between them consume every queue of ``queues``
    (a queue may have several pools), each with its queue order, node count and slots."""
    pools = []
    for i in range(draw(st.integers(1, 3))):
        mine = draw(st.lists(st.sampled_from(queues), min_size=1, unique=True))
        pools.append(
            {
                "name": f"p{i}",
                "queues": mine,
                "queue_order": draw(st.sampled_from(TABLE_FIELDS["pools"]["queue_order"].choices)),
                "count": draw(field_values("workers.count", 1, 3)),
                "concurrency": draw(field_values("workers.concurrency", 1, 2)),
            }
        )
    served = {q for p in pools for q in p["queues"]}
    pools[-1]["queues"] += [q for q in queues if q not in served]
    return pools


@st.composite
def mixed_scenarios(draw, max_tasks: int = 150, crashes: bool = True) -> Scenario:
    """``scenarios`` with one to three task types on one to three queues, served by one to three
    pools: priorities, rate limits, soft and hard time limits, a retry policy and failure rate
    per type, beside everything ``scenarios`` draws (crashes, late ack, deploys, outages), and a
    visibility timeout that a retry's countdown or a reserved message's wait may outlast (30 s:
    redelivered copies that run beside the first, a few per message at these countdowns),
    restored at restore scans from every 2 s (a live run's) to every 100 s (kombu's default)."""
    base = draw(scenarios(max_tasks=max_tasks, crashes=crashes))
    queues = draw(st.lists(st.sampled_from(QUEUES), min_size=1, unique=True))
    tasks = draw(task_tables(queues, draw(st.integers(1, 3))))
    fields = {
        "ack.visibility_timeout": draw(
            field_values("ack.visibility_timeout", among=(30.0, 600.0, 3600.0))
        ),
        "overhead.restore_interval": draw(
            field_values("overhead.restore_interval", among=(2.0, 10.0))
        ),
        "overhead.restore_throttle": draw(field_values("overhead.restore_throttle", among=(1, 10))),
    }
    pools = draw(pool_tables(queues))
    return base.replace(tasks=tasks, pools=pools, **fields)


@st.composite
def hostile_scenarios(draw, max_tasks: int = 1000) -> Scenario:
    """What a careless or hostile user can write: bursts that queue long runs of ETA messages,
    countdowns far beyond the visibility timeout or the float range, huge and tiny values, and
    now and then retries for ever, a few tasks' maybe failing every attempt.
    A simulation of one must end, either with a trace or with a ``ScenarioError`` that says
    what to change."""
    fields: dict[str, Any] = {}
    pick = _picker(draw, fields)
    pick("seed")
    # a few tasks, or enough in one burst that hundreds of retries queue up in a row
    tasks = draw(st.one_of(st.integers(1, 20), st.integers(max_tasks // 2, max_tasks)))
    fields["run.tasks"] = tasks
    pick("arrivals.process", among=("burst", "poisson", "cycle", "piecewise"))
    # a piece may take all of a cycle's arrivals: at a rate of MAX_RATE it would pass it
    top = MAX_RATE / PIECES if fields["arrivals.process"] == "piecewise" else MAX_RATE
    pick("arrivals.rate", among=(1e-6, 1.0, 1e3, top))
    _varying(draw, pick, fields, (1e-9, 1.0, MAX_SECONDS))
    fields["arrivals.burst_size"] = draw(st.one_of(st.just(tasks), st.integers(1, tasks)))
    pick("service.mean", among=(1e-9, 0.25, 1.0, 1e6))
    pick("workers.count", 1, 4)
    pick("workers.concurrency", 1, 4)
    pick("workers.prefetch_multiplier", 0, 8)
    pick("failures.probability", among=(0.1, 0.5, 0.9, 1.0))
    # for ever where the run ends soon: an attempt may succeed (a task ends after 10 attempts
    # on average at p = 0.9), or the few tasks that fail every attempt are each followed
    # through retry.FOLLOWED retries
    forever = fields["failures.probability"] < 1 or tasks <= ALWAYS_FAILING
    fields["retry.max_retries"] = draw(retry_bounds(12, forever))
    for key in ("retry.countdown", "retry.backoff", "retry.backoff_max"):
        pick(key, among=HUGE_TIMES)
    pick("retry.jitter")
    pick("ack.late")
    pick("ack.visibility_timeout", among=(1.0, 3600.0, MAX_SECONDS))
    pick("overhead.restore_interval", among=(1e-6, 10.0, 1e6))  # restore scans
    pick("overhead.restore_throttle", among=(1, 10))
    return _scenario(fields)
