"""queuelab in the browser: ``streamlit run app.py``. Simulation needs no Redis."""

import streamlit as st

from ui import compare, explore, learn, live

st.set_page_config(page_title="queuelab", layout="wide")
st.sidebar.title("queuelab")
PAGES = {"Explore": explore.page, "Live": live.page, "Compare": compare.page, "Learn": learn.page}
asked = st.query_params.get("page")  # in the address, so a reload stays on the page
names = list(PAGES)
choice = st.sidebar.radio(
    "Page", names, index=names.index(asked) if asked in names else 0, key="page"
)
st.query_params["page"] = choice
PAGES[choice]()
