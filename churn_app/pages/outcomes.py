"""Outcomes: what a campaign achieved, measured against its control group.

Widgets (the later events, the campaign file, the horizon) -> one core call
(``churn_core.outcome.outcome_report``) -> rendering. The session's last campaign goes through
the same bytes a download would hold, so it is graded exactly like its file.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from churn_app import campaign_charts
from churn_app.campaign_state import CAMPAIGN
from churn_app.state import (
    DATA_NAME,
    LOG,
    need_events_in_memory,
    session_upload,
    show_problems,
)
from churn_core.campaign_files import activity_events_from, read_export_bytes
from churn_core.errors import EventDataError
from churn_core.outcome import UPLIFT_METHOD, outcome_report


def shown(x: float, spec: str) -> str:
    """``x`` formatted, or ``n/a`` when it is not a number (e.g. no control group)."""
    return format(x, spec) if x == x else "n/a"


st.title("Outcomes")
st.caption(
    "Bring the events that happened after a campaign and the campaign file: the listed users "
    "who churned in the window after the campaign's as-of time, per risk tier and per group "
    "(treat / control), what the contact changed (control churn − treated churn), and how "
    "good the forecast turned out to be."
)

c = st.columns(2)
events_file = c[0].file_uploader(
    f"Later events (optional; default: the current data, {st.session_state[DATA_NAME]})",
    type=["csv", "gz", "parquet", "xlsx"],
    key="outcome_events",
    max_upload_size=200,
)
last = st.session_state.get(CAMPAIGN)
campaign_file = c[1].file_uploader(
    "Campaign file (optional; default: the last campaign of this session)"
    if last is not None
    else "Campaign file (.csv or .xlsx from the Campaign page or `python -m churn_core campaign`)",
    type=["csv", "xlsx"],
    key="outcome_campaign",
)
if campaign_file is None and last is None:
    st.info(
        "No campaign yet: plan one on the **Campaign** page (it is kept here for this "
        "session) or upload a campaign file."
    )
    st.stop()

try:
    if campaign_file is not None:
        meta, listed = read_export_bytes(campaign_file.getvalue(), campaign_file.name)
        source = campaign_file.name
    else:
        plan, planned_on = last
        meta, listed = read_export_bytes(plan.to_bytes("csv"), "campaign.csv")
        source = f"the last campaign of this session (planned on {planned_on})"
    if events_file is not None:
        log = session_upload(events_file, "outcome_events_log")  # per session, not cached
        events_name = events_file.name
    else:
        need_events_in_memory()
        log, events_name = st.session_state[LOG], st.session_state[DATA_NAME]
except EventDataError as err:
    show_problems(err.problems, "These files cannot be used:")
    st.stop()

default_h = int(float(meta.get("horizon_days", 0) or 0)) or 90
key = (source, default_h)
if st.session_state.get("outcome_horizon_for") != key:  # a new campaign: its own horizon
    st.session_state["outcome_horizon_for"] = key
    st.session_state["outcome_horizon"] = default_h
horizon = st.number_input(
    "Outcome window (days after the campaign's as-of time)", 1, 365, key="outcome_horizon"
)
try:
    report = outcome_report(
        log,
        listed,
        meta,
        horizon_days=int(horizon),
        activity_events=activity_events_from(meta),
    )
except EventDataError as err:
    show_problems(err.problems, "The outcome cannot be measured yet:")
    st.stop()

end = report.as_of + pd.Timedelta(days=report.horizon_days)
st.caption(
    f"Campaign: {source}, as of {report.as_of:%Y-%m-%d}. Events: {events_name}. "
    f"Window {report.as_of:%Y-%m-%d} to {end:%Y-%m-%d} ({report.horizon_days} days); a listed "
    "user churned when they had no qualifying activity in it."
)
est, lo, hi = report.uplift
inc = report.incremental
m = st.columns(3) + st.columns(3)
m[0].metric("Listed users graded", f"{len(report.users):,}")
m[1].metric("Realised churn", f"{report.users['churned'].mean():.1%}")
m[2].metric(
    "Uplift (control − treated churn)",
    shown(est, "+.1%"),
    f"95 % CI [{lo:+.1%}, {hi:+.1%}]" if lo == lo else "needs treat and control users",
    "off",
    help=UPLIFT_METHOD,
    delta_arrow="off",
)
m[3].metric(
    "Incremental value",
    shown(inc["value"], ",.2f"),
    f"net of contact cost {inc['net']:,.2f}" if inc["net"] == inc["net"] else None,
    "off",
    help="uplift × the value of the treated users (as the plan valued them)",
    delta_arrow="off",
)
m[4].metric("Realised ROC AUC", shown(report.roc_auc, ".3f"))
m[5].metric("Realised PR AUC", shown(report.pr_auc, ".3f"))
if inc["value"] == inc["value"]:
    st.caption(
        f"Incremental churners kept: {inc['churners']:,.1f} "
        f"(95 % CI {inc['churners_ci_low']:,.1f} to {inc['churners_ci_high']:,.1f}); incremental "
        f"value 95 % CI {inc['value_ci_low']:,.2f} to {inc['value_ci_high']:,.2f}. The ROC and PR "
        "AUC are over all graded users (treated ones were nudged: read them with that in mind)."
    )
for why, n in report.excluded.items():
    st.caption(f"Not counted: {n:,} listed users ({why}).")

st.subheader("Realised churn per risk tier and group")
left, right = st.columns(2)
left.plotly_chart(
    campaign_charts.realised_churn(report.by_tier, "risk_tier", "Realised churn per risk tier")
)
right.plotly_chart(
    campaign_charts.realised_churn(report.by_group, "group", "Realised churn per group")
)
left, right = st.columns(2)
left.plotly_chart(campaign_charts.calibration_deciles(report.calibration))
with right:
    st.markdown("**Per risk tier**")
    st.dataframe(report.by_tier, hide_index=True, key="outcome_by_tier")
    st.markdown("**Per group**")
    st.dataframe(report.by_group, hide_index=True, key="outcome_by_group")
    st.markdown("**Calibration per decile**")
    st.dataframe(report.calibration, hide_index=True, key="outcome_calibration")

st.session_state["outcome_report"] = report
stem = f"outcome_{report.as_of:%Y-%m-%d}_{report.horizon_days}d"
c = st.columns(2)
c[0].download_button(
    "Download outcome report CSV",
    report.to_bytes("csv"),
    f"{stem}.csv",
    "text/csv",
    key="dl_outcome_csv",
    on_click="ignore",
    type="primary",
)
c[1].download_button(
    "Download outcome report XLSX",
    report.to_bytes("xlsx"),
    f"{stem}.xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    key="dl_outcome_xlsx",
    on_click="ignore",
)
