"""queuelab in the browser: ``streamlit run app.py``. Simulation needs no Redis."""

import streamlit as st

from ui import compare, explore, learn, live
from ui.scenario_input import IN_ADDRESS

st.set_page_config(page_title="queuelab", layout="wide")
st.sidebar.title("queuelab")
PAGES = {"Explore": explore.page, "Live": live.page, "Compare": compare.page, "Learn": learn.page}
# Bound to the address, so a reload stays on the page. Never written with st.query_params: that
# sends the server's whole copy of the address, which lags a slider moved during a rerun.
choice = st.sidebar.radio("Page", list(PAGES), key="page", bind=IN_ADDRESS)
PAGES[choice]()
