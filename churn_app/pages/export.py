"""5 · Export: the retention target list as CSV and XLSX (downloads keep all state)."""

from __future__ import annotations

import streamlit as st

from churn_app.state import need_run
from churn_app.targeting import RULES, SCORE_FORMATS, current_targets, policy_kwargs
from churn_core.targets import TIERS, TargetList

st.title("Export")
run = need_run()
rule, kwargs = policy_kwargs(run)
st.caption(f"Policy from the At-risk page: {RULES[rule]}. Change it there.")
base = current_targets(run)
tiers = st.multiselect("Risk tiers to include", TIERS, list(TIERS), key="export_tiers")
users = base.users.loc[base.users["risk_tier"].isin(tiers)].reset_index(drop=True)
targets = TargetList(users, {**base.metadata, "policy": RULES[rule]})
st.metric("Users in the list", f"{len(users):,}")
PREVIEW_ROWS = 200
st.dataframe(
    targets.with_metadata_columns().head(PREVIEW_ROWS),
    hide_index=True,
    column_config={c: st.column_config.NumberColumn(c, format=f) for c, f in SCORE_FORMATS.items()},
)
if len(users):
    st.caption(
        f"The first {min(PREVIEW_ROWS, len(users)):,} of {len(users):,} rows, rounded for "
        "reading; the downloads hold every row at full precision."
    )
else:
    st.caption("No users in the list: widen the risk tiers here or the policy on the At-risk page.")
c = st.columns(2)
c[0].download_button(
    "Download CSV",
    targets.to_csv(),
    "churn_targets.csv",
    "text/csv",
    key="dl_csv",
    on_click="ignore",
    type="primary",
)
c[1].download_button(
    "Download XLSX",
    targets.to_xlsx(),
    "churn_targets.xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    key="dl_xlsx",
    on_click="ignore",
)
