"""The Explore page's sweep plan: what a worker-slider move reuses and what it reruns."""

from sim import scenario
from ui.explore import SWEEP_TASKS, sweep_plan, worker_range

MMC = scenario.load("scenarios/mmc.toml")  # 4 workers: the sweep spans 4..8


def test_a_worker_slider_move_within_the_range_reuses_the_sweep():
    own = MMC.workers.count
    plans = {
        scenario.dumps(swept) + repr(counts)
        for count in worker_range(MMC)
        for swept, counts in [sweep_plan(MMC.replace(**{"workers.count": count}), own)]
    }
    assert len(plans) == 1  # one cache key for every count the sweep already covers


def test_a_count_beyond_the_range_or_another_rate_sweeps_again():
    own = MMC.workers.count
    _, counts = sweep_plan(MMC, own)
    _, beyond = sweep_plan(MMC.replace(**{"workers.count": counts[-1] + 5}), own)
    assert counts[-1] + 5 in beyond and beyond != counts
    busier = MMC.replace(**{"arrivals.rate": 2 * MMC.arrivals.rate})
    assert scenario.dumps(sweep_plan(busier, own)[0]) != scenario.dumps(sweep_plan(MMC, own)[0])


def test_the_sweep_runs_a_bounded_number_of_tasks():
    big = MMC.replace(**{"run.tasks": 10 * SWEEP_TASKS})
    assert sweep_plan(big, big.workers.count)[0].run.tasks == SWEEP_TASKS
