"""How queuelab writes counts and times for a person, in the CLI, the app and its errors alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.scenario import Scenario


def counted(n: int, noun: str) -> str:
    """A count with its noun, singular for one: "1 worker", "4 workers"."""
    return f"{n} {noun}{'s' * (n != 1)}"


def workers_said(scenario: Scenario) -> str:
    """A scenario's worker nodes for a person: "4 workers", or each pool's, "fast 4 + slow 3
    workers" ([workers].count reaches no [[pools]] pool, so it says nothing there)."""
    if not scenario.pools:
        return counted(scenario.workers.count, "worker")
    return " + ".join(f"{p.name} {p.workers.count}" for p in scenario.pools) + " workers"


SECONDS_SHOWN = 0.001  # the least time said as a figure: below a millisecond is "< 0.001 s"


def seconds(value: float) -> str:
    """A time in seconds to three significant figures, as the app shows its times; one under a
    millisecond as "< 0.001 s", where ``.3g`` would print an analytic wait at low load as
    "5.03e-78 s", a precision no queue has; one of 1,000 s or more whole ("3,730 s", not
    "3.73e+03 s")."""
    if 0 < value < SECONDS_SHOWN:
        return f"< {SECONDS_SHOWN:g} s"
    return f"{value:,.0f} s" if value >= 1000 else f"{value:.3g} s"


def sentence(clause: str) -> str:
    """A clause the CLI writes after "queuelab: " (lower case, no full stop) as a sentence of a
    page: capitalised, with its full stop."""
    return clause[0].upper() + clause[1:] + "."
