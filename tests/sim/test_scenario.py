import dataclasses
import logging
import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import scenario
from sim.analysis.metrics import summarize
from sim.engine.model import simulate
from sim.fields import setting
from sim.scenario import (
    FIELD_BY_KEY,
    FIELDS,
    MAX_CV,
    MAX_SECONDS,
    SECTIONS,
    Scenario,
    ScenarioError,
    rate_limit_per_second,
    rate_limited,
)


def write(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_one_line_is_a_scenario(tmp_path):
    sc = scenario.load(write(tmp_path, "[workers]\ncount = 4\n"))
    assert sc.workers.count == 4
    assert sc.retry.max_retries == 3 and sc.retry.countdown == 180.0  # Celery's defaults
    assert sc.workers.prefetch_multiplier == 4 and sc.ack.visibility_timeout == 3600.0


def test_the_declared_defaults_are_the_scenario_a_file_without_fields_gives():
    assert scenario.from_dict({}) == Scenario() == scenario.load(None)
    for field in FIELDS:
        coerced = field.coerce(field.default)  # each default lies in its own range
        assert coerced == field.default and type(coerced) is type(field.default), field.key
        assert Scenario().get(field.key) == field.default, field.key


def test_every_key_reaches_the_field_it_names():
    sc = scenario.load("scenarios/flaky_api.toml")
    data = sc.to_dict()
    assert len(FIELDS) == 3 + sum(len(data[section]) for section in SECTIONS)
    for field in FIELDS:
        section, _, name = field.key.rpartition(".")
        value = data[section][name] if section else data[name]
        assert field.coerce(value) == sc.get(field.key), field.key


def test_a_field_declared_without_setting_is_refused():
    @dataclasses.dataclass(frozen=True)
    class Pool:
        count: int = setting(1, "workers", min=1, max=10)
        size: int = 3

    with pytest.raises(TypeError, match="Pool.size is not declared"):
        list(scenario.declared(Pool))


def test_a_declaration_carries_its_type_from_the_annotation_and_its_key_from_its_place():
    assert FIELD_BY_KEY["workers.count"].type is int
    assert FIELD_BY_KEY["service.values"].element is float
    assert FIELD_BY_KEY["failures.outage"].allowed().startswith("a list of {start, end")
    assert list(SECTIONS) == [
        "run",
        "arrivals",
        "service",
        "workers",
        "failures",
        "retry",
        "ack",
        "overhead",
        "results",
    ]


@pytest.mark.parametrize("path", sorted(Path("scenarios").glob("**/*.toml")), ids=str)
def test_a_shipped_file_read_as_text_is_the_scenario_read_as_a_file(path):
    """The app reads pasted text with ``loads``; a lesson's ``[lesson]`` table is skipped."""
    assert scenario.loads(path.read_text()) == scenario.load(path)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[workers]\ncount = 0\n", ["workers.count", "0", ">= 1"]),
        ("[arrivals]\nrate = -1.0\n", ["arrivals.rate", "-1.0", ">= 1e-09"]),
        ("[failures]\nprobability = 1.5\n", ["failures.probability", "1.5", "<= 1"]),
        ("[workers]\ncount = 2.5\n", ["workers.count", "2.5", "integer"]),
        ('[service]\ndist = "gamma"\n', ["service.dist", "gamma", "exponential", "weibull"]),
        ("[ack]\nlate = 1\n", ["ack.late", "true or false"]),
        ("[workers]\ncuont = 3\n", ["workers.cuont", "workers.count"]),
        ("[run]\ntasks = 5\nduration = 10.0\n", ["run.tasks", "run.duration"]),
        ('[service]\ndist = "uniform"\nlow = 2.0\nhigh = 1.0\n', ["service.low", "service.high"]),
        ('[service]\ndist = "empirical"\n', ["service.file", "service.values"]),
        (  # the values were resampled and the file, missing too, never read
            '[service]\ndist = "empirical"\nvalues = [1.0]\nfile = "gone.csv"\n',
            ["service.file and service.values are both set: give one"],
        ),
        ("[workers\ncount = 3\n", ["malformed TOML"]),
        ("service = 5\n", ["service = 5", "service must be a table"]),
        ('arrivals = "x"\n', ['arrivals = "x"', "arrivals must be a table"]),
        ("[[service]]\nmean = 2.0\n", ["service", "must be a table"]),
        ("run = [1, 2]\n", ["run = [1, 2]", "run must be a table"]),
        ("[run]\ntasks = 99999999999999999999\n", ["run.tasks", "<= 100000000"]),
        ("[service]\nmean = 1" + "0" * 400 + "\n", ["service.mean", "out of range"]),
        ("[service]\nmean = 1e308\n", ["service.mean", "<= 1e+09"]),
        (  # "are numbers" said of inf and nan, which are
            "[failures]\noutage = [{start = 0, end = inf, probability = 1}]\n",
            ["failures.outage[0]", "start, end and probability are finite numbers"],
        ),
        ('[service]\ndist = "lognormal"\ncv = 1e200\n', ["service.cv", "<= 100"]),
        ("[service]\nvalues = [1.0, 1e300]\n", ["service.values", "<= 1e+09"]),
        ("[arrivals]\nrate = 1e-308\n", ["arrivals.rate", ">= 1e-09"]),
        ("[run]\nduration = 1e9\n", ["run.duration", "arrivals.rate", "100000000"]),
        (
            "[[failures.outage]]\nstart = 0\nend = 1" + "0" * 400 + "\nprobability = 1\n",
            ["failures.outage[0]", "numbers"],
        ),
    ],
)
def test_bad_input_names_the_field_and_the_range(tmp_path, text, names):
    with pytest.raises(ScenarioError) as err:
        scenario.load(write(tmp_path, text))
    for name in names:
        assert name in str(err.value)


@pytest.mark.parametrize(
    "field", [f for f in FIELDS if f.type in (int, float)], ids=lambda f: f.key
)
def test_every_number_field_has_an_upper_bound_named_when_passed(field):
    assert field.max is not None
    too_big = field.max * 10 if field.type is float else int(field.max) * 10
    with pytest.raises(ScenarioError, match=f"{field.key} = .* out of range: .*<= "):
        scenario.load(None, [f"{field.key}={too_big!r}"])


def test_the_largest_times_and_spread_still_give_finite_figures():
    sc = scenario.load(
        None,
        [
            "run.tasks=200",
            "workers.count=200",  # no task waits: none outlasts the visibility timeout
            f"ack.visibility_timeout={MAX_SECONDS!r}",
            "service.dist=lognormal",
            f"service.mean={MAX_SECONDS!r}",
            f"service.cv={MAX_CV!r}",
        ],
    )
    summary = summarize(simulate(sc), sc.workers.slots).to_dict()
    figures = [v for v in summary.values() if isinstance(v, float)]
    assert len(figures) > 10 and all(math.isfinite(v) for v in figures)


@pytest.mark.parametrize(
    "fields",
    [
        ["service.dist=constant", "service.mean=1e-9"],
        ["service.dist=uniform", "service.low=0", "service.high=1e-9"],
        ["service.dist=empirical", "service.values=[1e-9]"],
    ],
)
def test_the_least_service_times_still_give_finite_figures(fields):
    """Below them, 5e-324 s (the least float above 0) ran: a run of one task ended at 5e-324 s,
    so its throughput, 1 ÷ makespan, was Infinity and its utilisation NaN (--json printed both,
    which no JSON reader takes)."""
    run = ["run.tasks=1", "overhead.model=none", "arrivals.process=constant"]
    sc = scenario.load(None, [*run, *fields])
    summary = summarize(simulate(sc), sc.workers.slots).to_dict()
    assert all(math.isfinite(v) for v in summary.values() if isinstance(v, float))
    least = [f.replace("1e-9", "5e-324") for f in fields]
    with pytest.raises(ScenarioError, match=r"must be (a list of numbers|a number) >= 1e-09"):
        scenario.load(None, [*run, *least])


def test_a_binary_scenario_file_is_named_not_decoded(tmp_path):
    (tmp_path / "s.toml").write_bytes(b"\xff\xfe\x00[workers]")
    with pytest.raises(ScenarioError, match="not a text file"):
        scenario.load(tmp_path / "s.toml")


def test_an_empty_scenario_file_warns_that_everything_is_a_default(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        sc = scenario.load(write(tmp_path, "# nothing yet\n"))
    assert sc == scenario.load(None)
    assert [r.getMessage() for r in caplog.records] == [
        f"warning: scenario file {tmp_path / 's.toml'} sets no fields: "
        "every field takes its default"
    ]
    caplog.clear()
    scenario.load(write(tmp_path, "[workers]\ncount = 4\n"))
    assert not caplog.records


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


@pytest.mark.parametrize(
    ("text", "overrides", "said"),
    [
        (
            "[servce]\nmean = 2.0\n",
            [],
            "unknown scenario section '[servce]' (did you mean '[service]'?)",
        ),
        ("[retyr]\nmax_retries = 5\n", [], "(did you mean '[retry]'?)"),
        ("[run]\ntask = 5\n", [], "unknown scenario field 'run.task' (did you mean 'run.tasks'?)"),
        ("sed = 3\n", [], "(did you mean 'seed'?)"),
        (
            "",
            ["servce.mean=2"],
            "--set 'servce.mean': unknown field (did you mean 'service.mean'?)",
        ),
        ("", ["run.task=5"], "--set 'run.task': unknown field (did you mean 'run.tasks'?)"),
        ("", ["retry.max_retires=2"], "(did you mean 'retry.max_retries'?)"),
        (
            '[[pools]]\nname = "a"\nqeues = ["celery"]\n',
            [],
            "unknown scenario field 'pools.a.qeues' (did you mean 'pools.a.queues'?)",
        ),
        (
            '[[tasks]]\nname = "a"\ntme_limit = 3\n',
            [],
            "tasks.a.tme_limit (did you mean 'time_limit'?)",
        ),
        (
            '[[tasks]]\nname = "a"\n[tasks.service]\nmaen = 3\n',
            [],
            "'tasks.a.service.maen' (did you mean 'tasks.a.service.mean'?)",
        ),
        ('[[pools]]\nname = "fast"\n', ["pools.fats.count=2"], "(did you mean 'fast'?)"),
    ],
)
def test_an_unknown_name_says_the_closest_known_one_from_a_file_or_set(
    tmp_path, text, overrides, said
):
    with pytest.raises(ScenarioError) as err:
        scenario.load(write(tmp_path, text), overrides)
    assert said in str(err.value)


@pytest.mark.parametrize("overrides", [["zzzz=1"], ["workers.zzzz=1"]])
def test_an_unknown_name_close_to_none_says_no_guess(overrides):
    with pytest.raises(ScenarioError, match="unknown field; known fields: ") as err:
        scenario.load(None, overrides)
    assert "did you mean" not in str(err.value)


def test_max_retries_inf_is_celerys_none_in_a_file_a_table_and_a_set(tmp_path):
    """TOML has no null: ``inf`` (a TOML number) says retry for ever, read from a file, a
    ``[[tasks]]`` table or ``--set``, and written back as ``inf``."""
    sc = scenario.load(write(tmp_path, "[retry]\nmax_retries = inf\n"))
    assert sc.retry.max_retries == math.inf
    assert scenario.loads(scenario.dumps(sc)) == sc and "max_retries = inf\n" in scenario.dumps(sc)
    assert scenario.load(None, ["retry.max_retries=inf"]) == sc.replace(name="scenario")
    typed = scenario.loads('[[tasks]]\nname = "api"\n[tasks.retry]\nmax_retries = inf\n')
    assert typed.task_types[0].retry.max_retries == math.inf


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ('"forever"', "is not an integer"),
        ("-inf", "is not an integer"),
        ("nan", "is not an integer"),
        ("3.5", "is not an integer"),
        ("1001", "is out of range"),
        ('"inf"', "is not an integer in TOML: write inf, a number, with no quotes"),
    ],
)
def test_a_bad_max_retries_names_the_field_and_inf_among_the_allowed(tmp_path, value, why):
    with pytest.raises(ScenarioError) as err:
        scenario.load(write(tmp_path, f"[retry]\nmax_retries = {value}\n"))
    assert str(err.value).startswith(f"retry.max_retries = {value.replace(chr(34), chr(39))} ")
    assert why in str(err.value)
    assert str(err.value).endswith("must be an integer >= 0 and <= 1000, or inf (for ever)")


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


TYPES = """
[service]
mean = 2.0
[retry]
max_retries = 5
[[tasks]]
name = "thumbnail"
share = 0.8
queue = "fast"
[tasks.service]
dist = "constant"
[[tasks]]
name = "report"
queue = "slow"
rate_limit = "10/m"
[tasks.retry]
max_retries = 0
[[pools]]
name = "fast"
queues = ["fast"]
count = 3
[[pools]]
name = "slow"
queues = ["slow", "fast"]
concurrency = 4
"""


def test_task_types_and_pools_fall_back_to_the_scenario_tables():
    sc = scenario.loads(TYPES)
    thumbnail, report = sc.task_types
    assert thumbnail.service.dist == "constant" and thumbnail.service.mean == 2.0
    assert thumbnail.retry.max_retries == 5 and report.retry.max_retries == 0
    assert report.share == 0 and sc.shares == pytest.approx((0.8, 0.2))  # what the others leave
    fast, slow = sc.worker_pools
    assert (fast.workers.count, fast.workers.concurrency) == (3, 1)
    assert (slow.workers.count, slow.workers.concurrency) == (8, 4)  # [workers] count default
    assert sc.slots == 3 + 32
    assert [name for name, _ in sc.nodes][:4] == ["fast-1", "fast-2", "fast-3", "slow-1"]
    assert scenario.loads(scenario.dumps(sc)) == sc


def test_a_share_set_on_one_type_leaves_the_rest_to_the_types_that_give_none():
    """``--set tasks.thumbnail.share=0.5`` on thumbnails_and_reports, whose report gives no
    share: it was refused, "the shares given add up to 0.6", the report's 0.1 completed into the
    type and read back as given."""
    sc = scenario.load("scenarios/thumbnails_and_reports.toml")
    assert sc.shares == pytest.approx((0.9, 0.1))
    half = sc.replace(**{"tasks.thumbnail.share": 0.5})
    assert half.shares == pytest.approx((0.5, 0.5))
    assert scenario.loads(scenario.dumps(half)).shares == pytest.approx((0.5, 0.5))


def test_a_scenario_without_tables_is_one_type_on_one_pool():
    sc = scenario.Scenario()
    assert [(t.name, t.queue, t.share) for t in sc.task_types] == [("task", "celery", 1.0)]
    assert [(p.name, p.queues) for p in sc.worker_pools] == [("workers", ("celery",))]
    assert [name for name, _ in sc.nodes] == [f"w{i}" for i in range(1, 9)]


def test_a_type_or_pool_field_is_reached_by_its_name():
    sc = scenario.loads(TYPES).replace(**{"pools.fast.count": 6, "tasks.report.time_limit": 9})
    assert sc.get("pools.fast.count") == 6 and sc.get("tasks.report.time_limit") == 9.0
    assert sc.get("pools.slow.queue_order") == "round_robin"
    with pytest.raises(ScenarioError, match="no pool of that name; pools: fast, slow"):
        sc.replace(**{"pools.medium.count": 2})


@pytest.mark.parametrize(
    ("key", "example"), [("pools.slow", "pools.slow.count"), ("tasks.report", "tasks.report.")]
)
def test_a_type_or_pool_named_without_a_field_is_said_so(key, example):
    """``--set pools.slow=3`` said "no pool of that name (did you mean 'slow'?)" of the pool
    the user had named."""
    with pytest.raises(ScenarioError) as err:
        scenario.loads(TYPES).replace(**{key: 3})
    said = str(err.value)
    assert "not one of its fields" in said and example in said and "no pool" not in said


def test_a_scenario_level_override_reaches_the_tables_that_do_not_set_their_own():
    """As when the file is read: ``--set workers.concurrency=2`` on a scenario with pools used
    to change only [workers], which no pool read any more, so the run silently ignored it."""
    sc = scenario.loads(TYPES).replace(**{"workers.concurrency": 2, "service.mean": 3.0})
    fast, slow = sc.worker_pools
    assert fast.workers.concurrency == 2 and slow.workers.concurrency == 4  # slow sets its own
    thumbnail, report = sc.task_types
    assert thumbnail.service.mean == report.service.mean == 3.0
    assert thumbnail.service.dist == "constant"  # its own field stays
    again = sc.replace(**{"retry.max_retries": 2})
    assert [t.retry.max_retries for t in again.task_types] == [2, 0]
    assert again.get("pools.fast.count") == 3


def test_a_set_that_every_table_of_the_file_overrides_is_refused(tmp_path):
    """``--set workers.count=20`` on a file whose every pool sets its own count, or ``--set
    service.mean=2`` where every type sets its own, changed nothing: the run said nothing."""
    path = tmp_path / "s.toml"
    own = (  # every type sets its service.mean, every pool its count
        TYPES.replace('dist = "constant"', "mean = 0.5")
        .replace('rate_limit = "10/m"', 'rate_limit = "10/m"\n[tasks.service]\nmean = 9.0')
        .replace("concurrency = 4", "concurrency = 4\ncount = 2")
    )
    path.write_text(own)
    with pytest.raises(ScenarioError, match=r"--set workers.count: every one .* \[\[pools\]\]"):
        scenario.load(path, ["workers.count=20"])
    with pytest.raises(ScenarioError, match="set theirs instead .*tasks.report.service.mean"):
        scenario.load(path, ["service.mean=2"])
    reached = scenario.load(path, ["workers.concurrency=2", "retry.max_retries=2"])
    assert reached.get("pools.fast.concurrency") == 2  # fast does not set its own
    assert scenario.load(path, ["pools.fast.count=5"]).get("pools.fast.count") == 5


def test_tables_given_whole_replace_the_scenario_s_own():
    """``--set 'pools=[...]'`` (a lesson's fix may set one too) on a scenario that has pools
    was undone by the old tables, re-applied for the scenario-level values: silently ignored."""
    sc = scenario.loads(TYPES)
    merged = sc.replace(pools=[{"name": "all", "queues": ["fast", "slow"], "count": 2}])
    assert [(p.name, p.workers.count) for p in merged.pools] == [("all", 2)]
    one = sc.replace(tasks=[{"name": "x", "queue": "fast"}], **{"service.mean": 3.0})
    assert [(t.name, t.service.mean) for t in one.tasks] == [("x", 3.0)]
    assert sc.replace(pools=[]).worker_pools[0].name == "workers"  # back to [workers]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('share = 0.9\nqueue = "fast"', "shares given add up to 1.7"),
        ('queue = "nowhere"', "routed to queue 'nowhere', which no pool consumes"),
        ('queue = "two words"', "'two words' is not a name"),
        ('queue = "fast"\nrate_limit = "quick"', "rate_limit = 'quick': must be a rate such as"),
        (
            'queue = "fast"\nrate_limit = "1e-300/h"',
            r"rate_limit = '1e-300/h': .* from 1e-09/s to 1e\+09/s",
        ),
        ('queue = "fast"\nrate_limit = "2e9"', r"rate_limit = '2e9': .* from 1e-09/s to 1e\+09/s"),
        ("priority = 12", "tasks.extra.priority = 12 is out of range"),
        ("colour = 1", "tasks.extra.colour: a task type sets name, share"),
        ("[tasks.failures]\ncrash_kind = 'child'", "set for the whole deployment"),
        ("[tasks.service]\nmean = -1", "'extra': tasks.extra.service.mean = -1 is out of range"),
    ],
)
def test_a_bad_task_type_is_named(change, message):
    with pytest.raises(ScenarioError, match=message):
        scenario.loads(TYPES + f'[[tasks]]\nname = "extra"\n{change}\n')


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"service.dist": "uniform", "service.mean": 2.0}, ["service.mean", "'uniform'"]),
        (
            {"service.dist": "empirical", "service.values": [1.0], "service.mean": 2.0},
            ["service.mean", "'empirical'", "service.file, service.values"],
        ),
        ({"service.cv": 3.0}, ["service.cv", "'exponential'", "reads service.mean"]),
        ({"service.dist": "constant", "service.cv": 0.5}, ["service.cv", "'constant'"]),
        ({"service.dist": "lognormal", "service.low": 0.1}, ["service.low", "'lognormal'"]),
        ({"service.dist": "weibull", "service.high": 2.0}, ["service.high", "'weibull'"]),
        ({"arrivals.burst_size": 5}, ["arrivals.burst_size", "arrivals.process = 'poisson'"]),
        ({"arrivals.dist": "erlang"}, ["arrivals.dist", "'poisson'"]),
        ({"arrivals.replay": "resample"}, ["arrivals.replay", "'poisson'"]),
        ({"arrivals.file": "a.txt"}, ["arrivals.file", "'poisson'"]),
        (
            {"arrivals.process": "renewal", "arrivals.cv": 2.0},
            ["arrivals.cv", "arrivals.dist = 'exponential'"],
        ),
        (
            {"arrivals.process": "renewal", "arrivals.burst_size": 9},
            ["arrivals.burst_size", "arrivals.process = 'renewal'"],
        ),
    ],
)
def test_a_given_field_the_distribution_does_not_read_is_an_error(fields, names):
    with pytest.raises(ScenarioError, match="does not read it") as err:
        Scenario().replace(**fields)
    for name in names:
        assert name in str(err.value)


def test_only_the_fields_given_are_checked_not_a_base_s():
    base = Scenario().replace(
        **{"service.dist": "lognormal", "service.mean": 2.0, "service.cv": 3.0}
    )
    uniform = base.replace(**{"service.dist": "uniform"})  # mean and cv stay, unread
    assert (uniform.service.dist, uniform.service.mean) == ("uniform", 2.0)
    with pytest.raises(ScenarioError, match="service.mean is given"):
        uniform.replace(**{"service.mean": 3.0})
    assert base.replace(**{"service.dist": "weibull"}).service.cv == 3.0


def test_a_file_s_field_an_override_makes_unread_is_not_an_error(tmp_path):
    path = write(tmp_path, '[service]\ndist = "lognormal"\ncv = 2.0\n')
    assert scenario.load(path, ["service.dist=exponential"]).service.dist == "exponential"
    with pytest.raises(ScenarioError, match="service.cv is given"):
        scenario.load(path, ["service.dist=exponential", "service.cv=1.5"])


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        (
            {"service.dist": "erlang", "service.cv": 0.6},
            ["service.cv = 0.6", "1/√k", "1.5%", "0.577", "k = 3"],
        ),
        ({"service.dist": "erlang", "service.cv": 1.5}, ["service.cv = 1.5", "1, 0.707", "k = 1"]),
        ({"service.dist": "hyperexponential", "service.cv": 0.5}, ["service.cv = 0.5", ">= 1"]),
        ({"service.dist": "weibull", "service.cv": 1e-6}, ["service.cv", ">= 1e-05", "constant"]),
        (
            {"arrivals.process": "renewal", "arrivals.dist": "erlang", "arrivals.cv": 0.8},
            ["arrivals.cv = 0.8", "erlang"],
        ),
        ({"arrivals.dist": "uniform"}, ["arrivals.dist", "'uniform' is not allowed"]),
    ],
)
def test_a_cv_the_shape_cannot_take_names_the_field_and_what_it_can(fields, names):
    with pytest.raises(ScenarioError) as err:
        Scenario().replace(**fields)
    for name in names:
        assert name in str(err.value)


@pytest.mark.parametrize("cv", [1.0, 0.707, 0.71, 0.577, 0.58, 0.5, 0.447, 0.33, 0.1, 0.0995])
def test_erlang_takes_a_cv_of_whole_phases_to_two_digits(cv):
    assert Scenario().replace(**{"service.dist": "erlang", "service.cv": cv}).service.cv == cv


def test_dumps_leaves_out_what_is_not_read_so_its_text_loads_again():
    base = Scenario().replace(**{"service.dist": "lognormal", "service.mean": 2.0})
    sc = base.replace(**{"service.dist": "uniform", "arrivals.process": "renewal"})
    text = scenario.dumps(sc)
    assert "mean = 2.0" not in text and "cv =" not in text.split("[service]")[1]
    again = scenario.loads(text)
    assert (again.service.low, again.service.high, again.arrivals.dist) == (0.5, 1.5, "exponential")


@pytest.mark.parametrize("path", sorted(Path("scenarios").glob("**/*.toml")), ids=lambda p: p.name)
def test_a_shipped_scenario_dumps_to_text_that_loads_to_it(path):
    sc = scenario.load(path)
    assert scenario.loads(scenario.dumps(sc)) == sc


def test_autoscale_min_above_max_names_both_fields_and_the_pool():
    with pytest.raises(
        ScenarioError, match=r"workers.autoscale_min = 3 must be <= workers\.autoscale_max = 2"
    ):
        scenario.loads("[workers]\nautoscale_max = 2\nautoscale_min = 3\n")
    text = '[[pools]]\nname = "a"\n[[pools]]\nname = "b"\nautoscale_max = 1\nautoscale_min = 4\n'
    with pytest.raises(ScenarioError, match=r"pools\.b\.autoscale_min = 4 must be <= "):
        scenario.loads(text)
    assert (
        scenario.loads("[workers]\nautoscale_max = 8\n").workers.autoscale_min == 0
    )  # --autoscale 8


def test_a_concurrency_given_with_autoscale_is_refused_naming_it():
    """``--autoscale MAX,MIN`` sizes the pool: a concurrency beside it is never read."""
    said = r"workers\.concurrency is given but workers\.autoscale_max = 4 replaces it"
    with pytest.raises(ScenarioError, match=said):
        scenario.loads("[workers]\nconcurrency = 2\nautoscale_max = 4\n")
    with pytest.raises(ScenarioError, match=said):
        scenario.loads("[workers]\nautoscale_max = 4\n").replace(**{"workers.concurrency": 2})
    pools = '[workers]\nautoscale_max = 4\n[[pools]]\nname = "a"\nconcurrency = 2\n'
    with pytest.raises(ScenarioError, match=r"pools\.a\.concurrency is given but pools\.a\."):
        scenario.loads(pools)
    fixed = "[workers]\nconcurrency = 2\nautoscale_max = 0\n"
    assert scenario.loads(fixed).workers.processes == 2
    read = (
        '[workers]\nconcurrency = 2\nautoscale_max = 4\n[[pools]]\nname = "a"\nautoscale_max = 0\n'
    )
    assert scenario.loads(read).pools[0].workers.processes == 2  # a fixed pool reads it


def test_an_autoscaled_scenario_dumps_without_its_unread_concurrency():
    sc = scenario.loads("[workers]\nautoscale_max = 4\n")
    assert "concurrency" not in scenario.dumps(sc)
    assert scenario.loads(scenario.dumps(sc)) == sc


@pytest.mark.parametrize("soft", [5.0, 6.0])
def test_a_soft_time_limit_at_or_above_the_hard_one_is_refused_naming_both(soft):
    """It can never fire: the hard limit kills the child first (Celery refuses one above the
    hard limit when the task is sent, and at a tie kills the child as it raises)."""
    text = f'[[tasks]]\nname = "a"\nsoft_time_limit = {soft}\ntime_limit = 5.0\n'
    with pytest.raises(ScenarioError) as err:
        scenario.loads(text)
    assert str(err.value).startswith(
        f"tasks.a.soft_time_limit = {soft:g} must be < tasks.a.time_limit = 5: "
    )
    assert "(0 < soft_time_limit < time_limit, or 0 for no soft limit)" in str(err.value)
    below = scenario.loads(text.replace(f"soft_time_limit = {soft}", "soft_time_limit = 4.0"))
    assert below.tasks[0].soft_time_limit == 4.0
    with pytest.raises(ScenarioError, match=r"tasks\.a\.soft_time_limit = 4 must be < "):
        below.replace(**{"tasks.a.time_limit": 3.0})


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ('[[tasks]]\nname = ""\n', [], "tasks: '' is not a name"),
        ('[[pools]]\nname = ""\nqueues = ["celery"]\n', [], "pools: '' is not a name"),
        (
            '[[pools]]\nname = "p"\nqueues = ["celery", "celery"]\n',
            [],
            "pools.p.queues = ['celery', 'celery']: 'celery' is given twice: give it once",
        ),  # a node consumes a queue once: -Q celery,celery ran
        ("", ["name=0"], 'name = 0 is a number, not a string: write it in quotes, "0"'),
        (
            '[[tasks]]\nname = "a"\nqueue = 5\n',
            [],
            'queue = 5 is a number, not a string: write it in quotes, "5"',
        ),
    ],
)
def test_an_empty_name_or_a_number_for_a_word_is_refused_saying_what_to_write(
    tmp_path, text, overrides, message
):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        scenario.load(write(tmp_path, text), overrides)


@pytest.mark.parametrize(("given", "text", "per_second"), [(5, "5", 5.0), (0.5, "0.5", 0.5)])
def test_a_rate_limit_given_as_a_number_is_that_many_a_second(tmp_path, given, text, per_second):
    """As Celery reads ``rate_limit=5``; ``--set tasks.report.rate_limit=5`` said it "must be
    a string", where the field's meaning allows a number per second."""
    path = "scenarios/thumbnails_and_reports.toml"
    sc = scenario.load(path, [f"tasks.report.rate_limit={given}"])
    report = sc.tasks[1]
    assert report.rate_limit == text and rate_limit_per_second(report.rate_limit) == per_second
    assert scenario.loads(scenario.dumps(sc)) == sc
    in_file = scenario.load(write(tmp_path, f'[[tasks]]\nname = "a"\nrate_limit = {given}\n'))
    assert in_file.tasks[0].rate_limit == text


def test_a_rate_limit_out_of_range_names_the_forms_it_takes():
    with pytest.raises(ScenarioError) as err:
        scenario.load("scenarios/thumbnails_and_reports.toml", ["tasks.report.rate_limit=-5"])
    assert str(err.value) == (
        "task type 'report': rate_limit = '-5': must be a rate such as 5 or '5' (a second), "
        "'10/s', '100/m' or '5/h', from 1e-09/s to 1e+09/s, or 0 for none"
    )


@pytest.mark.parametrize("given", ["0", '"0"', '"0/s"', '"0/m"', "0.0", '""'])
def test_a_rate_limit_of_0_is_none_as_celery_reads_it(tmp_path, given):
    """``celery.utils.time.rate`` reads 0 as 0, and the worker's consumer makes no token
    bucket for it: no limit. It was refused as below the least rate, 1e-09/s."""
    sc = scenario.load(write(tmp_path, f'[[tasks]]\nname = "a"\nrate_limit = {given}\n'))
    kind = sc.tasks[0]
    assert rate_limit_per_second(kind.rate_limit) == 0 and not rate_limited(kind)
    assert scenario.loads(scenario.dumps(sc)) == sc


def test_an_unknown_field_of_a_pool_lists_the_fields_a_pool_has():
    """Not the scenario's own fields under the pool's prefix ("pools.fast.seed"); each named
    as ``--set`` spells it (it took no "pools[0].count" it was offered)."""
    sc = scenario.load("scenarios/thumbnails_and_reports.toml")
    with pytest.raises(ScenarioError) as err:
        sc.replace(**{"pools.fast.bogus": 5})
    said = str(err.value)
    assert (
        "unknown scenario field 'pools.fast.bogus'" in said
        and "pools.fast.prefetch_multiplier" in said
    )
    assert "seed" not in said and "run.tasks" not in said
    with pytest.raises(ScenarioError, match="known fields: workers.count, ") as err:
        scenario.load(None, ["workers.nodes=3"])
    assert "service.mean" not in str(err.value)


@pytest.mark.parametrize(
    "key", ["pools.fast.workers.count", "pools.fast.workers"], ids=["set", "table"]
)
def test_a_pool_with_a_workers_part_is_told_its_fields_are_its_own(key):
    """A user who knows [workers] writes a pool's count as ``pools.fast.workers.count``: it was
    answered "did you mean 'pools.fast.cores'?", a field that means something else."""
    sc = scenario.load("scenarios/thumbnails_and_reports.toml")
    with pytest.raises(ScenarioError) as err:
        sc.replace(**{key: 3})
    said = str(err.value)
    assert "written in its own table, e.g. pools.fast.count" in said and "cores" not in said


OWN_ARRIVALS = '[[tasks]]\nname = "a"\n[tasks.arrivals]\nrate = 2.0\n'


def test_a_share_beside_a_type_of_its_own_arrivals_names_that_type():
    """One type of its own arrivals and one of share 0.5: "or to less when some task types
    give none" read as if ``a``, which gives none, took the other half of [arrivals]."""
    text = OWN_ARRIVALS + '[[tasks]]\nname = "b"\nshare = 0.5\n'
    with pytest.raises(ScenarioError) as err:
        scenario.loads(text)
    assert str(err.value) == (
        "tasks: the shares given add up to 0.5: they must add up to 1, or to less when some "
        "task types give none (those share what is left equally); a has its own "
        "[tasks.arrivals] and takes no share of [arrivals]"
    )


TWO_OWN = OWN_ARRIVALS + '[[tasks]]\nname = "b"\n[tasks.arrivals]\nprocess = "burst"\nrate = 0.5\n'


def test_an_arrivals_rate_no_type_reads_is_refused_naming_it_and_why():
    """Every type has its own [tasks.arrivals] that sets its rate: the scenario's
    [arrivals] rate changed nothing, silently."""
    with pytest.raises(ScenarioError) as err:
        scenario.loads("[arrivals]\nrate = 3.0\n" + TWO_OWN)
    assert str(err.value) == (
        "arrivals.rate is given but no task type reads it: every one has its own "
        "[tasks.arrivals], and tasks.a sets its own rate, tasks.b sets its own rate: remove it "
        "from [arrivals]"
    )
    with pytest.raises(ScenarioError, match="arrivals.rate is given but no task type reads"):
        scenario.loads(TWO_OWN).replace(**{"arrivals.rate": 8.0})


def test_an_arrivals_field_no_type_process_reads_is_refused():
    """``b`` follows [arrivals]' cycle with an amplitude of its own; ``a`` is Poisson."""
    top = '[arrivals]\nprocess = "cycle"\namplitude = 0.3\n'
    own = TWO_OWN.replace('process = "burst"\n', "amplitude = 0.9\n")
    with pytest.raises(ScenarioError) as err:
        scenario.loads(top + own.replace("rate = 2.0", 'process = "poisson"\nrate = 2.0'))
    assert str(err.value).startswith("arrivals.amplitude is given but no task type reads it")
    assert "tasks.a's process 'poisson' does not read amplitude, tasks.b sets its own" in str(
        err.value
    )


def test_an_arrivals_field_a_type_takes_is_read():
    """A type that gives only a rate follows the scenario's process (DESIGN); a type beside
    them that takes a share reads all of [arrivals]."""
    text = '[arrivals]\nprocess = "cycle"\namplitude = 0.8\nperiod = 600.0\n' + TWO_OWN
    a = scenario.loads(text).tasks[0].arrivals
    assert (a.process, a.rate, a.amplitude, a.period) == ("cycle", 2.0, 0.8, 600.0)
    shared = scenario.loads("[arrivals]\nrate = 3.0\n" + TWO_OWN + '[[tasks]]\nname = "c"\n')
    assert shared.arrivals.rate == 3.0


def test_dumps_leaves_out_the_arrivals_fields_no_type_reads():
    """``dumps`` wrote [arrivals]' rate beside types that each set their own, which loading
    refuses now; what the types take from [arrivals] stays."""
    sc = scenario.loads(TWO_OWN)
    text = scenario.dumps(sc)
    assert "\n[arrivals]\nprocess = " in text and "rate = 7.2" not in text
    assert scenario.loads(text) == sc
    cycle = scenario.loads('[arrivals]\nprocess = "cycle"\namplitude = 0.8\n' + TWO_OWN)
    assert '\n[arrivals]\nprocess = "cycle"\namplitude = 0.8\n' in scenario.dumps(cycle)
    assert scenario.loads(scenario.dumps(cycle)) == cycle


def test_a_warmup_is_judged_by_the_arrivals_the_types_read():
    """Types of their own arrivals at 0.2 tasks/s together: a warm-up of 100 s in 100 tasks
    was refused against [arrivals]' default rate, 7.2 tasks/s (a span of 13.9 s), which no
    type reads; each type's own stream still bounds it."""
    slow = TWO_OWN.replace("rate = 2.0", "rate = 0.1").replace("rate = 0.5", "rate = 0.1")
    sc = scenario.loads("[run]\ntasks = 100\nwarmup = 100.0\n" + slow)
    assert sc.run.warmup == 100.0
    with pytest.raises(ScenarioError, match=r"task type 'a': run.warmup = 2000 must be < 1000"):
        scenario.loads("[run]\ntasks = 100\nwarmup = 2000.0\n" + slow)
