import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import scenario
from sim.scenario import FIELD_BY_KEY, SECTIONS, ScenarioError


def write(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_one_line_is_a_scenario(tmp_path):
    sc = scenario.load(write(tmp_path, "[workers]\ncount = 4\n"))
    assert sc.workers.count == 4
    assert sc.retry.max_retries == 3 and sc.retry.countdown == 180.0  # Celery's defaults
    assert sc.workers.prefetch_multiplier == 4 and sc.ack.visibility_timeout == 3600.0


def test_every_section_field_is_declared_once_in_the_table():
    declared = {
        f"{name}.{f.name}" for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)
    }
    assert declared | {"name", "description", "seed"} == set(FIELD_BY_KEY)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[workers]\ncount = 0\n", ["workers.count", "0", ">= 1"]),
        ("[arrivals]\nrate = -1.0\n", ["arrivals.rate", "-1.0", "> 0"]),
        ("[failures]\nprobability = 1.5\n", ["failures.probability", "1.5", "<= 1"]),
        ("[workers]\ncount = 2.5\n", ["workers.count", "2.5", "integer"]),
        ('[service]\ndist = "weibull"\n', ["service.dist", "weibull", "exponential"]),
        ("[ack]\nlate = 1\n", ["ack.late", "true or false"]),
        ("[workers]\ncuont = 3\n", ["workers.cuont", "workers.count"]),
        ("[run]\ntasks = 5\nduration = 10.0\n", ["run.tasks", "run.duration"]),
        ('[service]\ndist = "uniform"\nlow = 2.0\nhigh = 1.0\n', ["service.low", "service.high"]),
        ('[service]\ndist = "empirical"\n', ["service.file", "service.values"]),
        ("[workers\ncount = 3\n", ["malformed TOML"]),
    ],
)
def test_bad_input_names_the_field_and_the_range(tmp_path, text, names):
    with pytest.raises(ScenarioError) as err:
        scenario.load(write(tmp_path, text))
    for name in names:
        assert name in str(err.value)


def test_missing_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="does not exist"):
        scenario.load(tmp_path / "nope.toml")


def test_overrides_are_toml_values_and_bare_words():
    sc = scenario.load(None, ["workers.count=8", "ack.late=true", "arrivals.process=constant"])
    assert (sc.workers.count, sc.ack.late, sc.arrivals.process) == (8, True, "constant")
    with pytest.raises(ScenarioError, match="KEY=VALUE"):
        scenario.load(None, ["workers.count"])
    with pytest.raises(ScenarioError, match="unknown field"):
        scenario.load(None, ["workers.nodes=3"])


def test_tasks_override_clears_a_duration(tmp_path):
    sc = scenario.load(write(tmp_path, "[run]\nduration = 60.0\n"), ["run.tasks=10"])
    assert (sc.run.tasks, sc.run.duration) == (10, 0.0)


def test_data_files_resolve_next_to_the_scenario(tmp_path):
    (tmp_path / "times.txt").write_text("0.5\n1.5\n")
    sc = scenario.load(write(tmp_path, '[service]\ndist = "empirical"\nfile = "times.txt"\n'))
    assert sc.service.file == str(tmp_path / "times.txt")


@given(
    count=st.integers(1, 64),
    rate=st.floats(0.01, 1e4),
    late=st.booleans(),
    backoff=st.floats(0, 100),
    name=st.text(max_size=20),
)
def test_dumps_then_load_gives_the_same_scenario(
    tmp_path_factory, count, rate, late, backoff, name
):
    sc = scenario.load(None).replace(
        **{
            "workers.count": count,
            "arrivals.rate": rate,
            "ack.late": late,
            "retry.backoff": backoff,
            "name": name,
        }
    )
    path = tmp_path_factory.mktemp("s") / "s.toml"
    path.write_text(scenario.dumps(sc))
    assert scenario.load(path) == sc


@given(st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not 0 <= x <= 1))
def test_probability_outside_0_1_is_refused(p):
    with pytest.raises(ScenarioError, match="failures.probability"):
        scenario.from_dict({"failures": {"probability": p}})
