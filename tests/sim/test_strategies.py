"""The Hypothesis strategies draw from the fields' declarations and stay inside them."""

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from sim.fields import ScenarioError
from sim.scenario import ARRIVAL_PROCESSES, FIELD_BY_KEY, SERVICE_DISTS
from sim.strategies import PIECES, field_values, hostile_scenarios, piecewise_rates, scenarios


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


@pytest.mark.parametrize(
    ("key", "value"),
    [("service.dist", d) for d in SERVICE_DISTS if d != "empirical"]
    + [("arrivals.process", p) for p in ("renewal", "piecewise", "cycle")]
    + [("arrivals.dist", "pareto")],
)
def test_generated_scenarios_reach_every_distribution_and_process(key, value):
    """Every service distribution but empirical (it needs a sample), and renewal arrivals
    (a gap distribution is read, so kept, only there), and rates that vary over time."""
    found = find(
        scenarios(),
        lambda sc: sc.get(key) == value,
        settings=settings(
            phases=[Phase.generate], database=None, max_examples=1000, derandomize=True
        ),
    )
    assert found.get(key) == value


@given(st.floats(1e-6, 1e6).flatmap(lambda mean: st.tuples(st.just(mean), piecewise_rates(mean))))
def test_piecewise_rates_average_their_mean_with_a_piece_above_0(drawn):
    mean, rates = drawn
    assert 1 <= len(rates) <= PIECES and max(rates) > 0 and min(rates) >= 0
    assert sum(rates) / len(rates) == pytest.approx(mean, rel=1e-9)
