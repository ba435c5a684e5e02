"""Small Streamlit helpers the pages share."""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from collections.abc import Callable, Iterator

import plotly.graph_objects as go
import streamlit as st

from sim.trace import Trace
from sim.words import seconds

Progress = Callable[[int, int], None]  # done, total: what sim's simulate and sweep report
# every table's empty cell (a time a task has not reached, a worker it has none of yet): by
# default Streamlit writes "None" there, a Python word the reader of a table should not meet
EMPTY = "–"


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Progress]:
    """A progress bar for long work, where a spinner would say nothing of how long; the callback
    it yields goes to a cached function as an unhashed ``_progress`` argument. The bar is moved
    in the context it was made in, outside the cache's capture of the function's elements: a
    cache hit then neither replays stale updates nor fails on a bar made outside it (Streamlit
    replays what a cached function draws). A hit never calls back, so no bar is seen."""
    slot = st.empty()
    outside = contextvars.copy_context()
    shown = [-math.inf]  # when the bar last moved: a tenth of a second apart is smooth enough

    def report(done: int, total: int) -> None:
        if time.monotonic() - shown[0] < 0.1:
            return
        shown[0] = time.monotonic()
        outside.run(slot.progress, done / max(total, 1), text=f"{label} {done:,} of {total:,}")

    try:
        yield report
    finally:
        slot.empty()


def share(progress: Progress | None, index: int, parts: int) -> Progress | None:
    """The callback for part ``index`` (from 0) of ``parts`` equal runs reported as one bar."""
    if progress is None:
        return None
    return lambda done, total: progress(index * total + done, parts * total)


@st.fragment(run_every=1.0)
def rerun_when_over(session) -> None:
    """Redraw the whole page once ``session`` (a ``LiveSession``) has ended: what is drawn
    outside the parts that refresh (a Start button disabled while another page's run goes on,
    the notice that it does) stayed as it was until the next click or reload."""
    if not session.running:
        st.rerun(scope="app")


def download_figure(fig: go.Figure, name: str) -> None:
    """An HTML download under a chart (PNG is the camera button in the chart's own toolbar),
    made only when clicked: a page of charts does not build megabytes on every rerun."""
    title = fig.layout.title.text or name
    st.download_button(
        f"Download “{title}” (HTML)",
        lambda: figure_html(fig),
        f"{name}.html",
        "text/html",
        key=f"dl-{name}",
        on_click="ignore",
    )


def little_metrics(
    rate: float,
    sojourn: float,
    in_system: float,
    gap: float | None = None,
    rate_said: str = "measured throughput, tasks per s",
) -> None:
    """Little's law as four figures, L beside λ·W (Learn teaches it, the Live page checks it);
    ``rate_said`` says what λ is: Learn's complete run's throughput, the Live page's tasks sent
    so far (which runs ahead of the tasks ended while some are open)."""
    cols = st.columns(4)
    cols[0].metric("L (time-average in system)", f"{in_system:.3g}")
    cols[1].metric(f"λ ({rate_said})", f"{rate:.3g}/s")
    cols[2].metric("W (mean sojourn)", seconds(sojourn))
    gap_said = f"gap {gap:.2%}" if gap is not None else None  # no arrow: a gap has no direction
    cols[3].metric(
        "λ·W", f"{rate * sojourn:.3g}", delta=gap_said, delta_color="off", delta_arrow="off"
    )


def figure_html(fig: go.Figure) -> str:
    """A chart as a self-contained page: plotly.js embedded, so it opens offline."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


def export_trace(trace: Callable[[], Trace], name: str) -> None:
    """Download buttons for a run's trace (``trace()`` gives it), as CSV and as Parquet, each
    made when clicked: Explore keeps no trace, so its ``trace`` simulates the run again."""
    c1, c2 = st.columns(2)
    c1.download_button(
        f"{name} trace (CSV)",
        lambda: trace().to_bytes("csv"),
        f"{name}.csv",
        "text/csv",
        key=f"csv-{name}",
        on_click="ignore",
    )
    c2.download_button(
        f"{name} trace (Parquet)",
        lambda: trace().to_bytes("parquet"),
        f"{name}.parquet",
        key=f"parquet-{name}",
        on_click="ignore",
    )
