"""Small Streamlit helpers the pages share."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st


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


def little_metrics(rate: float, sojourn: float, in_system: float, gap: float | None = None) -> None:
    """Little's law as four figures, L beside λ·W (Learn teaches it, the Live page checks it)."""
    cols = st.columns(4)
    cols[0].metric("L (time-average in system)", f"{in_system:.3g}")
    cols[1].metric("λ (tasks per s)", f"{rate:.3g}/s")
    cols[2].metric("W (mean sojourn)", f"{sojourn:.3g} s")
    gap_said = f"gap {gap:.2%}" if gap is not None else None
    cols[3].metric("λ·W", f"{rate * sojourn:.3g}", delta=gap_said, delta_color="off")


def figure_html(fig: go.Figure) -> str:
    """A chart as a self-contained page: plotly.js embedded, so it opens offline."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


def export_trace(trace, name: str) -> None:
    """Download buttons for a run's trace, as CSV and as Parquet, each made when clicked."""
    c1, c2 = st.columns(2)
    c1.download_button(
        f"{name} trace (CSV)",
        lambda: trace.to_bytes("csv"),
        f"{name}.csv",
        "text/csv",
        key=f"csv-{name}",
        on_click="ignore",
    )
    c2.download_button(
        f"{name} trace (Parquet)",
        lambda: trace.to_bytes("parquet"),
        f"{name}.parquet",
        key=f"parquet-{name}",
        on_click="ignore",
    )
