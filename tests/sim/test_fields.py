"""A declared field: its range in words, and the check of one value against it."""

import re

import pytest

from sim.fields import Field, ScenarioError
from sim.rules.outage import Outage


def field(type_, **kw) -> Field:
    return Field(kw.pop("default", 0), "a test field", key="x.y", type=type_, **kw)


def test_the_range_in_words_shows_integers_exactly_and_numbers_briefly():
    assert (
        field(int, min=0, max=2**63 - 1).allowed() == "an integer >= 0 and <= 9223372036854775807"
    )
    assert field(float, above=0, max=1e9).allowed() == "a number > 0 and <= 1e+09"
    assert field(tuple[float, ...], above=0, max=5).allowed() == "a list of numbers > 0 and <= 5"
    assert field(str, choices=("a", "b")).allowed() == "one of 'a', 'b'"
    assert field(bool).allowed() == "true or false"


@pytest.mark.parametrize(
    ("type_", "value", "why"),
    [
        (int, True, "is not an integer"),  # Python counts a bool as an int; a scenario does not
        (int, 2.0, "is not an integer"),
        (float, "1", "is not a number in TOML: write 1.0"),  # --set x.y='"1"', a string
        (float, ".5", "is not a number in TOML: write 0.5"),  # Python reads it; TOML does not
        (float, "abc", "is not a number"),
        (int, "4.", "is not an integer in TOML: write 4"),
        (int, "4.5", "is not an integer"),
        (float, float("inf"), "is not finite"),
        (float, 10**400, "is out of range"),
        (bool, 1, "is not a boolean"),
        (str, 1, 'is a number, not a string: write it in quotes, "1"'),
        (str, [1], "is not a string"),
    ],
)
def test_a_value_of_the_wrong_kind_is_named_with_the_range(type_, value, why):
    with pytest.raises(ScenarioError, match=f"^x.y = .* {re.escape(why)}: must be "):
        field(type_).coerce(value)


def test_bounds_are_inclusive_with_min_and_max_and_exclusive_with_above():
    f = field(float, above=0, max=1)
    assert f.coerce(1) == 1.0 and type(f.coerce(1)) is float
    for bad in (0, 1.0000001):
        with pytest.raises(ScenarioError, match="out of range"):
            f.coerce(bad)
    assert field(int, min=0).coerce(0) == 0


def test_a_list_field_checks_each_number_against_the_range():
    f = field(tuple[float, ...], above=0, max=5)
    assert f.coerce([1, 2.5]) == (1.0, 2.5)
    for bad in ([1, 0], [6], [True], 3):
        with pytest.raises(ScenarioError, match=r"must be a list of numbers > 0 and <= 5"):
            f.coerce(bad)


def test_outages_come_back_sorted_by_start():
    f = field(tuple[Outage, ...])
    got = f.coerce([{"start": 5, "end": 6, "probability": 1}, Outage(0.0, 1.0, 0.5)])
    assert got == (Outage(0.0, 1.0, 0.5), Outage(5.0, 6.0, 1.0))


def test_a_toml_date_or_time_is_said_as_the_file_wrote_it():
    """``seed = 2024-01-01`` was said as ``datetime.date(2024, 1, 1)``, Python's words."""
    from sim import scenario

    cases = [
        ("seed = 2024-01-01\n", "seed = 2024-01-01 is not an integer"),
        ("[service]\nmean = 07:32:00\n", "service.mean = 07:32:00 is not a number"),
        ("[service]\nvalues = [1.0, 1979-05-27T07:32:00]\n", "[1.0, 1979-05-27T07:32:00]:"),
    ]
    for text, said in cases:
        with pytest.raises(ScenarioError, match=re.escape(said)):
            scenario.loads(text)


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (["workers.count=true"], "workers.count = true is not an integer: must be an integer"),
        (["service.mean=false"], "service.mean = false is not a number: must be a number"),
        (["arrivals.rates=[1, true]"], "arrivals.rates = [1, true]: must be a list of numbers"),
        (
            ["failures.outage=[{start = true, end = 2, probability = 1}]"],
            "failures.outage[0] = {start = true, end = 2, probability = 1}: start, end and",
        ),
        (["name=true"], 'name = true is a boolean, not a string: write it in quotes, "true"'),
        # quoted, a choice's word is no choice either: no advice to quote it
        (["arrivals.process=false"], "arrivals.process = false is not a string: must be one of"),
        (["arrivals.process=5"], "arrivals.process = 5 is not a string: must be one of"),
    ],
)
def test_a_value_is_said_as_toml_spells_it_not_as_python_does(overrides, said):
    """``--set workers.count=true`` was said as ``workers.count = True``, Python's spelling of
    what the user typed, and an outage table as ``{'start': True, …}``."""
    from sim import scenario

    with pytest.raises(ScenarioError) as err:
        scenario.load(None, overrides)
    assert str(err.value).startswith(said), err.value
