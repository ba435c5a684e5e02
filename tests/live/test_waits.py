"""The waits a live run takes at its time scale: the scenario's own, not every field's most."""

import threading

from live import waits
from sim import scenario
from sim.engine.draws import Draws

MMC = scenario.load("scenarios/mmc.toml")


def largest(sc):
    return waits.largest_scale(sc, Draws(sc))


def test_an_ordinary_scenario_takes_any_sensible_time_scale():
    """mmc's longest wait is a drawn service of ~11 s: a time scale of 8.6e8 before a sleep
    passes threading.TIMEOUT_MAX, where the parser's bound from a field's most held it to 9."""
    most, wait = largest(MMC)
    assert most > 1e8 and wait.what == "the longest time drawn from service"
    assert most == threading.TIMEOUT_MAX / wait.seconds
    assert waits.scale_error(MMC, Draws(MMC), 1000) is None


def test_a_countdown_is_bound_by_celerys_eta_and_named_with_the_largest_scale():
    sc = MMC.replace(**{"retry.countdown": 1e9, "failures.probability": 0.5})
    most, wait = largest(sc)
    assert wait.what == "retry.countdown" and wait.bound == waits.ETA
    assert 240 < most < 260  # datetime's year 9999, some 2.5e11 s from now
    said = waits.scale_error(sc, Draws(sc), 300)
    assert said.startswith("time scale 300 makes retry.countdown = 1e+09 s a wait of 3e+11 ")
    assert said.endswith(f"at most {waits._down(most):g}")
    assert waits.scale_error(sc, Draws(sc), waits._down(most)) is None


def test_a_countdown_that_is_never_waited_does_not_bound_it():
    """mmc fails no task: its retry.countdown of 1e9 s is never an ETA."""
    assert largest(MMC.replace(**{"retry.countdown": 1e9})) == largest(MMC)


def test_a_backoff_cap_a_node_restart_and_a_keepalive_are_named_by_their_fields():
    backoff = MMC.replace(
        **{"failures.probability": 0.5, "retry.backoff": 1e9, "retry.backoff_max": 1e9}
    )
    assert largest(backoff)[1].what == "retry.backoff_max"
    crashes = MMC.replace(**{"failures.crash_probability": 0.1, "workers.restart_delay": 1e9})
    most, wait = largest(crashes)
    assert (wait.what, wait.bound) == ("workers.restart_delay", waits.THREAD)
    assert most == threading.TIMEOUT_MAX / 1e9
    child = crashes.replace(**{"failures.crash_kind": "child"})  # the node lives: no restart
    assert largest(child)[1].what != "workers.restart_delay"
    pools = scenario.load("scenarios/autoscale_burst.toml")
    slow = pools.replace(**{"workers.autoscale_keepalive": 1e9})
    assert largest(slow)[1].what == "workers.autoscale_keepalive"


def test_time_limits_and_the_visibility_timeout_are_no_waits():
    """kombu's timer holds a time limit (its hub polls at most 10 s), and the restore scan
    compares time() - visibility_timeout: neither is a wait that overflows."""
    typed = scenario.loads(
        '[[tasks]]\nname = "a"\ntime_limit = 1e9\nsoft_time_limit = 5e8\n[ack]\n'
        "visibility_timeout = 1e9\n"
    )
    assert {w.what for w in waits.waits(typed, Draws(typed))} == {
        "results.expires",
        "the longest gap between arrivals",
        "the longest time drawn from tasks.a.service",
        "tasks.a.retry.countdown",  # a soft limit's task retries: 180 s, an ETA
    }


def test_a_result_expiry_is_bound_by_redis():
    sc = MMC.replace(**{"results.expires": 1e9})
    expires = next(w for w in waits.waits(sc, Draws(sc)) if w.what == "results.expires")
    assert expires.bound == waits.EXPIRE and waits.limits()[waits.EXPIRE] > 9e15


def test_the_largest_scale_said_is_rounded_down_so_it_runs():
    assert waits._down(9.223372036) == 9.22
    assert waits._down(251.6) == 251
    assert waits._down(0.0920565) == 0.092
