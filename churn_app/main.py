"""The dashboard's entry: page config, session defaults, navigation and the sidebar.

``app.py`` (``streamlit run app.py``) and ``churn_app/streamlit_app.py`` (``churn app``, from
an installed package) both call :func:`main` on every rerun.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from churn_app import background
from churn_app.state import (
    DATA_NAME,
    LOG,
    RUN,
    init_state,
    take_explanation,
    take_run,
    take_source,
)

PAGES_DIR = Path(__file__).parent / "pages"
# (file, title, icon); the first is the default page
PAGE_SPECS = (
    ("data.py", "Data", ":material/upload_file:"),
    ("model.py", "Churn & model", ":material/model_training:"),
    ("at_risk.py", "At-risk users", ":material/warning:"),
    ("campaign.py", "Campaign", ":material/campaign:"),
    ("explanations.py", "Explanations", ":material/insights:"),
    ("export.py", "Export", ":material/download:"),
    ("outcomes.py", "Outcomes", ":material/fact_check:"),
)


def page(file: str) -> st.Page:
    """The navigation page for ``file`` (e.g. ``"model.py"``), for ``st.page_link``."""
    spec = next(s for s in PAGE_SPECS if s[0] == file)
    return st.Page(PAGES_DIR / spec[0], title=spec[1], icon=spec[2], default=spec is PAGE_SPECS[0])


def main() -> None:
    st.set_page_config(
        page_title="Churn early warning", page_icon=":material/trending_down:", layout="wide"
    )
    init_state()
    background.collect(
        take_run, take_explanation, take_source
    )  # before the sidebar: it shows the new model
    nav = st.navigation([page(spec[0]) for spec in PAGE_SPECS])
    with st.sidebar:
        log = st.session_state[LOG]
        st.caption(f"**Data:** {st.session_state[DATA_NAME]}")
        st.caption(f"{log.n_users:,} users · {log.n_events:,} events")
        run = st.session_state[RUN]
        st.caption(
            "**Model:** " + (run.metadata()["model"] if run is not None else "not trained yet")
        )
        background.progress_panel()
    try:
        nav.run()
    finally:
        background.save_session()
