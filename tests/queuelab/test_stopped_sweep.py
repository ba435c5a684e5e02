"""A sweep stopped midway (Ctrl-C, SIGTERM) keeps the worker counts whose replications all
finished, and ``simulate --reps`` the replications that finished: the user waited for them. A
real CLI subprocess, stopped once its progress bar shows finished runs."""

import json
import os
import signal
from dataclasses import asdict

import pytest

from sim import scenario
from sim.analysis import runs, sweep
from tests.queuelab.helpers import stopped_after

MMC = "scenarios/mmc.toml"
# about a second a replication on a quiet host (40,000 took 0.2 s: a faster host could end the
# sweep before its bar, first drawn after a second, showed three)
TASKS = 200_000
WORKERS = [4, 5, 6, 8]


def full_points(workers: list[int], reps: int) -> dict[int, dict]:
    """What a whole sweep answers at ``workers``, serially in this process."""
    sc = scenario.load(MMC, [f"run.tasks={TASKS}"])
    return {p.workers: p.to_dict() for p in sweep.sweep(sc, workers, reps=reps, processes=1)}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_sweep_prints_the_worker_counts_that_finished(sig, no_leftovers):
    """Stopped after 3 of its 8 runs, two of them of one count (both processes start on the first
    count's two, so three finished runs hold a whole count); its last count's runs had not
    started. A terminal's Ctrl-C reaches the pool's processes too: the sweep's alone decides."""
    code, out, err = stopped_after(
        ["sweep", MMC, "--workers", ",".join(map(str, WORKERS)), "--reps", "2", "--json"]
        + ["--set", f"run.tasks={TASKS}"],
        done=3,
        stop=lambda proc: os.killpg(proc.pid, sig),
    )
    assert code == 130, err
    data = json.loads(out)
    shown = [p["workers"] for p in data["points"]]
    assert shown and shown == sorted(shown) and WORKERS[-1] not in shown
    assert data["missing"] == [w for w in WORKERS if w not in shown]
    full = full_points(shown, 2)
    assert data["points"] == [full[w] for w in shown]  # same seeds, same numbers
    said = f"kept the {len(shown)} of 4 worker counts whose replications all finished"
    assert f"queuelab: interrupted: stopped the sweep; {said}" in err
    assert "Traceback" not in err


def test_a_stopped_sweeps_table_says_which_counts_are_missing(no_leftovers):
    code, out, err = stopped_after(
        ["sweep", MMC, "--workers", "4,5,6,8", "--reps", "2", "--set", f"run.tasks={TASKS}"],
        done=3,
        stop=lambda proc: os.killpg(proc.pid, signal.SIGINT),
    )
    assert code == 130, err
    lines = out.splitlines()
    assert lines[0].split()[0] == "workers"
    shown = [int(line.split()[0]) for line in lines[1:-1]]
    assert shown and 8 not in shown
    missing = ",".join(str(w) for w in WORKERS if w not in shown)
    assert lines[-1] == f"partial: no figures for --workers {missing}"


REPS = 6
# about 1 s a replication on a quiet host (more loaded): the progress bar, drawn after 1 s, shows
# the second finished while most still run (at 40,000 tasks all six ended before it was drawn)
REP_TASKS = 200000


def stopped_replications(sig: int, *options: str) -> tuple[int, str, str]:
    """``simulate --reps 6`` stopped once two of its runs finished: the others had not."""
    return stopped_after(
        ["simulate", MMC, "--reps", str(REPS), "--set", f"run.tasks={REP_TASKS}", *options],
        done=2,
        stop=lambda proc: os.killpg(proc.pid, sig),
    )


def test_stopped_replications_give_the_figures_of_those_that_finished(no_leftovers):
    code, out, err = stopped_replications(signal.SIGINT, "--json")
    assert code == 130, err
    data = json.loads(out)
    seeds = [s for s in range(1, REPS + 1) if s not in data["missing"]]
    assert 2 <= len(seeds) < REPS and data["reps"] == len(seeds)
    sc = scenario.load(MMC, [f"run.tasks={REP_TASKS}"])
    whole = sweep.replicated([runs.simulated(sc, seed=s) for s in seeds])  # same seeds, alone
    assert data["figures"] == {k: asdict(e) for k, e in whole.items()}
    said = f"kept the {len(seeds)} of {REPS} replications that finished (seeds {data['seeds']})"
    assert f"queuelab: interrupted: stopped the replications; {said}" in err
    assert "the means and intervals are over those alone" in err
    assert "Traceback" not in err


def test_stopped_replications_say_the_intervals_are_over_those_alone(no_leftovers):
    code, out, err = stopped_replications(signal.SIGTERM)
    assert code == 130, err
    rows = dict(line.split(maxsplit=1) for line in out.splitlines()[:-1])
    kept = int(rows["reps"])
    assert 2 <= kept < REPS
    assert out.splitlines()[-1].startswith(
        f"partial: {kept} of {REPS} replications: the intervals are over seeds {rows['seeds']} "
        "alone (no figures from seeds "
    )
