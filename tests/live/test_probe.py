"""The probe of this host's Celery costs: one real node, fitted as calibrate fits a run."""

import math
import os
import signal
import threading
import time

import pytest
import redis

from live import probe
from live.redis_server import RedisUnavailable, private_redis
from live.workers import BOOT
from sim import scenario
from sim.analysis import analytic
from sim.analysis.calibrate import CalibrationError, fit_overheads
from sim.engine.model import simulate
from sim.rules import retry

pytestmark = pytest.mark.live


@pytest.mark.parametrize(("late", "multiplier"), [(True, 1), (False, 4)])
def test_the_probe_has_the_runs_nodes_ack_mode_and_prefetch(late, multiplier):
    sc = scenario.load("scenarios/mmc.toml").replace(
        **{"ack.late": late, "workers.prefetch_multiplier": multiplier}
    )
    p = probe.probe_scenario(sc)
    assert (p.ack.late, p.workers.prefetch_multiplier) == (late, multiplier)
    assert (p.workers.count, p.workers.concurrency, p.overhead.model) == (4, 1, "celery")
    # Poisson arrivals, the slots partly busy: most find one idle, some wait for one
    assert p.arrivals.process == "poisson" and p.service.dist == "exponential"
    share = p.service.mean * p.arrivals.rate / p.slots
    assert share == pytest.approx(probe.busy_share(4))
    assert 0.2 < analytic.erlang_c(share * 4, 1.0, 4) < 0.4


def test_the_probes_busy_share_has_a_third_of_tasks_wait_whatever_the_slots():
    for slots, share in [(1, 0.3), (4, 0.65), (8, 0.75)]:
        assert probe.busy_share(slots) == share
        assert 0.25 < analytic.erlang_c(share * slots, 1.0, slots) < 0.4


def test_a_probe_crowded_by_its_own_costs_is_sized_again_without_them():
    """On a loaded host a task held its slot 25-55 ms beyond its sleep (mmc's probe at time
    scale 0.1 sleeps 81 ms on average): the slots were nearly always busy and 4-13 of 128
    tasks found one idle, too few to fit the delivery. The probe's run, simulated paying such
    costs, is seen as crowded, and the next probe's tasks sleep that much less, which leaves
    most of them a slot idle again; costs as large as the whole sleep leave none."""
    mmc = scenario.load("scenarios/mmc.toml")
    first = probe.probe_scenario(mmc, 0.1)
    loaded = {"overhead.record": 0.015, "overhead.handover_late": 0.02, "overhead.delivery": 0.005}
    assert probe.slot_costs(simulate(first), first) is None  # the model's own costs: a slot idle
    costs = probe.slot_costs(simulate(first.replace(**loaded)), first)
    assert costs == pytest.approx(0.035, rel=0.05)  # the record and the mean hand-over
    again = probe.probe_scenario(mmc, 0.1, costs)
    assert again.service.mean == pytest.approx(first.service.mean - costs)
    trace = simulate(again.replace(**loaded))
    assert probe.slot_costs(trace, again) is None
    assert fit_overheads(trace, again).tasks_used >= probe.MIN_TASKS // 3
    with pytest.raises(CalibrationError, match="no task finds one idle"):
        probe.probe_scenario(mmc, 0.1, first.service.mean)


def test_the_probe_sends_at_the_runs_wall_rate_spread_over_its_nodes():
    """mmc asks 3.2 tasks a scenario second: 160 a wall second at time scale 0.02, which the
    probe puts on the host too, for ``SECONDS``; at 0.5, 6.4 a second, ``MIN_TASKS`` of them;
    at 1, the probe's floor rate. Two pools' ten slots on seven nodes are one slot a node."""
    mmc = scenario.load("scenarios/mmc.toml")
    fast, slow = probe.probe_scenario(mmc, 0.02), probe.probe_scenario(mmc, 0.5)
    assert fast.arrivals.rate == pytest.approx(160) and slow.arrivals.rate == pytest.approx(6.4)
    assert fast.run.tasks == round(160 * probe.SECONDS) and slow.run.tasks == probe.MIN_TASKS
    assert probe.probe_scenario(mmc, 1.0).arrivals.rate == probe.MIN_RATE
    assert probe.expected_seconds(mmc, 0.5) == pytest.approx(BOOT + 80 / 6.4)
    # one burst of 5,000 on 8 slots of 0.25 s: the host carries what they get through, 32 a second
    burst = scenario.load("scenarios/newsletter.toml")
    assert probe.probe_scenario(burst, 0.1).arrivals.rate == pytest.approx(320)
    pools = probe.probe_scenario(scenario.load("scenarios/thumbnails_and_reports.toml"))
    assert (pools.workers.count, pools.workers.concurrency) == (7, 1)


def test_the_probe_fits_every_cost_on_a_real_node(redis_url, no_leftovers):
    """Most tasks are deliveries to an idle slot and some hand-overs in the run's ack mode; the
    fitted costs are milliseconds (neither nothing nor a polling loop's tenth of a second), and
    a scenario given them pays them in its Celery model."""
    sc = scenario.load("scenarios/mmc.toml")  # late ack, the textbook queue without costs
    costs = probe.host_costs(sc, 0.1, redis_url)
    fit = costs.fit
    assert costs.process_start is None  # no pool autoscales
    print(fit.describe())
    assert fit.handover_field == "handover_late"
    assert fit.tasks_used >= probe.MIN_TASKS // 3 and fit.handovers_used >= 10
    assert 0 < fit.handover < 0.06 and 0 < fit.delivery + fit.delivery_spread < 0.03
    assert 0 <= fit.record < 0.03
    priced = sc.replace(**costs.fields(sc))
    assert priced.overhead.model == "celery" and priced.overhead.dispatch == 0
    assert priced.overhead.handover_late == fit.handover
    assert priced.overhead.delivery == fit.delivery


def test_the_probe_fails_as_often_as_the_run_and_retries_at_once():
    flaky = scenario.load("scenarios/flaky_api.toml")  # 20 % of attempts fail, 5 retries
    p = probe.probe_scenario(flaky, 0.1)
    assert (p.failures.probability, p.retry.max_retries) == (0.2, 5)
    assert (p.retry.backoff, p.retry.countdown) == (0.0, probe.RETRY_COUNTDOWN)
    # its slots busy as the probe's share says, retried attempts included (1.25 a task)
    attempts = sum(0.2**k for k in range(6))
    share = p.service.mean * attempts * p.arrivals.rate / p.slots
    assert share == pytest.approx(probe.busy_share(p.slots))


def test_the_probe_of_a_run_retried_for_ever_retries_as_far_as_the_simulator_follows():
    """``max_retries = inf``: the probe is a live run too, whose always-failing tasks would
    never end; it bounds them as the simulator does (``retry.most_retries``)."""
    p = probe.probe_scenario(scenario.load(None).replace(**{"retry.max_retries": math.inf}), 0.1)
    assert p.retry.max_retries == retry.FOLLOWED


def test_only_an_autoscaled_pool_gets_a_fork_probe_of_its_max_from_one_process():
    assert probe.fork_probe(scenario.load("scenarios/mmc.toml")) is None
    burst = scenario.load("scenarios/autoscale_burst.toml")  # --autoscale 8,1
    forking = probe.fork_probe(burst)
    w = forking.workers
    assert (w.count, w.autoscale_max, w.autoscale_min) == (1, 8, 1)
    assert forking.arrivals.burst_size == forking.run.tasks == 8


def test_the_fork_probe_times_a_pool_process_start_on_a_real_node(redis_url, no_leftovers):
    """Measured 0.07-0.12 s a fork on a quiet host, 0.3-0.5 s on a busy one: a tenth of that to
    twice it; the autoscaled pool of a scenario given the costs starts its processes so."""
    sc = scenario.load("scenarios/autoscale_burst.toml")
    costs = probe.host_costs(sc, 0.5, redis_url)
    print(costs.describe())
    assert 0.007 < costs.process_start < 1.0
    priced = sc.replace(**costs.fields(sc))
    assert priced.workers.process_start == costs.process_start


def test_redis_lost_mid_probe_is_said_as_such(no_leftovers):
    """Redis killed while the probe's tasks run: ``RedisUnavailable`` naming the probe, which the
    CLI prints as one line (compare printed a traceback) and the app shows as its message."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        pid = client.info("server")["process_id"]

        def kill_once_running() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not any(
                client.llen(key) > 5 for key in client.keys("queuelab:*:events")
            ):
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_once_running)
        killer.start()
        with pytest.raises(RedisUnavailable, match="lost Redis while measuring this host's"):
            probe.host_costs(scenario.load("scenarios/mmc.toml"), 0.1, url)
        killer.join()


def test_the_probe_is_not_announced_for_queuelab_worker_to_join(redis_url, no_leftovers):
    """A `queuelab worker` waiting for compare's run joined its probe instead: its node was
    measured as one of the probe's, and it left when the probe ended, before the run it was
    started for."""
    from live.run import CURRENT

    client = redis.Redis.from_url(redis_url)
    seen, done = [], threading.Event()

    def watch() -> None:
        while not done.wait(0.02):
            seen.append(client.get(CURRENT))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        probe.host_costs(scenario.load("scenarios/mmc.toml"), 0.1, redis_url)
    finally:
        done.set()
        watcher.join()
    assert len(seen) > 50 and not any(seen)
