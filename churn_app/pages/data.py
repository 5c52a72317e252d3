"""1 · Data: the current event log, upload with editable column mapping, report and profile."""

from __future__ import annotations

import streamlit as st

from churn_app import charts
from churn_app.forms import mapping_form
from churn_app.sources import SOURCE, upload_limit_mb
from churn_app.state import (
    DATA_NAME,
    LOG,
    PROBLEMS,
    apply_mapping,
    load_path,
    load_upload,
    show_problems,
)

st.title("Data")
st.caption("The bundled demo log is loaded at start. Upload your own CSV, CSV.gz or Parquet.")

limit = upload_limit_mb()
upload = st.file_uploader(
    "Event log",
    type=["csv", "gz", "parquet", "xlsx"],
    key="upload",
    help=f"Up to {limit} MB (server.maxUploadSize). Bigger files: load them by path below.",
)
st.caption(
    f"Uploads up to **{limit} MB**. A bigger file is refused by the uploader: type its path in "
    "**Load from a local path** below instead (or raise `maxUploadSize` under `[server]` in "
    "`.streamlit/config.toml`, or set `STREAMLIT_SERVER_MAX_UPLOAD_SIZE`)."
)
if upload is not None and st.session_state.get("upload_id") != upload.file_id:
    st.session_state["upload_id"] = upload.file_id  # a new file: stream to disk, detect, load
    load_upload(upload)
path_box = st.expander("Load from a local path (files above the upload limit)")
with path_box, st.form("path_form", border=False):
    typed = st.text_input(
        "Path of an event file on this computer",
        key="local_path",
        placeholder="/data/events.csv.gz",
        help="CSV, CSV.gz, Parquet or XLSX; read in place, never copied.",
    )
    if st.form_submit_button("Load file"):
        load_path(typed)

source = st.session_state[SOURCE]
if source is not None and source.columns:
    st.caption(f"Mapping for **{source.name}**")
    schema = mapping_form(list(source.columns), source.detected)
    if schema is not None:
        apply_mapping(schema)

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
