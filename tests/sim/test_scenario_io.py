"""The scenario file format: TOML text and files to plain tables and back."""

import os

import pytest

from sim import scenario_io
from sim.fields import ScenarioError


def test_a_relative_data_file_resolves_next_to_the_file_in_any_table(tmp_path):
    (tmp_path / "s.toml").write_text(
        '[service]\nfile = "times.txt"\n[arrivals]\nfile = "/abs/a.txt"\n[lesson]\ntitle = "t"\n'
    )
    raw = scenario_io.read_toml(tmp_path / "s.toml")
    assert raw["service"]["file"] == str(tmp_path / "times.txt")
    assert raw["arrivals"]["file"] == "/abs/a.txt"
    assert raw["lesson"] == {"title": "t"}  # read_toml keeps it for sim.analysis.lessons


def test_a_task_types_data_file_resolves_next_to_the_file(tmp_path):
    (tmp_path / "s.toml").write_text('[[tasks]]\nname = "a"\n[tasks.service]\nfile = "a.csv"\n')
    raw = scenario_io.read_toml(tmp_path / "s.toml")
    assert raw["tasks"][0]["service"]["file"] == str(tmp_path / "a.csv")


def test_parse_and_read_skip_the_lesson_table(tmp_path):
    text = '[lesson]\ntitle = "t"\n[workers]\ncount = 2\n'
    (tmp_path / "s.toml").write_text(text)
    assert (
        scenario_io.parse(text)
        == scenario_io.read(tmp_path / "s.toml")
        == {"workers": {"count": 2}}
    )


def test_malformed_text_is_a_scenario_error():
    with pytest.raises(ScenarioError, match="malformed TOML"):
        scenario_io.parse("[workers\n")


def test_an_override_value_is_toml_or_else_a_bare_word():
    assert scenario_io.parse_override(" workers.count = 8 ") == ("workers.count", 8)
    assert scenario_io.parse_override("arrivals.process=burst") == ("arrivals.process", "burst")
    assert scenario_io.parse_override("ack.late=true") == ("ack.late", True)
    for bad in ("workers.count", "=3"):
        with pytest.raises(ScenarioError, match="KEY=VALUE"):
            scenario_io.parse_override(bad)


def test_dumps_writes_values_first_then_one_table_per_dict_and_parse_reads_it_back():
    data = {
        "name": 'quote " and \x7f',
        "t": {"on": True, "xs": (1.0, 2.5), "rows": [{"a": 1}]},
        "seed": 3,
    }
    text = scenario_io.dumps(data)
    assert text.splitlines()[:3] == ['name = "quote \\" and \\u007f"', "seed = 3", ""]
    back = scenario_io.parse(text)
    assert back == {**data, "t": {"on": True, "xs": [1.0, 2.5], "rows": [{"a": 1}]}}


def test_a_byte_order_mark_is_read_past(tmp_path):
    """Windows editors save UTF-8 with one; tomllib took it for a malformed first line."""
    (tmp_path / "s.toml").write_text("\ufeff[workers]\ncount = 3\n", encoding="utf-8")
    assert scenario_io.read(tmp_path / "s.toml") == {"workers": {"count": 3}}
    assert scenario_io.parse("\ufeffseed = 2\n") == {"seed": 2}


def test_arrays_nested_past_the_recursion_limit_are_malformed_not_a_crash(tmp_path):
    deep = "x = " + "[" * 100_000
    (tmp_path / "s.toml").write_text(deep)
    with pytest.raises(ScenarioError, match="s.toml: malformed TOML: arrays or tables nested"):
        scenario_io.read(tmp_path / "s.toml")
    with pytest.raises(ScenarioError, match="^malformed TOML: arrays or tables nested too deep"):
        scenario_io.parse(deep)
    with pytest.raises(ScenarioError, match="^--set run.tasks: arrays nested too deep"):
        scenario_io.parse_override("run.tasks=" + "[" * 5_000)


def test_a_folder_or_a_device_is_not_read_as_a_scenario(tmp_path):
    """/dev/zero would be read until memory ran out; a pipe no one writes to blocked for ever."""
    os.mkfifo(tmp_path / "pipe")
    for path in (tmp_path, "/dev/zero", tmp_path / "pipe"):
        with pytest.raises(ScenarioError, match="not a file: a scenario is a TOML file"):
            scenario_io.read(path)


def test_a_scenario_read_by_a_relative_path_names_its_data_files_absolutely(tmp_path, monkeypatch):
    """So its ``dumps`` text, written elsewhere (a live run's temp folder), names them still."""
    (tmp_path / "times.txt").write_text("1.0\n")
    (tmp_path / "s.toml").write_text('[service]\ndist = "empirical"\nfile = "times.txt"\n')
    monkeypatch.chdir(tmp_path)
    assert scenario_io.read_toml("s.toml")["service"]["file"] == str(tmp_path / "times.txt")


def test_confined_reads_every_data_file_in_the_folder_and_refuses_one_outside(tmp_path):
    """A task type's own file too: each table's ``file`` is made absolute in the folder."""
    confined, parse = scenario_io.confined, scenario_io.parse
    text = '[service]\nfile = "a.csv"\n[[tasks]]\nname = "x"\n[tasks.service]\nfile = "{}"\n'
    raw = confined(parse(text.format("sub/b.csv")), tmp_path)
    assert raw["service"]["file"] == str(tmp_path.resolve() / "a.csv")
    assert raw["tasks"][0]["service"]["file"] == str(tmp_path.resolve() / "sub" / "b.csv")
    for outside in ("../b.csv", "/etc/hosts", "sub/../../b.csv"):
        with pytest.raises(ScenarioError, match=f"^data file '{outside}' is not in the app's"):
            confined(parse(text.format(outside)), tmp_path)
