"""The app's download helpers."""

import plotly.graph_objects as go

from ui.widgets import figure_html


def test_a_chart_download_opens_offline():
    html = figure_html(go.Figure(go.Scatter(x=[0, 1], y=[1, 2])))
    assert "<script src=" not in html  # no library fetched from a CDN
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js itself is inside
