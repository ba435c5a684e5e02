"""Helpers the app tests share: a Live page showing a given run, and its tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def table(at, column: str):
    """The shown table that has ``column`` (st.dataframe elements carry no key in AppTest)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def live_page_showing(session, monkeypatch) -> AppTest:
    """A fresh app on the Live page with ``session`` as its latest run."""
    from ui import live as live_page

    monkeypatch.setattr(live_page, "_LATEST", [session])
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.sidebar.radio(key="page").set_value("Live").run()
    assert not at.exception, at.exception
    return at


def simulated_run(**changes):
    """A Live-page session holding a trace: a simulated one stands in for the live run, since
    these tests are about what the page shows, not about Celery."""
    from sim import scenario
    from sim.engine.model import simulate
    from ui import live as live_page

    sc = scenario.load("scenarios/mmc.toml", ["run.tasks=60"])
    return live_page.LiveSession((sc,), 0.05, results=[simulate(sc)], **changes)


def run_so_far(
    seconds: float = 7.0, path: str = "scenarios/thumbnails_and_reports.toml", tasks: int = 80
):
    """``path`` (thumbnails_and_reports, 80 tasks) simulated and cut ``seconds`` in, as a live
    run's trace stands then: (scenario, trace) with the tasks sent by then, some queued with no
    worker yet, some running with no end, and the capacity rows sampled by then."""
    import dataclasses

    from sim import scenario
    from sim.engine.model import simulate

    sc = scenario.load(path, [f"run.tasks={tasks}"])
    t = simulate(sc)
    keep = t.t <= seconds
    columns = {c: getattr(t, c)[keep] for c in ("task", "attempt", "state", "t", "worker")}
    sent = int(columns["task"].max()) + 1
    type_of = None if t.type_of is None else t.type_of[:sent]  # None: a single task type
    capacity = tuple(row for row in t.capacity if row[0] <= seconds)
    return sc, dataclasses.replace(t, type_of=type_of, capacity=capacity, **columns)


@contextmanager
def going(sc, trace) -> Iterator:
    """A Live-page session of ``sc`` going on, ``trace`` its rows so far, until the block ends."""
    import threading

    from ui import live as live_page

    release = threading.Event()
    session = live_page.LiveSession(
        (sc,), 0.05, latest=trace, thread=threading.Thread(target=release.wait, daemon=True)
    )
    session.thread.start()
    try:
        yield session
    finally:
        release.set()
        session.thread.join()
