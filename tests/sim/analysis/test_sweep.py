import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sim.analysis import analytic, sweep
from tests.conftest import stoppable
from tests.sim.helpers import make

MMC = make(
    **{
        "arrivals.rate": 3.2,
        "workers.prefetch_multiplier": 1,
        "ack.late": True,
        "run.tasks": 20000,
        "overhead.model": "none",
    }
)


def test_estimate_has_a_student_t_interval():
    e = sweep.estimate([1.0, 2.0, 3.0])
    assert e.mean == 2.0
    # t(0.975, 2) = 4.303, s = 1, n = 3
    assert e.high - e.mean == pytest.approx(4.303 / 3**0.5, rel=1e-3)
    assert sweep.estimate([5.0]) == sweep.Estimate(5.0, None, None)


def test_estimate_says_where_one_more_run_lands():
    e = sweep.estimate([1.0, 2.0, 3.0])
    # t(0.975, 2) · s · √(1 + 1/3), s = 1
    assert e.run_high - e.mean == pytest.approx(4.303 * (4 / 3) ** 0.5, rel=1e-3)
    assert e.mean - e.run_low == pytest.approx(e.run_high - e.mean)
    assert sweep.estimate([0.0, 0.0, 3.0], (0.0, math.inf)).run_low == 0.0  # clipped too
    # over 4,000 trials of 5 normal replications and a 6th run (seed 7): the prediction
    # interval holds the 6th 95 % of the time (binomial sd 0.34 %; ±1.5 % is 4.4 sd), the
    # mean's interval only ~75 %, which is why one real run is compared with the former
    rng = np.random.default_rng(7)
    trials = [(sweep.estimate(list(x[:5])), x[5]) for x in rng.normal(size=(4000, 6))]
    held = np.mean([e.run_low <= run <= e.run_high for e, run in trials])
    assert held == pytest.approx(0.95, abs=0.015)
    assert np.mean([e.low <= run <= e.high for e, run in trials]) < 0.85


def test_estimate_clips_the_interval_to_the_figures_range():
    # mean 1, half-width t(0.975, 2)·s/√3 = 4.303: [-3.3, 5.3] unclipped
    assert sweep.estimate([0.0, 0.0, 3.0], (0.0, math.inf)).low == 0.0
    e = sweep.estimate([0.2, 0.9, 1.0], (0.0, 1.0))  # [-0.38, 1.78] unclipped
    assert (e.low, e.high) == (0.0, 1.0)
    assert e.mean == pytest.approx(0.7)


def test_a_short_sweep_near_saturation_reports_only_possible_values():
    # two replications of 200 tasks: wide intervals around a small wait and a utilisation near 1
    near = make(**{"arrivals.rate": 3.2, "run.tasks": 200, "overhead.model": "none"})
    points = sweep.sweep(near, [2, 3], reps=2, processes=1)
    for p in points:
        for figure, (low, high) in sweep.FIGURES.items():
            e = getattr(p, figure)
            assert low <= e.low <= e.mean <= e.high <= high, (p.workers, figure, e)
    assert points[1].wait_mean.low == 0.0 and points[1].utilization.high == 1.0


def test_sweep_in_processes_matches_a_serial_sweep_and_erlang_c():
    serial = sweep.sweep(MMC, [4, 8], reps=3, processes=1)
    parallel = sweep.sweep(MMC, [4, 8], reps=3, processes=2)
    assert serial == parallel
    at4 = serial[0]
    assert at4.wait_mean.low < analytic.mmc_wait(3.2, 1.0, 4) * 1.1
    assert at4.wait_mean.high > analytic.mmc_wait(3.2, 1.0, 4) * 0.9
    assert serial[1].wait_mean.mean < at4.wait_mean.mean  # more workers, less waiting
    assert serial[1].utilization.mean == pytest.approx(0.4, rel=0.05)


def test_common_random_numbers_make_more_workers_never_slower():
    points = sweep.sweep(MMC, [4, 5, 6], reps=2, processes=1)
    waits = [p.wait_mean.mean for p in points]
    assert waits == sorted(waits, reverse=True)


def test_any_field_sweeps_on_common_random_numbers():
    base = make(**{"run.tasks": 500, "workers.count": 4})
    runs = sweep.sweep_field(base, "arrivals.rate", [1.0, 3.0], reps=2, processes=1)
    assert [len(r) for r in runs] == [2, 2]
    assert [s.seed for s in runs[0]] == [base.seed, base.seed + 1]
    assert runs[1][0].utilization > runs[0][0].utilization  # three times the load
    by_workers = sweep.sweep(base, [2, 4], reps=2, processes=1)
    again = sweep.sweep_field(base, "workers.count", [2, 4], reps=2, processes=1)
    assert by_workers[0].wait_mean.mean == sum(s.wait_mean for s in again[0]) / 2


def test_a_capped_run_keeps_its_warmup_as_the_same_share_of_it():
    """Explore sweeps at most 5,000 tasks: a warm-up of 550 s kept whole before 6,000 tasks at
    10 a second was past the capped arrivals' 500 s, and the page raised ScenarioError."""
    sc = make(**{"run.tasks": 6000, "arrivals.rate": 10.0, "run.warmup": 550.0})
    capped = sweep.capped(sc, 5000)
    assert (capped.run.tasks, capped.run.warmup) == (5000, pytest.approx(550.0 * 5000 / 6000))
    assert sweep.capped(sc, 6000) == sc
    by_duration = make(**{"run.duration": 600.0, "arrivals.rate": 10.0, "run.warmup": 550.0})
    assert sweep.capped(by_duration, 5000) == by_duration  # a run by duration is swept whole


# run as the main module: a sweep whose processes, importing it again as theirs, wait there
STARTING = """
import os, signal, time
from pathlib import Path

if __name__ == "__mp_main__":  # a sweep process, still starting: it never goes on
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as a started one does (_parent_stops)
    (Path(os.environ["MARKS"]) / str(os.getpid())).touch()
    while True:
        time.sleep(0.01)
if __name__ == "__main__":
    from sim.analysis import sweep
    from sim.scenario import Scenario

    try:
        sweep.replications(Scenario().replace(**{"run.tasks": 100}), 2, processes=2)
    except sweep.Stopped:
        print("stopped")
"""


def test_a_ctrl_c_while_the_sweeps_processes_start_is_the_sweeps_alone(tmp_path, no_leftovers):
    """A terminal's Ctrl-C reaches the whole group: processes still importing raised it there
    and died printing tracebacks; and the sweep ended its processes by SIGTERM, which they
    ignore once started, so its exit waited on them (for good, here, where they never go on:
    with a second Ctrl-C, a replication that ran on after the sweep had stopped)."""
    (tmp_path / "starting.py").write_text(STARTING)
    marks = tmp_path / "marks"
    marks.mkdir()
    root = str(Path(__file__).resolve().parents[3])
    proc = subprocess.Popen(
        stoppable([sys.executable, str(tmp_path / "starting.py")]),
        env={**os.environ, "PYTHONPATH": root, "MARKS": str(marks)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        while not any(marks.iterdir()):  # a process is importing its parent's main module
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert (out, err) == ("stopped\n", "")


# a sweep whose Ctrl-C comes while it starts a process, between its spawn and the write of its
# instructions, and is taken by a thread that was running before (numpy's OpenBLAS pool, here
# one of its own): the kernel gives a signal to a thread that does not block it
BETWEEN = """
import os, signal, threading
from multiprocessing import popen_spawn_posix

if __name__ == "__main__":
    from sim.analysis import sweep
    from sim.scenario import Scenario

    threading.Thread(target=threading.Event().wait, daemon=True).start()
    spawned = popen_spawn_posix.util.spawnv_passfds
    caught, wakeup = os.pipe()
    os.set_blocking(wakeup, False)
    signal.set_wakeup_fd(wakeup)  # Python's handler writes here once a thread has caught one

    def spawn_then_ctrl_c(path, args, passfds):
        pid = spawned(path, args, passfds)
        if "--multiprocessing-fork" in args:  # a sweep process's, not Python's resource tracker
            os.kill(os.getpid(), signal.SIGINT)
            os.read(caught, 1)
        return pid

    popen_spawn_posix.util.spawnv_passfds = spawn_then_ctrl_c
    try:
        sweep.replications(Scenario().replace(**{"run.tasks": 100}), 2, processes=2)
    except sweep.Stopped:
        print("stopped")
"""


def test_a_ctrl_c_that_another_thread_takes_while_a_process_starts_stops_the_sweep_alone(
    tmp_path, no_leftovers
):
    """The sweep blocks the stopping signals while it starts its processes, but a block holds
    them in its own thread only: one that another thread took was raised in the middle of a
    process's start, which then found its instructions' pipe empty and printed ``EOFError: Ran
    out of input`` under "stopped"."""
    (tmp_path / "between.py").write_text(BETWEEN)
    root = str(Path(__file__).resolve().parents[3])
    done = subprocess.run(
        stoppable([sys.executable, str(tmp_path / "between.py")]),
        env={**os.environ, "PYTHONPATH": root},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.stdout, done.stderr) == ("stopped\n", "")
