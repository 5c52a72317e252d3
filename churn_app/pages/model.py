"""2 · Churn & model: churn definition preview, model settings form, Train, validation results."""

from __future__ import annotations

import streamlit as st

from churn_app import background, charts
from churn_app.forms import label_widgets, model_widgets
from churn_app.results import show_results
from churn_app.state import CONFIG, DATA_NAME, LOG, RUN, runs_table, show_problems
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
    background.request(
        "train",
        "Training",
        lambda progress, log=log, cfg=new_cfg: train(log, cfg, progress=progress),
        log=log,
        data_name=st.session_state[DATA_NAME],
    )
background.confirm_box("train")
problems = background.job_problems("train")
if isinstance(problems, list):
    show_problems(problems, "The model cannot be trained on this definition:")
elif problems is not None:
    st.error("Training stopped on an internal error (a bug, not your data):")
    st.exception(problems.error)
if background.workspace().running("train"):
    st.info("Training runs in the background (progress in the sidebar): switch pages freely.")

run = st.session_state[RUN]
if run is None:
    st.info("Set the churn definition and model, then press **Train**.")
    st.stop()

st.subheader("3 · Results")
show_results(run)
st.subheader("Runs this session")
st.dataframe(runs_table(), hide_index=True)
