"""The app's download helpers."""

import plotly.graph_objects as go

from ui.widgets import figure_html


def test_a_chart_download_opens_offline():
    html = figure_html(go.Figure(go.Scatter(x=[0, 1], y=[1, 2])))
    assert "<script src=" not in html  # no library fetched from a CDN
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js itself is inside


def test_a_cached_function_moves_a_progress_bar_and_a_cache_hit_replays_none_of_it():
    """The bar made outside a cached function moves while it computes; the next run, a cache
    hit, neither calls back nor fails replaying updates on a bar made outside the function
    (which Streamlit raises as a CacheReplayClosureError)."""
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from ui.widgets import progress_bar

        @st.cache_data(show_spinner=False)
        def work(n: int, _progress=None) -> int:
            for done in range(1, n + 1):
                _progress(done, n)
            return n

        calls = []
        with progress_bar("Working:") as report:
            work(3, lambda done, total: (calls.append(done), report(done, total)))
        st.session_state.setdefault("calls", []).append(calls)

    at = AppTest.from_function(script)
    at.run()
    at.run()
    assert not at.exception
    assert at.session_state["calls"] == [[1, 2, 3], []]
    assert not at.get("progress")  # emptied once the work is done


def test_a_time_under_a_millisecond_is_said_as_a_bound_not_in_exponent_notation():
    from sim.words import seconds

    assert seconds(5.03e-78) == "< 0.001 s"
    assert seconds(0.0) == "0 s"  # a wait that did not happen is exactly none
    assert seconds(0.001) == "0.001 s"
    assert seconds(0.00798) == "0.00798 s"
    assert seconds(2.994) == "2.99 s"
    assert seconds(3731.4) == "3,731 s"  # not 3.73e+03 s
