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
