"""2 · Churn & model: churn definition preview, model settings form, Train, validation results."""

from __future__ import annotations

import time

import streamlit as st

from churn_app import charts
from churn_app.forms import label_widgets, model_widgets
from churn_app.results import show_results
from churn_app.state import CONFIG, LOG, RUN, record_run, runs_table, show_problems
from churn_core.errors import EventDataError
from churn_core.labels import label_summary, thin_data_warning
from churn_core.pipeline import train

st.title("Churn & model")
log = st.session_state[LOG]

st.subheader("1 · What churn means")
cfg = label_widgets(st.session_state[CONFIG], log.event_types)
st.session_state[CONFIG] = cfg
as_of = log.default_as_of()
labels = label_summary(log, cfg.label, as_of)
st.plotly_chart(charts.label_timeline(labels, log.start, as_of))
pos, rows = int(labels["churned"].sum()), int(labels["eligible"].sum())
c = st.columns(3)
c[0].metric("Labelled user-cutoff rows", f"{rows:,}")
c[1].metric("Churned (positive)", f"{pos:,}")
c[2].metric("Stayed (negative)", f"{rows - pos:,}")
if labels.empty:
    st.error("No cutoff fits: the log is shorter than the horizon. Use a shorter horizon.")
elif thin := thin_data_warning(labels):
    st.warning(thin)
with st.expander("Per-cutoff counts"):
    st.dataframe(labels, hide_index=True)

st.subheader("2 · Model")
with st.form("model_form"):
    new_cfg = model_widgets(cfg)
    submitted = st.form_submit_button("Train", type="primary")
if submitted:
    st.session_state[CONFIG] = new_cfg
    t0 = time.perf_counter()
    with st.status("Training…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def progress(stage: str, fraction: float) -> None:
            bar.progress(min(max(fraction, 0.0), 1.0), text=stage)

        try:
            run = train(log, new_cfg, progress=progress)
        except EventDataError as err:
            status.update(label="Training refused", state="error")
            show_problems(err.problems, "The model cannot be trained on this definition:")
        else:
            record_run(run, time.perf_counter() - t0)
            status.update(label=f"Trained in {time.perf_counter() - t0:.1f} s", state="complete")

run = st.session_state[RUN]
if run is None:
    st.info("Set the churn definition and model, then press **Train**.")
    st.stop()

st.subheader("3 · Results")
show_results(run)
st.subheader("Runs this session")
st.dataframe(runs_table(), hide_index=True)
