"""The simulator's invariants hold on traces from real Celery, over generated scenarios.

Few examples (each is a real run of a few seconds) at a small time scale; where real Celery
breaks an invariant, the model of Celery is what needs fixing.
"""

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from live.run import run_live
from sim.analysis import invariants
from sim.analysis.metrics import summarize
from sim.scenario import FIELDS
from sim.shapes import ignored_fields
from sim.strategies import scenarios

pytestmark = [pytest.mark.live, pytest.mark.alone]

SCALE = 0.02


# no shrinking: each example is a real run; a failure is printed as drawn
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(scenarios(max_tasks=40, live=True))
def test_invariants_hold_on_real_celery(redis_url, sc):
    floors = {
        "workers.count": min(sc.workers.count, 3),
        "workers.concurrency": min(sc.workers.concurrency, 2),
        "arrivals.rate": max(sc.arrivals.rate, 1.0),
        "service.mean": max(sc.service.mean, 0.25),  # ≥ 5 ms of wall time per task
        "service.low": 0.25,
        "service.high": max(sc.service.high, 0.5),
        "ack.visibility_timeout": max(sc.ack.visibility_timeout, 100.0),  # ≥ 2 s wall
    }
    unread = ignored_fields({f.key: sc.get(f.key) for f in FIELDS})  # given, they are an error
    sc = sc.replace(**{k: v for k, v in floors.items() if k not in unread})
    trace = run_live(sc, redis_url, time_scale=SCALE)
    report = invariants.check(trace, sc, slack=0.005 / SCALE)
    assert report.ok, report.violations[:5]
    s = summarize(trace, sc.workers.slots, engine="live")
    assert s.tasks_submitted == sc.run.tasks
    if sc.ack.late or sc.failures.crash_probability == 0:
        assert s.tasks_lost == 0
