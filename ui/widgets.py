"""Small Streamlit helpers the pages share."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st


def download_figure(fig: go.Figure, name: str) -> None:
    """An HTML download under a chart (PNG is the camera button in the chart's own toolbar)."""
    st.download_button(
        f"Download {name} (HTML)",
        fig.to_html(include_plotlyjs="cdn"),
        f"{name}.html",
        "text/html",
        key=f"dl-{name}",
    )


def export_trace(trace, name: str) -> None:
    """Download buttons for a run's trace, as CSV and as Parquet."""
    c1, c2 = st.columns(2)
    c1.download_button(
        f"{name} trace (CSV)", trace.to_bytes("csv"), f"{name}.csv", "text/csv", key=f"csv-{name}"
    )
    c2.download_button(
        f"{name} trace (Parquet)",
        trace.to_bytes("parquet"),
        f"{name}.parquet",
        key=f"parquet-{name}",
    )
