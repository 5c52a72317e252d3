"""Campaign: size a retention campaign on the profit curve, with control group and actions.

Widgets -> one core call (``churn_core.campaign.build_campaign``, cached per run and inputs)
-> rendering. Every number shown is a field of the plan, whose CSV/XLSX download carries the
listed users and the same figures in its metadata.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from churn_app import campaign_charts
from churn_app.campaign_state import (
    CAMPAIGN,
    campaign_inputs,
    chosen_size,
    plan_for,
    summary_metrics,
)
from churn_app.state import (
    CONFIG,
    DATA_NAME,
    LOG,
    need_events_in_memory,
    need_run,
    show_problems,
)
from churn_core.campaign import ITEM_COLUMNS
from churn_core.errors import EventDataError
from churn_core.reasons import REASON_COLUMNS

st.title("Campaign")
run = need_run()
need_events_in_memory()
st.caption(
    f"Plan a retention campaign from the scores as of {run.metadata()['as_of']} "
    f"(model {run.metadata()['model']}, {run.config.label.horizon_days}-day horizon). "
    "Users are ranked best first; a random control group per risk tier is held out and not "
    "contacted, so the Outcomes page can measure what the contact changed."
)

try:
    inputs = campaign_inputs(st.session_state[CONFIG].campaign, run.has_amount)
except (EventDataError, ValueError) as err:
    problems = err.problems if isinstance(err, EventDataError) else [str(err)]
    show_problems(problems, "These campaign inputs cannot be used:")
    st.stop()
st.session_state[CONFIG] = replace(st.session_state[CONFIG], campaign=inputs.config)

try:
    base = plan_for(run, st.session_state[LOG], inputs.config)
    size = chosen_size(base, inputs)
    plan = (
        base
        if size == base.size
        else plan_for(run, st.session_state[LOG], replace(inputs.config, size=size))
    )
except EventDataError as err:
    show_problems(err.problems, "The campaign cannot be planned:")
    st.stop()
st.session_state[CAMPAIGN] = (plan, st.session_state[DATA_NAME])

summary = plan.summary()
st.plotly_chart(campaign_charts.profit_curve(plan.curve, plan.suggested_size, plan.size))
metrics = summary_metrics(summary)
for row in (metrics[:3], metrics[3:]):
    for col, (label, value, helptext) in zip(st.columns(3), row, strict=True):
        col.metric(label, value, help=helptext)
st.caption(
    f"{int(summary['treated']):,} to contact (treat) and {int(summary['control']):,} held out "
    f"(control, not contacted, cost nothing). Profit-maximising size: "
    f"{plan.suggested_size:,}"
    + (
        f"; the budget allows at most {plan.max_size:,}."
        if plan.max_size < len(base.curve) - 1
        else "."
    )
    + f" Value of a saved churner: {plan.metadata['value']}."
)
for note in plan.notes:
    st.caption(note)

st.subheader("The list")
users = plan.users
if len(users):
    actions = users.groupby(["action", "group"]).size().unstack(fill_value=0)
    st.dataframe(actions, key="campaign_actions")
shown = [
    c
    for c in (
        "user_id",
        "group",
        "churn_probability",
        "risk_tier",
        "action",
        "expected_profit",
        *REASON_COLUMNS,
        *ITEM_COLUMNS,
        "value_at_risk",
    )
    if c in users
]
st.dataframe(
    users[shown].head(1000),
    hide_index=True,
    height=420,
    key="campaign_list",
    column_config={
        "churn_probability": st.column_config.ProgressColumn(
            "churn probability", min_value=0.0, max_value=1.0, format="%.3f"
        ),
        "expected_profit": st.column_config.NumberColumn("expected profit", format="%.2f"),
        "value_at_risk": st.column_config.NumberColumn("value at risk", format="%.2f"),
    },
)
if len(users) > 1000:
    st.caption(f"The first 1,000 of {len(users):,} listed users; the download has them all.")

stem = f"campaign_{plan.metadata.get('as_of', '')[:10] or 'plan'}"
c = st.columns(2)
c[0].download_button(
    "Download campaign CSV",
    plan.to_bytes("csv"),
    f"{stem}.csv",
    "text/csv",
    key="dl_campaign_csv",
    on_click="ignore",
    type="primary",
)
c[1].download_button(
    "Download campaign XLSX",
    plan.to_bytes("xlsx"),
    f"{stem}.xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    key="dl_campaign_xlsx",
    on_click="ignore",
)
