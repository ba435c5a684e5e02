"""The Live page's monitor through AppTest, on a run whose trace the test shapes."""

import pytest

from tests.ui.helpers import live_page_showing, simulated_run, table


@pytest.mark.live  # the Live page draws runs only where Celery and redis-server are
def test_a_task_that_never_ends_is_flagged_stuck(monkeypatch):
    from sim.rules.states import PENDING
    from sim.trace import Trace

    session = simulated_run()
    t = session.result
    keep = (t.task != 0) | (t.state == PENDING)  # task 0 is sent and never heard of again
    cut = Trace(t.task[keep], t.attempt[keep], t.state[keep], t.t[keep], t.worker[keep], t.workers)
    session.results[:] = [cut]
    at = live_page_showing(session, monkeypatch)
    assert any(e.label.startswith("Stuck tasks (") for e in at.expander)
    at.number_input(key="live-stuck-factor").set_value(1.0).run()
    assert [w.value for w in at.warning if "stuck" in w.value][0].startswith("1 task stuck")
    assert list(table(at, "last state")["last state"]) == ["PENDING"]
    assert any(e.label == "Stuck tasks (1)" for e in at.expander)
