"""The scenario file `record` writes: observed fields only, the rest listed as assumed."""

import tomllib

from live.recorded_file import REPLACED_BY_FILES, scenario_text
from sim import scenario


def test_only_observed_fields_are_written_and_every_other_default_is_named():
    observed = {"name": "recorded", "workers.count": 2, "ack.late": True}
    text = scenario_text(observed, ["observed: 3 tasks/s over 60 s"])
    assert tomllib.loads(text) == {
        "name": "recorded",
        "workers": {"count": 2},
        "ack": {"late": True},
    }
    assert scenario.loads(text).workers.count == 2
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert "# observed: 3 tasks/s over 60 s" in comments
    assert any(line.startswith("#   retry.jitter = true  (") for line in comments)
    assert not any("ack.late =" in line or "seed =" in line for line in comments)
    assert max(map(len, comments)) <= 100


def test_the_fields_the_data_files_replace_exist():
    assert set(REPLACED_BY_FILES) <= set(scenario.FIELD_BY_KEY)


def test_a_field_every_task_type_or_pool_sets_is_not_assumed():
    observed = {
        "tasks": [
            {"name": "a", "service": {"file": "a.csv"}, "retry": {"max_retries": 0}},
            {"name": "b", "service": {"file": "b.csv"}},
        ],
        "pools": [{"name": "a", "count": 1}, {"name": "b", "count": 2}],
    }
    comments = scenario_text(observed, []).splitlines()
    assert not any(line.startswith(("#   workers.count", "#   service.file")) for line in comments)
    assert any(line.startswith("#   retry.max_retries = 3") for line in comments)  # b's
