from sim.words import counted


def test_a_count_is_singular_for_one_only():
    assert [counted(n, "task") for n in (0, 1, 2)] == ["0 tasks", "1 task", "2 tasks"]
