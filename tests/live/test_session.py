"""Live sessions (the app's background runs) on a real redis-server with real Celery workers."""

import time

import pytest

from live.session import LiveSession
from sim import scenario

pytestmark = pytest.mark.live


def test_a_stopped_session_starts_none_of_its_later_scenarios(no_leftovers):
    """A lesson's live run is two scenarios one after another: Stop during the first ended it,
    then booted and ran the second (seen in Chromium: "side 2 of 2" 8 s after Stop)."""
    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=200"])
    session = LiveSession((sc, sc), 0.05)
    session.start()
    deadline = time.monotonic() + 120
    while (session.latest is None or not len(session.latest)) and time.monotonic() < deadline:
        time.sleep(0.1)
    session.finish(timeout=120)
    assert not session.running and session.error is None
    assert len(session.results) == 1 and len(session.results[0]) < 4 * 200
