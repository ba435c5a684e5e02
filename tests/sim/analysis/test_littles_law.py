"""Little's law on a run so far, on small traces whose answers can be worked out by hand."""

import pytest

from sim.analysis import monitor
from sim.analysis.littles_law import little
from sim.rules.states import PENDING, SUCCESS
from sim.trace import Recorder
from tests.sim.analysis.helpers import run


def test_littles_law_on_the_run_so_far():
    trace = run()  # now 7.5; sent 0, 0, 5, 2; ended 6 and 4
    law = little(trace, monitor.task_times(trace))
    assert law.arrival_rate == pytest.approx(4 / 7.5)
    assert law.sojourn_mean == pytest.approx(5.0)
    assert law.in_system_mean == pytest.approx((6 + 4 + 2.5 + 5.5) / 7.5)  # open ones until now
    r = Recorder(("w1",))
    for task, state, t in [(0, PENDING, 0.0), (1, PENDING, 1.0), (0, SUCCESS, 2.0)]:
        r.add(task, 0, state, t, 0)
    r.add(1, 0, SUCCESS, 4.0, 0)
    done = r.trace()
    law = little(done, monitor.task_times(done))
    assert law.in_system_mean == pytest.approx(law.predicted)  # complete: L = λW exactly
