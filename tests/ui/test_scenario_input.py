"""The app's scenario controls come from the declaration, and pasted text reads as the CLI reads."""

from pathlib import Path

import pytest

from sim import scenario
from ui.scenario_input import KNOBS, drives, parse, pool_knobs

ALL_KNOBS = [k for knobs in KNOBS.values() for k in knobs]


@pytest.mark.parametrize("knob", ALL_KNOBS, ids=lambda k: k.key)
def test_every_knob_moves_a_declared_field_within_its_range(knob):
    field = knob.field  # a KeyError for a field that is not declared
    if field.type is bool:
        return
    stops = knob.stops or (knob.bottom, knob.top)
    assert all(field.within(v) for v in stops), (field.key, field.allowed())
    assert knob.bottom < knob.top or knob.stops
    assert type(field.coerce(knob.bottom)) is field.type


def test_a_slider_starts_at_the_least_step_its_field_allows():
    bottoms = {k.key: k.bottom for k in ALL_KNOBS if not k.stops and k.field.type is not bool}
    assert bottoms["arrivals.rate"] == 0.1  # must be >= 1e-9: the first step
    assert bottoms["service.mean"] == 0.05  # must be > 0
    assert bottoms["workers.count"] == 1 and bottoms["workers.prefetch_multiplier"] == 0
    assert bottoms["failures.probability"] == 0.0


@pytest.mark.parametrize("path", sorted(Path("scenarios").glob("**/*.toml")), ids=str)
def test_pasted_text_of_a_shipped_file_is_the_scenario_the_cli_runs(path):
    assert parse(path.read_text()) == scenario.load(path)


def test_a_knob_on_a_field_completed_into_tasks_or_pools_drives_nothing():
    pools = scenario.load("scenarios/thumbnails_and_reports.toml")
    idle = {k.key for k in ALL_KNOBS if not drives(k.key, pools)}
    assert idle == {
        "service.mean",
        "service.cv",
        "workers.count",
        "workers.concurrency",
        "workers.prefetch_multiplier",
        "workers.cores",
        "failures.probability",
        "retry.max_retries",
        "retry.backoff",
    }
    assert all(drives(k.key, scenario.load("scenarios/mmc.toml")) for k in ALL_KNOBS)
    counts = pool_knobs(pools)
    assert [k.key for k in counts] == ["pools.fast.count", "pools.slow.count"]
    assert all(k.field.key == "workers.count" and k.bottom == 1 for k in counts)
