"""Timers fire when and in the order SimPy's own timeouts made at the same moments would."""

import pytest
import simpy

from sim.engine.timer import scheduler


def test_timers_interleave_with_timeouts_as_timeouts_would():
    env = simpy.Environment()
    after = scheduler(env)
    fired: list[tuple[float, str]] = []

    def note(event) -> None:
        fired.append((env.now, event.value))

    # ties at t = 1 and t = 2 are broken by creation order, whichever kind made them
    after(1.0, "timer a", (note,))
    env.timeout(1.0, "timeout b").callbacks.append(note)
    after(2.0, "timer c", (note,))
    after(1.0, "timer d", (note,))
    env.timeout(0.5, "timeout e").callbacks.append(note)
    env.timeout(2.0, "timeout f").callbacks.append(note)

    def later(_event) -> None:  # a timer made from a callback counts from then
        after(0.5, "timer g", (note,))
        env.timeout(0.5, "timeout h").callbacks.append(note)

    after(1.5, None, (later,))
    env.run()
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


def test_a_negative_delay_is_refused_as_simpy_refuses_it():
    after = scheduler(simpy.Environment())
    with pytest.raises(ValueError, match="Negative delay"):
        after(-1.0, None, (print,))
