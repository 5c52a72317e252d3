"""4 · Explanations: global SHAP drivers and drivers per risk tier."""

from __future__ import annotations

import streamlit as st

from churn_app import charts
from churn_app.state import EXPLANATION, LOG, need_run
from churn_app.targeting import explanation_for
from churn_core.explain import explain_run

st.title("Explanations")
run = need_run()
exp = explanation_for(run)
if exp is None:
    st.write("SHAP values for the scored users (first use takes about 10–20 s).")
    max_users = st.number_input(
        "Users to explain (riskiest first, 0 = all)", 0, 100_000, 2000, key="explain_users"
    )
    if st.button("Compute explanations", type="primary", key="explain"):
        with st.status("Explaining…", expanded=True) as status:
            bar = st.progress(0.0, text="starting")
            exp = explain_run(
                run,
                max_users=int(max_users) or None,
                log=st.session_state[LOG],
                progress=lambda s, f: bar.progress(min(max(f, 0.0), 1.0), text=s),
            )
            status.update(label="Explanations ready", state="complete")
        st.session_state[EXPLANATION] = (run, exp)
    else:
        st.stop()

left, right = st.columns(2)
drivers = exp.global_drivers()
left.plotly_chart(charts.drivers(drivers.head(15)))
tiers = run.scores.set_index("user_id")["risk_tier"]
by_tier = exp.drivers_by_tier(tiers)
top = [f for f in drivers["factor"].head(15) if f in by_tier.columns]
right.plotly_chart(charts.drivers_by_tier(by_tier[top].T))
st.plotly_chart(charts.beeswarm(exp.values, exp.data, list(drivers["factor"].head(10))))
st.dataframe(drivers, hide_index=True)
