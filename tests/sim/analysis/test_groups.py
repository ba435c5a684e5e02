import numpy as np
import pytest

from sim.analysis import groups
from sim.analysis.groups import step_peak
from sim.analysis.metrics import step_counts


@pytest.mark.parametrize("seed", range(20))
def test_the_step_peak_is_the_highest_level_of_the_step_counts(seed, monkeypatch):
    """Times on a coarse grid, so rises and falls tie often; falls before any rise too; in
    blocks of 7 steps, so a peak can sit in any block."""
    monkeypatch.setattr(groups, "_BLOCK", 7)
    rng = np.random.default_rng(seed)
    up = rng.integers(0, 30, rng.integers(0, 60)).astype(float)
    down = rng.integers(0, 30, rng.integers(0, 60)).astype(float)
    _, level = step_counts(up, down)
    assert step_peak(np.sort(up), np.sort(down)) == (float(level.max()) if len(level) else 0.0)


def test_a_fall_at_the_time_of_a_rise_comes_first():
    assert step_peak(np.array([1.0, 2.0]), np.array([2.0])) == 1.0
    assert step_peak(np.array([]), np.array([1.0])) == -1.0
    assert step_peak(np.array([]), np.array([])) == 0.0


# emails served as they come beside reports whose pool is overloaded
BESIDE_A_BACKLOG = """[run]
tasks = 8000
[arrivals]
rate = 8.0
[[tasks]]
name = "email"
share = 0.875
queue = "mail"
[tasks.service]
mean = 0.2
[[tasks]]
name = "report"
queue = "reports"
[tasks.service]
dist = "constant"
mean = 2.0
[[pools]]
name = "mailers"
queues = ["mail"]
count = 2
concurrency = 4
[[pools]]
name = "reporters"
queues = ["reports"]
count = 1
concurrency = 1
"""


def test_a_types_throughput_is_over_its_own_time_not_another_types_backlog():
    """Emails served as they come (7 a second, 2 nodes of 4) beside reports whose pool is
    overloaded (1 a second of 2 s work on one slot): the run lasts until the reports' backlog
    drains, about twice the arrivals' span; the emails' throughput is still 7 a second, as
    they ended, not 7 over the whole run's length (about 3.5)."""
    from sim import scenario
    from sim.analysis import runs
    from sim.engine.model import simulate

    sc = scenario.loads(BESIDE_A_BACKLOG)
    s = runs.summarize(simulate(sc), sc)
    arrivals_span = sc.run.tasks / sc.arrivals.rate
    assert s.makespan > 1.8 * arrivals_span  # the reports' backlog outlasts the arrivals
    emails = s.by_task["email"]
    assert emails["throughput"] == pytest.approx(7.0, rel=0.03)  # Poisson count: ~1.2 % sd
    assert s.by_task["report"]["throughput"] == pytest.approx(0.5, rel=0.01)  # its one slot
    assert s.by_queue["mail"]["throughput"] == emails["throughput"]


def test_a_queue_s_length_and_a_pool_s_utilisation_are_over_its_own_time_as_its_throughput():
    """Little's law per queue (L = λW) and ρ = λS/c per pool, with the throughput λ over the
    group's own time: the emails' queue length and their pool's utilisation were over the
    whole run, until the reports' backlog drained, and read about half of λW and of λS/c
    (a thumbnails pool of ρ 0.54 read 0.31)."""
    from sim import scenario
    from sim.analysis import runs
    from sim.analysis.metrics import execution_spans
    from sim.engine.model import simulate

    sc = scenario.loads(BESIDE_A_BACKLOG)
    trace = simulate(sc)
    s = runs.summarize(trace, sc)
    mail = s.by_queue["mail"]
    assert mail["queue_len_mean"] == pytest.approx(mail["throughput"] * mail["wait_mean"])
    spans = execution_spans(trace)
    mailers = np.isin(spans["worker"], [trace.workers.index(n) for n in ("mailers-1", "mailers-2")])
    busy = float((spans["end"][mailers] - spans["start"][mailers]).sum())
    served = mail["tasks"] / mail["throughput"]  # the emails' own time
    assert s.by_pool["mailers"]["utilization"] == pytest.approx(busy / 8 / served)
