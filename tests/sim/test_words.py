from sim.words import counted


def test_a_count_is_singular_for_one_only():
    assert [counted(n, "task") for n in (0, 1, 2)] == ["0 tasks", "1 task", "2 tasks"]


def test_a_scenarios_workers_are_said_per_pool_where_it_has_pools():
    from sim import scenario
    from sim.words import workers_said

    assert workers_said(scenario.load("scenarios/mmc.toml")) == "4 workers"
    pools = scenario.load("scenarios/thumbnails_and_reports.toml")
    assert workers_said(pools) == "fast 4 + slow 3 workers"
