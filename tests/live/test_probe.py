"""The probe of this host's Celery costs: one real node, fitted as calibrate fits a run."""

import pytest

from live import probe
from sim import scenario

pytestmark = pytest.mark.live


@pytest.mark.parametrize(("late", "multiplier"), [(True, 1), (False, 4)])
def test_the_probe_runs_in_the_runs_ack_mode_and_prefetch(late, multiplier):
    sc = scenario.load("scenarios/mmc.toml").replace(
        **{"ack.late": late, "workers.prefetch_multiplier": multiplier}
    )
    p = probe.probe_scenario(sc)
    assert (p.ack.late, p.workers.prefetch_multiplier) == (late, multiplier)
    assert (p.workers.count, p.workers.concurrency, p.overhead.model) == (1, 1, "celery")
    # one task at a time, the slot about half busy: most find it idle, some wait for it
    assert p.arrivals.process == "constant" and p.service.dist == "exponential"
    assert 0.25 < p.service.mean * p.arrivals.rate < 0.5


def test_the_probe_fits_every_cost_on_a_real_node(redis_url, no_leftovers):
    """Most tasks are deliveries to an idle slot and some hand-overs in the run's ack mode; the
    fitted costs are milliseconds (neither nothing nor a polling loop's tenth of a second), and
    a scenario given them pays them in its Celery model."""
    sc = scenario.load("scenarios/mmc.toml")  # late ack, the textbook queue without costs
    fit = probe.host_costs(sc, redis_url)
    print(fit.describe())
    assert fit.handover_field == "handover_late"
    assert fit.tasks_used >= probe.TASKS // 3 and fit.handovers_used >= 10
    assert 0 < fit.handover < 0.06 and 0 < fit.delivery + fit.delivery_spread < 0.03
    assert 0 <= fit.record < 0.03
    priced = sc.replace(**fit.fields())
    assert priced.overhead.model == "celery" and priced.overhead.dispatch == 0
    assert priced.overhead.handover_late == fit.handover
    assert priced.overhead.delivery == fit.delivery
