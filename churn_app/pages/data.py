"""1 · Data: the current event log, upload with editable column mapping, report and profile."""

from __future__ import annotations

import streamlit as st

from churn_app import charts
from churn_app.forms import mapping_form
from churn_app.state import DATA_NAME, LOG, PROBLEMS, detect_mapping, show_problems, try_load
from churn_core.config import SchemaConfig
from churn_core.errors import EventDataError

st.title("Data")
st.caption("The bundled demo log is loaded at start. Upload your own CSV, CSV.gz or Parquet.")

upload = st.file_uploader(
    "Event log", type=["csv", "gz", "parquet", "xlsx"], key="upload", max_upload_size=200
)
if upload is None:
    st.session_state[PROBLEMS] = []  # problems belong to the file on screen
else:
    data = upload.getvalue()
    if st.session_state.get("upload_id") != upload.file_id:  # a new file: auto-detect and load
        st.session_state["upload_id"] = upload.file_id
        try_load(data, upload.name, SchemaConfig())
    try:
        columns, det = detect_mapping(data, upload.name)
    except EventDataError as err:
        columns = None
        st.session_state[PROBLEMS] = err.for_app()
    if columns is not None:
        schema = mapping_form(columns, det)
        if schema is not None:
            try_load(data, upload.name, schema)

if st.session_state[PROBLEMS]:
    show_problems(st.session_state[PROBLEMS], "This file cannot be used as it is:")
    st.caption(f"Still showing the previous data: {st.session_state[DATA_NAME]}.")

log = st.session_state[LOG]
st.subheader(f"Profile: {st.session_state[DATA_NAME]}")
m = st.columns(4)
m[0].metric("Users", f"{log.n_users:,}")
m[1].metric("Events", f"{log.n_events:,}")
m[2].metric("From", f"{log.start:%Y-%m-%d}")
m[3].metric("To", f"{log.end:%Y-%m-%d}", f"{(log.end - log.start).days} days", "off")

left, right = st.columns([1, 2])
with left:
    st.markdown("**Validation report**")
    st.markdown("\n".join(f"- {line}" for line in log.report.lines()))
    if log.report.dropped:
        st.dataframe(
            [{"reason": r, "rows dropped": n} for r, n in log.report.dropped], hide_index=True
        )
    st.markdown("**Events per type**")
    st.dataframe(log.frame["event_type"].value_counts().rename("events"))
with right:
    st.plotly_chart(charts.events_per_day(log.frame))
    st.plotly_chart(charts.days_since_last(log.frame, log.default_as_of()))
