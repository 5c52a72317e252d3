"""3 · At-risk users: policy re-ranks stored scores; headline numbers, table, drill-down."""

from __future__ import annotations

import streamlit as st

from churn_app import charts
from churn_app.campaign_state import recommended_for
from churn_app.state import LOG, need_events_in_memory, need_run
from churn_app.targeting import SCORE_FORMATS, current_targets, explanation_for, policy_widgets

st.title("At-risk users")
run = need_run()
st.caption(
    f"Scores as of {run.metadata()['as_of']} · model {run.metadata()['model']} · "
    + run.tier_legend()
)
policy_widgets(run)
targets = current_targets(run)
head = targets.headline()
c = st.columns(4)
flagged, scored = f"{int(head['flagged']):,}", f"of {len(run.scores):,}"
c[0].metric("Users flagged", flagged, scored, "off", delta_arrow="off")
c[1].metric("Expected churners among them", f"{head['expected_churners']:,.0f}")
c[2].metric("Expected false alarms", f"{head['expected_false_alarms']:,.0f}")
if "value_at_risk" in head:
    c[3].metric("Value at risk (horizon)", f"{head['value_at_risk']:,.0f}")

query = st.text_input("Search user id", key="search", placeholder="e.g. 12345")
users = targets.users
if query:
    users = users.loc[users["user_id"].str.contains(query.strip(), case=False, regex=False)]
st.dataframe(
    users,
    hide_index=True,
    height=420,
    column_config={
        "churn_probability": st.column_config.ProgressColumn(
            "churn probability",
            min_value=0.0,
            max_value=1.0,
            format=SCORE_FORMATS["churn_probability"],
        ),
        "percentile": st.column_config.NumberColumn(
            "percentile", format=SCORE_FORMATS["percentile"]
        ),
        "days_since_last_event": st.column_config.NumberColumn(
            "days since last", format=SCORE_FORMATS["days_since_last_event"]
        ),
        "value_at_risk": st.column_config.NumberColumn(
            "value at risk", format=SCORE_FORMATS["value_at_risk"]
        ),
    },
    key="at_risk_table",
)


@st.fragment
def drill_down() -> None:
    """One user's event timeline and explanation (reruns only this fragment)."""
    st.subheader("One user")
    need_events_in_memory()
    ids = users["user_id"].head(500).tolist() or run.scores["user_id"].head(500).tolist()
    uid = st.selectbox("User", ids, key="drill_user")
    if uid is None:
        return
    st.markdown(run.describe_user(uid))
    items = recommended_for(run, st.session_state[LOG], uid)
    if items:
        st.markdown("**Recommended items:** " + ", ".join(f"`{i}`" for i in items))
    frame = st.session_state[LOG].frame
    st.plotly_chart(charts.user_timeline(frame.loc[frame["user_id"] == uid]))
    exp = explanation_for(run)
    if exp is None:
        st.caption("Compute explanations on the Explanations page to see why this user is at risk.")
    elif uid in exp.values.index.astype(str):
        wf = exp.waterfall(uid)
        st.plotly_chart(charts.waterfall(wf.head(10), float(wf.attrs["base_value"])))
        st.caption(f"Contributions in {exp.units}; the ten largest factors are shown.")


drill_down()
