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

from hypothesis import strategies as st

from sim import scenario as scenario_module
from sim.scenario import Retry, Scenario


@st.composite
def retry_policies(draw, max_retries=None, backoff=None, jitter=None) -> Retry:
    """Celery retry settings: countdown, or exponential backoff with a cap and maybe jitter."""
    factor = draw(backoff if backoff is not None else st.one_of(st.just(0.0), st.floats(0.1, 10)))
    return Retry(
        max_retries=draw(max_retries if max_retries is not None else st.integers(0, 6)),
        countdown=draw(st.floats(0, 30)),
        backoff=factor,
        backoff_max=draw(st.floats(0, 120)),
        jitter=draw(jitter if jitter is not None else st.booleans()),
        on_worker_lost=draw(st.booleans()),
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
    draw, max_tasks: int = 300, retry=None, crashes: bool = True, live: bool = False
) -> Scenario:
    """Small, valid scenarios across arrivals, service, pool shape, ack mode and failures;
    ``live=True`` leaves out what only the simulator models (deploys, CPU cores)."""
    dist = draw(st.sampled_from(["exponential", "constant", "lognormal", "uniform"]))
    policy = draw(retry if retry is not None else retry_policies())
    fields = {
        "seed": draw(st.integers(0, 2**32)),
        "run.tasks": draw(st.integers(1, max_tasks)),
        "arrivals.process": draw(st.sampled_from(["poisson", "constant", "burst"])),
        "arrivals.rate": draw(st.floats(0.2, 20)),
        "arrivals.burst_size": draw(st.integers(1, 50)),
        "service.dist": dist,
        "service.mean": draw(st.floats(0.05, 2)),
        "service.cv": draw(st.floats(0.2, 2)),
        "service.low": 0.1,
        "service.high": draw(st.floats(0.2, 2)),
        "workers.count": draw(st.integers(1, 6)),
        "workers.concurrency": draw(st.integers(1, 3)),
        "workers.prefetch_multiplier": draw(st.integers(0, 4)),
        "workers.restart_delay": draw(st.floats(0, 5)),
        "workers.kill_linger": draw(st.sampled_from([0.0, 0.05, 1.0])),
        "failures.probability": draw(st.floats(0, 0.5)),
        "failures.crash_probability": draw(st.floats(0, 0.1)) if crashes else 0.0,
        "retry.max_retries": policy.max_retries,
        "retry.countdown": policy.countdown,
        "retry.backoff": policy.backoff,
        "retry.backoff_max": policy.backoff_max,
        "retry.jitter": policy.jitter,
        "retry.on_worker_lost": policy.on_worker_lost,
        "failures.crash_kind": draw(st.sampled_from(["node", "child"])),
        "ack.reject_on_worker_lost": draw(st.booleans()),
        "ack.late": draw(st.booleans()),
        # long enough that redeliveries stay bounded (see model.RunawayError for what is not)
        "ack.visibility_timeout": draw(st.sampled_from([600.0, 3600.0])),
        "overhead.dispatch": draw(st.sampled_from([0.0, 0.01])),
        "overhead.record": draw(st.sampled_from([0.0, 0.005])),
        "failures.outage": draw(st.lists(outages(), max_size=2)),
    }
    if not live:
        fields["workers.cores"] = draw(st.integers(0, 3))
        fields["workers.deploy_every"] = draw(st.sampled_from([0.0, 0.0, 5.0, 20.0]))
        fields["workers.shutdown_grace"] = draw(st.sampled_from([0.0, 1.0, 30.0]))
    return scenario_module.load(None).replace(**fields)


@st.composite
def hostile_scenarios(draw, max_tasks: int = 1000) -> Scenario:
    """What a careless or hostile user can write: bursts that queue long runs of ETA messages,
    countdowns far beyond the visibility timeout or the float range, huge and tiny values.
    A simulation of one must end, either with a trace or with a ``ScenarioError`` that says
    what to change."""
    huge = st.sampled_from([0.0, 1e-9, 1.0, 600.0, 2e5, 1e6, scenario_module.MAX_SECONDS])
    # a few tasks, or enough in one burst that hundreds of retries queue up in a row
    tasks = draw(st.one_of(st.integers(1, 20), st.integers(max_tasks // 2, max_tasks)))
    fields = {
        "seed": draw(st.integers(0, 2**63 - 1)),
        "run.tasks": tasks,
        "arrivals.process": draw(st.sampled_from(["burst", "poisson"])),
        "arrivals.rate": draw(st.sampled_from([1e-6, 1.0, 1e3, scenario_module.MAX_RATE])),
        "arrivals.burst_size": draw(st.one_of(st.just(tasks), st.integers(1, tasks))),
        "service.mean": draw(st.sampled_from([1e-9, 0.25, 1.0, 1e6])),
        "workers.count": draw(st.integers(1, 4)),
        "workers.concurrency": draw(st.integers(1, 4)),
        "workers.prefetch_multiplier": draw(st.integers(0, 8)),
        "failures.probability": draw(st.sampled_from([0.1, 0.5, 0.9, 1.0])),
        "retry.max_retries": draw(st.integers(0, 12)),
        "retry.countdown": draw(huge),
        "retry.backoff": draw(huge),
        "retry.backoff_max": draw(huge),
        "retry.jitter": draw(st.booleans()),
        "ack.late": draw(st.booleans()),
        "ack.visibility_timeout": draw(st.sampled_from([1.0, 3600.0, scenario_module.MAX_SECONDS])),
    }
    return scenario_module.load(None).replace(**fields)
