"""Data files are read when a scenario is loaded: a bad one is an error naming its field then."""

import numpy as np
import pytest

from sim import scenario
from sim.data_files import changed, read_numbers, stamps
from sim.scenario import ScenarioError


def empirical(file: str) -> str:
    return f'[service]\ndist = "empirical"\nfile = "{file}"\n'


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "does not exist"),
        ("", "holds no numbers: a data file holds one finite number >= 0 a line"),
        (
            "seconds\n0.5\nslow\n",
            "times.csv:3: 'slow' is not a number: a data file holds one finite number >= 0 a line",
        ),
        ("0.5\n-1\n", "times.csv:2: '-1' must be a finite number >= 0"),
    ],
)
def test_a_bad_service_file_fails_the_load_naming_the_field(tmp_path, content, why):
    if content is not None:
        (tmp_path / "times.csv").write_text(content)
    (tmp_path / "s.toml").write_text(empirical("times.csv"))
    with pytest.raises(ScenarioError, match="^service.file: ") as err:
        scenario.load(tmp_path / "s.toml")
    assert why in str(err.value)


def test_a_folder_or_a_binary_file_is_named_not_read(tmp_path):
    (tmp_path / "times.txt").write_bytes(b"\xff\xfe1\n2\n")
    with pytest.raises(ScenarioError, match="times.txt' is not text"):
        read_numbers(str(tmp_path / "times.txt"))
    with pytest.raises(ScenarioError, match="cannot be read: Is a directory"):
        scenario.loads(empirical(str(tmp_path)))


def test_a_device_or_a_pipe_is_refused_before_it_is_read(tmp_path):
    """Read whole, /dev/zero never ends (it filled the memory, the app's server with it) and a
    pipe no one writes to blocks for ever; /dev/null, read, said it held no numbers."""
    import os

    os.mkfifo(tmp_path / "pipe")
    for path in ("/dev/null", str(tmp_path / "pipe")):
        with pytest.raises(ScenarioError, match="^arrivals.file: .* is a device or a pipe, not"):
            scenario.loads(f'[arrivals]\nprocess = "trace"\nfile = "{path}"\n')


def test_an_override_naming_a_missing_file_fails_at_once(tmp_path):
    """``--set`` reaches the file as the scenario is built, a task type's by its own field."""
    (tmp_path / "ok.csv").write_text("1.0\n2.0\n")
    text = empirical(str(tmp_path / "ok.csv")) + '[[tasks]]\nname = "report"\n'
    sc = scenario.loads(text)
    missing = str(tmp_path / "gone.csv")
    with pytest.raises(ScenarioError, match="^tasks.report.service.file: data file .* not exist"):
        sc.replace(**{"tasks.report.service.file": missing})
    with pytest.raises(ScenarioError, match="^arrivals.file: data file .* does not exist"):
        sc.replace(**{"arrivals.process": "trace", "arrivals.file": missing})


def test_a_service_time_past_the_largest_fails_the_load(tmp_path):
    (tmp_path / "times.csv").write_text("1.0\n2e9\n0.5\n")
    with pytest.raises(
        ScenarioError,
        match=r"service.file .*times.csv' \(line 2\): a service time of 2e\+09 s: "
        r"must be <= 1e\+09",
    ):
        scenario.loads(empirical(str(tmp_path / "times.csv")))


def test_a_resampled_trace_too_long_to_hold_names_run_duration(tmp_path):
    (tmp_path / "arrivals.csv").write_text("t\n3.0\n3.5\n4.0\n7.0\n7.25\n10.0\n")
    text = (
        f'[arrivals]\nprocess = "trace"\nfile = "{tmp_path / "arrivals.csv"}"\n'
        'replay = "resample"\n[run]\nduration = 1e9\n'
    )
    with pytest.raises(ScenarioError, match=r"run.duration = 1e\+09 resamples about 7.14e\+08"):
        scenario.loads(text)
    assert scenario.loads(text.replace("1e9", "1e6")).run.duration == 1e6


@pytest.mark.parametrize(
    ("content", "why"),
    [
        # sojourns read 0
        ("5\n1e17\n0\n", "its arrivals span 1e+17 s, from 0 (line 3) to 1e+17 (line 2): must"),
        # an infinite rate
        (
            "0\n5\n1e-320\n",
            "two arrivals 9.99989e-321 s apart, 0 (line 1) and 9.99989e-321 (line 3)",
        ),
    ],
)
def test_arrival_times_past_the_range_of_a_time_fail_the_load(tmp_path, content, why):
    (tmp_path / "arrivals.txt").write_text(content)
    text = '[arrivals]\nprocess = "trace"\nfile = "arrivals.txt"\n'
    (tmp_path / "s.toml").write_text(text)
    with pytest.raises(ScenarioError, match=r"^arrivals\.file '.*arrivals\.txt': ") as err:
        scenario.load(tmp_path / "s.toml")
    assert why in str(err.value)


def test_arrival_times_far_from_zero_are_replayed_from_the_first(tmp_path):
    (tmp_path / "arrivals.txt").write_text("1764500000.5\n1764500001.25\n1764500001.25\n")
    text = '[arrivals]\nprocess = "trace"\nfile = "arrivals.txt"\n'
    (tmp_path / "s.toml").write_text(text)
    assert scenario.load(tmp_path / "s.toml").arrivals.file.endswith("arrivals.txt")


@pytest.mark.parametrize(
    ("times", "longest", "line"),
    [
        ("0\n0.0\n", "0", 1),  # Explore's Erlang C raised ValueError
        ("1e-12\n2e-12\n", "2e-12", 2),  # a run of 1e-12 s read a throughput of 1e12 tasks/s
    ],
)
def test_a_service_file_of_times_below_the_floor_fails_the_load(tmp_path, times, longest, line):
    """Held to the 1e-9 s floor as a uniform is by service.high: its longest time."""
    (tmp_path / "times.csv").write_text(times)
    (tmp_path / "s.toml").write_text(empirical("times.csv"))
    with pytest.raises(
        ScenarioError,
        match=rf"^service\.file .*times.csv' \(line {line}\): its longest service time is "
        rf"{longest} s: must",
    ):
        scenario.load(tmp_path / "s.toml")


@pytest.mark.parametrize("times", ["0\n0.5\n", "0\n1e-9\n"])
def test_a_service_file_with_some_times_below_the_floor_loads(tmp_path, times):
    """As a uniform's draws from low = 0 up to high = 1e-9 do, a file's times may fall below
    the floor; a task recorded as 0 s among others is one."""
    (tmp_path / "some.csv").write_text(times)
    (tmp_path / "s.toml").write_text(empirical("some.csv"))
    assert scenario.load(tmp_path / "s.toml").service.dist == "empirical"


def test_a_byte_order_mark_is_read_past_not_taken_for_a_header(tmp_path):
    """Excel saves "CSV UTF-8" with one: '\\ufeff0.5' was no number, so read as a header line,
    and the first time was silently dropped."""
    (tmp_path / "times.csv").write_bytes("\ufeff0.5\r\n1\r\n2\r\n".encode())
    assert read_numbers(str(tmp_path / "times.csv")) == (0.5, 1.0, 2.0)


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("0,5\n1,25\n", "times.csv:1: '0,5' has a comma before a digit"),  # read 0 and 1
        ("seconds\n0.5\n1,234.5\n", "times.csv:3: '1,234.5' has a comma"),  # read 1
        ("0,5;3\n", "times.csv:1: '0,5;3' has a comma"),  # a semicolon CSV: read 0
        ("1e\n0.5\n", "times.csv:1: '1e' is not a number"),  # taken for a header, dropped
        ("0.5\n2 s\n", "times.csv:2: '2 s' is not a number"),
        ("nan\n0.5\n", "times.csv:1: 'nan' must be a finite number >= 0"),
    ],
)
def test_a_number_written_otherwise_is_refused_not_misread(tmp_path, content, line):
    """A decimal comma or a thousands separator read as the first column of a CSV gave 0 or 1,
    and a number-like first line was skipped as a header: each is named by file and line."""
    (tmp_path / "times.csv").write_text(content)
    with pytest.raises(ScenarioError) as err:
        read_numbers(str(tmp_path / "times.csv"))
    assert line in str(err.value)


@pytest.mark.parametrize(
    "content",
    ['"0.5"\n"1"\n"2"\n', '"seconds","host"\n"0.5","a"\n"1","b"\n"2","c"\n'],
)
def test_numbers_in_csv_quotes_are_read_as_numbers(tmp_path, content):
    """A spreadsheet's CSV may quote every cell: '"0.5"' was no number, so taken for a header
    line, and a file of them said it "holds no numbers"."""
    (tmp_path / "times.csv").write_text(content)
    assert read_numbers(str(tmp_path / "times.csv")) == (0.5, 1.0, 2.0)


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ('"1,5"\n"2,5"\n', "times.csv:1: '1,5' has a comma in a number"),  # "held no numbers"
        ('"seconds","host"\n"0.5","a"\n"1,5","b"\n', "times.csv:3: '1,5' has a comma in"),
        ('seconds\n"1,234.5"\n', "times.csv:2: '1,234.5' has a comma in a number"),
    ],
)
def test_a_quoted_number_with_a_comma_is_one_cell_and_refused(tmp_path, content, line):
    """CSV's quotes make "1,5" one cell, a spreadsheet's decimal comma: cut at its comma, it was
    taken for a header line and the file "held no numbers"."""
    (tmp_path / "times.csv").write_text(content)
    with pytest.raises(ScenarioError) as err:
        read_numbers(str(tmp_path / "times.csv"))
    assert line in str(err.value) and "decimal point" in str(err.value)


def test_a_quoted_comma_in_a_header_or_another_column_is_read_past(tmp_path):
    (tmp_path / "times.csv").write_text('"time, s",host\n0.5,"a,b"\n"2",\n')
    assert read_numbers(str(tmp_path / "times.csv")) == (0.5, 2.0)


def test_a_csv_whose_header_names_columns_is_read_by_its_first(tmp_path):
    """With a header line of columns, what follows a comma is another column."""
    (tmp_path / "times.csv").write_text("seconds,bytes\n0.5,300\n2,1000\n")
    assert read_numbers(str(tmp_path / "times.csv")) == (0.5, 2.0)


def test_an_edited_file_is_read_again_at_the_next_load_and_a_run_reads_what_its_load_checked(
    tmp_path,
):
    """Read once a process, a service file edited while the app's server ran kept its old
    numbers until a restart. The next load reads it again; until then, a run reads the numbers
    the last load checked, not the file as it is now."""
    from sim.analysis.metrics import execution_spans
    from sim.engine.model import simulate

    def service_times(sc) -> set[float]:
        spans = execution_spans(simulate(sc))
        return set(np.round(spans["end"] - spans["start"], 6))

    times = tmp_path / "times.csv"
    times.write_text("0.5\n")
    (tmp_path / "s.toml").write_text(empirical("times.csv") + "[run]\ntasks = 20\n")
    before = scenario.load(tmp_path / "s.toml")
    assert service_times(before) == {0.5}
    read = stamps(before)
    assert changed(read) == []
    times.write_text("2\n3\n")
    assert service_times(before) == {0.5}  # what its load checked
    assert changed(read) == [str(times)]  # which a run of it says beside a simulation now
    after = scenario.load(tmp_path / "s.toml")
    assert service_times(after) == {2.0, 3.0}


def test_an_arrivals_file_edited_out_of_range_is_refused_at_the_next_load(tmp_path):
    """Its span and gaps are checked again once it has changed, not taken from the check of
    the file as it was."""
    times = tmp_path / "times.csv"
    times.write_text("0\n1\n2\n")
    (tmp_path / "s.toml").write_text(f'[arrivals]\nprocess = "trace"\nfile = "{times}"\n')
    scenario.load(tmp_path / "s.toml")
    times.write_text("0\n1e-12\n5\n")
    with pytest.raises(ScenarioError, match="^arrivals.file .* two arrivals 1e-12 s apart"):
        scenario.load(tmp_path / "s.toml")


def test_a_server_that_reads_many_files_holds_the_latest_few(tmp_path):
    """Every file read stayed held: the app's server, shared and never restarted, grew by each
    file (33 MB for 1,000 of 1,000 numbers). It holds the latest ``HELD_FILES``; a file dropped
    keeps its stamp, its changes said and its numbers, read again."""
    from sim import data_files

    def loaded(n: int) -> scenario.Scenario:
        (tmp_path / f"t{n}.csv").write_text(f"{1 + n / 1000}\n")
        return scenario.loads(empirical(str(tmp_path / f"t{n}.csv")))

    first = loaded(0)
    read = stamps(first)
    for n in range(1, 3 * data_files.HELD_FILES):
        loaded(n)
    assert len(data_files._held) == data_files.HELD_FILES
    assert str(tmp_path / "t0.csv") not in data_files._held
    assert stamps(first) == read and changed(read) == []
    assert read_numbers(first.service.file) == (1.0,)
    (tmp_path / "t0.csv").write_text("7\n")
    assert changed(read) == [first.service.file]


def test_a_scenario_naming_more_files_than_are_held_loads(tmp_path, monkeypatch):
    """Its files are checked one after another, each dropping the one read least lately."""
    from sim import data_files

    monkeypatch.setattr(data_files, "HELD_FILES", 1)
    text = "[arrivals]\nrate = 1.0\n"
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.csv").write_text("0\n1\n2\n")
        text += f'[[tasks]]\nname = "{name}"\n[tasks.arrivals]\nprocess = "trace"\n'
        text += f'file = "{tmp_path / name}.csv"\n'
    sc = scenario.loads(text)
    assert [f for f, _ in stamps(sc)] == [str(tmp_path / f"{n}.csv") for n in "abc"]
    assert len(data_files._held) == 1
