"""Churn early-warning workbench: entry script (page config, session defaults, navigation)."""

from __future__ import annotations

import streamlit as st

from ui.state import DATA_NAME, LOG, RUN, init_state

st.set_page_config(
    page_title="Churn early warning", page_icon=":material/trending_down:", layout="wide"
)
init_state()

pages = [
    st.Page("pages/data.py", title="Data", icon=":material/upload_file:", default=True),
    st.Page("pages/model.py", title="Churn & model", icon=":material/model_training:"),
    st.Page("pages/at_risk.py", title="At-risk users", icon=":material/warning:"),
    st.Page("pages/explanations.py", title="Explanations", icon=":material/insights:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
]
nav = st.navigation(pages)

with st.sidebar:
    log = st.session_state[LOG]
    st.caption(f"**Data:** {st.session_state[DATA_NAME]}")
    st.caption(f"{log.n_users:,} users · {log.n_events:,} events")
    run = st.session_state[RUN]
    st.caption("**Model:** " + (run.metadata()["model"] if run is not None else "not trained yet"))

nav.run()
