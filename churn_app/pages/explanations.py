"""4 · Explanations: global SHAP drivers and drivers per risk tier."""

from __future__ import annotations

import streamlit as st

from churn_app import background, charts
from churn_app.state import LOG, need_events_in_memory, need_run, show_problems
from churn_app.targeting import explanation_for
from churn_core.explain import explain_run

st.title("Explanations")
run = need_run()
need_events_in_memory()
exp = explanation_for(run)
if exp is None:
    st.write("SHAP values for the scored users (first use takes about 10–20 s).")
    max_users = st.number_input(
        "Users to explain (riskiest first, 0 = all)", 0, 100_000, 2000, key="explain_users"
    )
    if st.button("Compute explanations", type="primary", key="explain"):
        log = st.session_state[LOG]
        background.request(
            "explain",
            "Explaining",
            lambda progress, run=run, n=int(max_users) or None, log=log: explain_run(
                run, max_users=n, log=log, progress=progress
            ),
            run=run,
        )
    background.confirm_box("explain")
    problems = background.job_problems("explain")
    if isinstance(problems, list):
        show_problems(problems, "The explanations could not be computed:")
    elif problems is not None:
        st.error("Explaining stopped on an internal error (a bug, not your data):")
        st.exception(problems.error)
    if background.workspace().running("explain"):
        st.info("Explaining in the background (progress in the sidebar): switch pages freely.")
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
