"""The Hypothesis strategies draw from the fields' declarations and stay inside them."""

import pytest
from hypothesis import given

from sim.fields import ScenarioError
from sim.scenario import ARRIVAL_PROCESSES, FIELD_BY_KEY
from sim.strategies import field_values, hostile_scenarios, scenarios


def test_a_range_past_the_declaration_fails_when_the_strategy_is_made():
    with pytest.raises(ScenarioError, match="failures.probability = 2 is out of range"):
        field_values("failures.probability", 0, 2)
    with pytest.raises(ScenarioError, match="arrivals.process = 'fifo' is not allowed"):
        field_values("arrivals.process", among=("fifo",))


@given(field_values("arrivals.process", leave_out=("trace",)), field_values("seed"))
def test_choices_and_the_whole_range_come_from_the_declaration(process, seed):
    assert process in ARRIVAL_PROCESSES and process != "trace"
    assert FIELD_BY_KEY["seed"].within(seed) and isinstance(seed, int)


@given(scenarios(live=True), hostile_scenarios(max_tasks=50))
def test_drawn_scenarios_are_valid_and_live_ones_leave_out_sim_only_fields(live, hostile):
    assert live.workers.cores == 0 and live.workers.deploy_every == 0.0
    assert hostile.run.tasks <= 50
