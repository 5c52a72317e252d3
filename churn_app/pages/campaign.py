"""Campaign: size a retention campaign on the profit curve, with control group and actions."""

from __future__ import annotations

import streamlit as st

from churn_app.state import need_run

st.title("Campaign")
run = need_run()
