"""Timers fire when and in the order SimPy's own timeouts made at the same moments would, and
``timer.run`` runs SimPy's events among them as ``env.run`` would."""

import pytest
import simpy

from sim.engine.timer import clock, run, scheduler


def test_timers_interleave_with_timeouts_as_timeouts_would():
    env = simpy.Environment()
    after = scheduler(env)
    fired: list[tuple[float, str]] = []

    def note(value) -> None:  # a timer's callback is called with its value
        fired.append((env.now, value))

    def noted(event) -> None:  # a SimPy event's with the event
        note(event.value)

    # ties at t = 1 and t = 2 are broken by creation order, whichever kind made them
    after(1.0, "timer a", note)
    env.timeout(1.0, "timeout b").callbacks.append(noted)
    after(2.0, "timer c", note)
    after(1.0, "timer d", note)
    env.timeout(0.5, "timeout e").callbacks.append(noted)
    env.timeout(2.0, "timeout f").callbacks.append(noted)

    def later(_value) -> None:  # a timer made from a callback counts from then
        after(0.5, "timer g", note)
        env.timeout(0.5, "timeout h").callbacks.append(noted)

    after(1.5, None, later)
    run(env)
    assert fired == [
        (0.5, "timeout e"),
        (1.0, "timer a"),
        (1.0, "timeout b"),
        (1.0, "timer d"),
        (2.0, "timer c"),
        (2.0, "timeout f"),
        (2.0, "timer g"),
        (2.0, "timeout h"),
    ]


def test_the_hot_path_clock_reads_simpy_s_in_every_callback_and_timer():
    """``clock(env).now`` is ``env.now`` in a timer's callback, a SimPy event's and a process's,
    and timers made from any of them count from it."""
    env = simpy.Environment()
    after, now = scheduler(env), clock(env)
    seen: list[tuple[float, float]] = []

    def note(_value) -> None:
        seen.append((env.now, now.now))

    def process():
        yield env.timeout(0.75)
        note(None)
        after(0.5, None, note)  # at 1.25

    env.timeout(0.5).callbacks.append(lambda _: (note(None), after(0.25, None, note)))
    after(1.0, None, note)
    env.process(process())
    run(env, until=2.0)
    assert seen == [(t, t) for t in (0.5, 0.75, 0.75, 1.0, 1.25)]
    assert now.now == env.now == 2.0


def test_a_negative_delay_is_refused_as_simpy_refuses_it():
    after = scheduler(simpy.Environment())
    with pytest.raises(ValueError, match="Negative delay"):
        after(-1.0, None, print)


def test_a_failed_event_stops_the_run_as_env_run_would():
    """A process that raises (the broker's restorer on a runaway) ends ``run`` with its error."""
    env = simpy.Environment()
    after = scheduler(env)
    fired: list[float] = []

    def fails():
        yield env.timeout(2.0)
        raise ArithmeticError("in the process")

    env.process(fails())
    after(1.0, None, lambda _: fired.append(env.now))
    after(3.0, None, lambda _: fired.append(env.now))
    with pytest.raises(ArithmeticError, match="in the process"):
        run(env)
    assert fired == [1.0]  # the timer after the failure never fired


def test_a_run_until_a_time_stops_before_what_is_due_then_as_env_run_does():
    env = simpy.Environment()
    after = scheduler(env)
    fired: list[tuple[float, str]] = []
    after(1.0, "timer", lambda value: fired.append((env.now, value)))
    env.timeout(2.0, "timeout").callbacks.append(lambda e: fired.append((env.now, e.value)))
    after(2.0, "due at the stop", lambda value: fired.append((env.now, value)))
    run(env, until=2.0)
    assert fired == [(1.0, "timer")] and env.now == 2.0
    run(env)
    assert fired[1:] == [(2.0, "timeout"), (2.0, "due at the stop")]
