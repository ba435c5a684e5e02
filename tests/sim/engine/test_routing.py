"""Several task types, queues and pools in the simulator, against queueing theory and against
Celery's rules (``sim.rules.routing``, ``sim.rules.limits``)."""

import numpy as np
import pytest

from sim import scenario
from sim.analysis import analytic, metrics, runs
from sim.engine.draws import Draws
from sim.engine.model import simulate
from sim.rules.states import FAILURE, RETRY, STARTED

SEEDS = (1, 2, 3, 4, 5)

TWO_QUEUES = """
[overhead]
model = "none"
[run]
tasks = 120000
[arrivals]
rate = 8.0
[ack]
late = true
[workers]
prefetch_multiplier = 1
[[tasks]]
name = "thumbnail"
share = 0.5
queue = "fast"
[tasks.service]
mean = 0.4
[[tasks]]
name = "report"
queue = "slow"
[tasks.service]
mean = 1.0
[[pools]]
name = "fast"
queues = ["fast"]
count = 3
[[pools]]
name = "slow"
queues = ["slow"]
count = 6
"""


def mean_over_seeds(sc, figure):
    """Each group's ``figure`` (e.g. by_task's wait_mean), averaged over SEEDS."""
    found = {}
    for seed in SEEDS:
        s = runs.summarize(simulate(sc, seed), sc, seed=seed)
        for group, figures in figure(s).items():
            found.setdefault(group, []).append(figures)
    return {group: float(np.mean(v)) for group, v in found.items()}


def test_two_queues_with_their_own_pools_are_two_erlang_c_queues():
    # each type sees its own M/M/c (λ = 4 each; ρ = 0.53 on 3 workers, 0.67 on 6). Tolerance 5 %
    # on the mean of 5 seeds of 60k tasks a type: over 10 seeds one seed's mean wait varied by
    # 3 % (fast) and 6 % (slow) around Erlang C, and their mean was within 2 %
    sc = scenario.loads(TWO_QUEUES)
    waits = mean_over_seeds(sc, lambda s: {k: v["wait_mean"] for k, v in s.by_task.items()})
    assert waits["thumbnail"] == pytest.approx(analytic.mmc_wait(4, 0.4, 3), rel=0.05)
    assert waits["report"] == pytest.approx(analytic.mmc_wait(4, 1.0, 6), rel=0.05)


PRIORITIES = """
[overhead]
model = "none"
[run]
tasks = 100000
[arrivals]
rate = 3.0
[ack]
late = true
[workers]
count = 4
prefetch_multiplier = 1
[[tasks]]
name = "urgent"
share = 0.3
priority = 0
[[tasks]]
name = "normal"
share = 0.4
priority = 3
[[tasks]]
name = "bulk"
share = 0.3
priority = 9
"""


def test_priorities_on_one_queue_follow_cobhams_formula():
    # non-preemptive M/M/4 priority queue at ρ = 0.75. Tolerance 7 % on the mean of 5 seeds:
    # over 12 seeds the lowest class's mean wait varied by 6.7 % a seed, their mean was +2.8 %
    sc = scenario.loads(PRIORITIES)
    waits = mean_over_seeds(sc, lambda s: {k: v["wait_mean"] for k, v in s.by_task.items()})
    expected = analytic.cobham_waits([0.3 * 3.0, 0.4 * 3.0, 0.3 * 3.0], 1.0, 4)
    for name, wq in zip(("urgent", "normal", "bulk"), expected, strict=True):
        assert waits[name] == pytest.approx(wq, rel=0.07), name


def test_prefetch_defeats_priority():
    # with Celery's default prefetch (4 per slot) a worker runs what it already reserved: the
    # urgent class waits behind bulk messages it could have overtaken in Redis
    sc = scenario.loads(PRIORITIES).replace(**{"run.tasks": 20000})
    strict = runs.summarize(simulate(sc), sc).by_task
    fetched = sc.replace(**{"workers.prefetch_multiplier": 4, "ack.late": False})
    loose = runs.summarize(simulate(fetched), fetched).by_task
    assert loose["urgent"]["wait_mean"] > 2 * strict["urgent"]["wait_mean"]

    def edge(by_task):
        return by_task["bulk"]["wait_mean"] / by_task["urgent"]["wait_mean"]

    assert edge(loose) < edge(strict) / 2  # the urgent class's edge is mostly gone


def started_types(trace, worker=None):
    rows = np.flatnonzero(trace.state == STARTED)
    if worker is not None:
        rows = rows[trace.worker[rows] == worker]
    return trace.task_types()[trace.task[rows]]


def one_worker_two_queues(order):
    # a burst of 20 tasks of each type at t = 0, one worker with one slot on both queues
    return scenario.loads(f"""
[run]
tasks = 40
[arrivals]
process = "burst"
burst_size = 40
[ack]
late = true
[workers]
count = 1
prefetch_multiplier = 1
[service]
dist = "constant"
[[tasks]]
name = "a"
queue = "a"
[[tasks]]
name = "b"
queue = "b"
[[pools]]
name = "both"
queues = ["b", "a"]
queue_order = "{order}"
""")


def started_names(order):
    """The queues the worker ran from, after the first task: that one reaches it while it
    waits on both, before the rest of the burst is queued."""
    trace = simulate(one_worker_two_queues(order))
    return "".join(trace.types[k][0] for k in started_types(trace))[1:]


def test_round_robin_alternates_between_queues_in_q_order():
    names = started_names("round_robin")
    both = 2 * min(names.count("a"), names.count("b"))
    assert names[:both] == "ba" * (both // 2)  # the first came from a: b next, then turn about
    assert len(set(names[both:])) == 1  # then what is left of the longer queue


@pytest.mark.parametrize(("order", "first"), [("priority", "b"), ("sorted", "a")])
def test_fixed_orders_drain_one_queue_first(order, first):
    # priority: in -Q order (b, a); sorted: by name (a, b), whatever the -Q order (measured)
    names = started_names(order)
    second = "b" if first == "a" else "a"
    assert names == first * names.count(first) + second * names.count(second)


RATE_LIMITED = """
[run]
tasks = 200
[arrivals]
process = "burst"
burst_size = 200
[workers]
count = 2
concurrency = 2
prefetch_multiplier = 4
[service]
dist = "constant"
mean = 0.01
[[tasks]]
name = "limited"
share = 0.5
rate_limit = "10/s"
[[tasks]]
name = "free"
"""


def test_a_rate_limit_spaces_starts_per_worker_node():
    """Tokens come 0.1 s apart; a start is its token's time when the message and a slot are
    there by then, so without Celery's drawn delivery (which can hold a start past its token,
    the next then sooner after it) the starts are spaced as the tokens."""
    sc = scenario.loads(RATE_LIMITED).replace(**{"overhead.model": "none"})
    trace = simulate(sc)
    rows = np.flatnonzero(trace.state == STARTED)
    limited = rows[trace.task_types()[trace.task[rows]] == 0]
    for w in range(2):
        t = trace.t[limited[trace.worker[limited] == w]]
        assert len(t) > 10
        assert np.diff(t).min() == pytest.approx(0.1)  # 10/s per node: one token each 0.1 s


@pytest.mark.parametrize("zero", ["0", "0/s"])
def test_a_rate_limit_of_0_runs_as_none(zero):
    """As Celery reads it (no token bucket for a rate of 0): the run of no limit, row for row."""
    sc = scenario.loads(RATE_LIMITED)
    none, zeroed = (sc.replace(**{"tasks.limited.rate_limit": v}) for v in ("", zero))
    ran, expected = simulate(zeroed), simulate(none)
    assert ran.to_arrow().equals(expected.to_arrow())
    assert not ran.to_arrow().equals(simulate(sc).to_arrow())  # where a limit holds them back


def test_rate_limited_requests_hold_prefetch_places_and_block_other_types():
    # without Celery's hand-over, which keeps the free tasks' slots busier even when alone
    sc = scenario.loads(RATE_LIMITED).replace(**{"overhead.model": "none"})
    free = runs.summarize(simulate(sc), sc).by_task["free"]
    unlimited = sc.replace(**{"tasks.limited.rate_limit": ""})
    alone = runs.summarize(simulate(unlimited), unlimited).by_task["free"]
    # the free tasks wait behind held ones that fill each node's 8 prefetch places
    assert free["wait_p95"] > 5 * alone["wait_p95"]


def time_limited(limit_field):
    return scenario.loads(f"""
[run]
tasks = 2000
[arrivals]
rate = 1.0
[ack]
late = true
[workers]
count = 4
process_start = 0.5
[retry]
max_retries = 1
countdown = 1.0
[[tasks]]
name = "slow"
{limit_field} = 2.0
""")


def test_a_hard_time_limit_fails_the_task_without_retry():
    trace = simulate(time_limited("time_limit"))
    spans = metrics.execution_spans(trace)
    assert (spans["end"] - spans["start"]).max() == pytest.approx(2.0)
    failed = spans["state"] == FAILURE
    assert failed.sum() == pytest.approx(2000 * np.exp(-2), rel=0.15)  # P(service > 2)
    assert not (trace.state == RETRY).any()


def test_a_soft_time_limit_retries_like_a_failure():
    trace = simulate(time_limited("soft_time_limit"))
    retries = int((trace.state == RETRY).sum())
    assert retries == pytest.approx(2000 * np.exp(-2), rel=0.15)
    # the retry draws a new service time: it too is cut, and with max_retries = 1 it fails
    assert int((trace.state == FAILURE).sum()) == pytest.approx(retries * np.exp(-2), rel=0.4)


OWN_ARRIVALS = """
[run]
duration = 600.0
[arrivals]
rate = 4.0
[workers]
count = 6
[[tasks]]
name = "web"
[[tasks]]
name = "nightly"
queue = "batch"
[tasks.arrivals]
process = "burst"
burst_size = 200
rate = 1.0
[[pools]]
name = "web"
queues = ["celery"]
count = 6
[[pools]]
name = "batch"
queues = ["batch"]
count = 2
"""


def test_a_type_with_its_own_arrivals_adds_them_to_the_shared_stream():
    sc = scenario.loads(OWN_ARRIVALS)
    draws = Draws(sc)
    nightly = draws.arrivals[draws.type_of == 1]
    assert (nightly == np.repeat([0.0, 200.0, 400.0], 200)).all()  # three bursts of 200
    alone = scenario.loads(OWN_ARRIVALS.split("[[tasks]]")[0])
    # the web tasks are the arrivals the scenario has without the nightly type
    assert (draws.arrivals[draws.type_of == 0] == Draws(alone).arrivals).all()
    assert analytic.type_rates(sc) == [4.0, 1.0]
    assert analytic.pool_intensities(sc) == pytest.approx({"web": 4 / 6, "batch": 0.5})


def test_a_share_and_own_arrivals_together_are_refused():
    with pytest.raises(scenario.ScenarioError, match="a share of .arrivals. or own arrivals"):
        scenario.loads(OWN_ARRIVALS.replace('name = "nightly"', 'name = "nightly"\nshare = 0.5'))
