"""queuelab in the browser: ``streamlit run app.py``. Simulation needs no Redis."""

import streamlit as st

from ui import compare, explore, learn, live

st.set_page_config(page_title="queuelab", layout="wide")
st.sidebar.title("queuelab")
PAGES = {"Explore": explore.page, "Live": live.page, "Compare": compare.page, "Learn": learn.page}
choice = st.sidebar.radio("Page", list(PAGES), key="page")
PAGES[choice]()
