"""1 · Data: the current event log, upload with editable column mapping, report and profile."""

from __future__ import annotations

import streamlit as st

from churn_app import charts, pseudonyms
from churn_app.forms import mapping_form
from churn_app.sources import SOURCE, upload_limit_mb
from churn_app.state import (
    DATA_NAME,
    LOG,
    PROBLEMS,
    apply_mapping,
    load_path,
    load_upload,
    reload_data,
    show_problems,
)
from churn_core.errors import ConfigError
from churn_core.events import EventLog

st.title("Data")
st.caption("The bundled demo log is loaded at start. Upload your own CSV, CSV.gz or Parquet.")

ss = st.session_state
if "pseudo_switch" not in ss:  # widget state is dropped on other pages: seed it again
    ss["pseudo_switch"] = pseudonyms.key_file() is not None
if "pseudo_key_file" not in ss:
    ss["pseudo_key_file"] = pseudonyms.key_file() or pseudonyms.DEFAULT_KEY_FILE
with st.container(border=True):
    on = st.toggle(
        "Pseudonymise user ids",
        key="pseudo_switch",
        help="Replace user ids by keyed hashes (HMAC-SHA256) as each file is read.",
    )
    typed_key = st.text_input(
        "Key file",
        key="pseudo_key_file",
        help="Created (readable by you only) on first use. Keep it: it maps ids back.",
    )
    wanted = (typed_key.strip() or pseudonyms.DEFAULT_KEY_FILE) if on else None
    if wanted != pseudonyms.key_file():
        try:
            pseudonyms.switch(wanted)
        except ConfigError as err:
            st.error(str(err))
        else:
            reload_data()  # the data on screen is read again with (or without) the key
    if pseudonyms.key_file() is not None:
        st.caption(
            "User ids are replaced by keyed hashes as each file (upload, path or demo) is "
            "read: scores, exports, explanations and this session hold pseudonyms only. The "
            f"pairs go to `{pseudonyms.key_file()}.ids.csv` next to the key, never next to "
            "exports. To map an exported list back (first column `user_id`): "
            f"`python -m churn_core reidentify LIST.csv --key {pseudonyms.key_file()} "
            "--out FILE`. Deleting the key and its id table makes the pseudonyms permanent."
        )

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
path_box = st.expander("Load from a local path (files above the upload limit, folders)")
with path_box, st.form("path_form", border=False):
    typed = st.text_input(
        "Path of an event file on this computer",
        key="local_path",
        placeholder="/data/events.csv.gz",
        help="CSV, CSV.gz, Parquet or XLSX; read in place, never copied. A folder of Parquet "
        "or CSV parts, or a file above 200 MB, is read out of core (DuckDB) in the background.",
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
m[3].metric(
    "To", f"{log.end:%Y-%m-%d}", f"{(log.end - log.start).days} days", "off", delta_arrow="off"
)

left, right = st.columns([1, 2])
with left:
    st.markdown("**Validation report**")
    st.markdown("\n".join(f"- {line}" for line in log.report.lines()))
    if log.report.dropped:
        st.dataframe(  # the count first: a narrow column must not hide it
            [{"rows dropped": n, "reason": r} for r, n in log.report.dropped],
            hide_index=True,
            column_config={"rows dropped": st.column_config.NumberColumn(format="localized")},
        )
    st.markdown("**Personal data**")
    if log.report.personal_columns:
        st.dataframe(
            [
                {"column dropped": col, "looks like": kind, "found by": pseudonyms.found_by(col)}
                for col, kind in log.report.personal_columns
            ],
            hide_index=True,
        )
        st.caption(
            "These columns were dropped before anything was stored. To keep one on purpose "
            "(e.g. an e-mail column as the user id), map it in the mapping box above: a mapped "
            "column is never dropped. Then switch on **Pseudonymise user ids**."
        )
    else:
        st.caption("No column looked like personal data (e-mail, phone, names, addresses).")
    st.markdown("**Events per type**")
    in_memory = isinstance(log, EventLog)
    counts = log.frame["event_type"].value_counts() if in_memory else log.event_type_counts()
    st.dataframe(
        counts.rename("events"),
        column_config={"events": st.column_config.NumberColumn(format="localized")},
    )
with right:
    if in_memory:
        st.plotly_chart(charts.events_per_day(log.frame))
        st.plotly_chart(charts.days_since_last(log.frame, log.default_as_of()))
    else:
        st.info("Read out of core by DuckDB (a folder or a big file): no charts of raw events.")
