"""Where the session's event log comes from: an upload streamed to a temp file, or a local path.

An upload is copied in 1 MiB chunks to a private temporary file owned by the session's
workspace, Streamlit's in-memory copy is released, and the core loader reads the file by path.
The temp file is deleted when the data is replaced or the workspace expires (and at exit).
"""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import streamlit as st

from churn_core.config import SchemaConfig
from churn_core.errors import EventDataError
from churn_core.ingest import DetectedSchema, IdHasher, detect_schema, validate_events
from churn_core.loading import read_events

SOURCE = "source"
CHUNK = 1 << 20
DATA_ROOT_ENV = "CHURN_DATA_ROOT"  # if set, local paths must lie inside this folder
BIG_FILE_ENV = "CHURN_BIG_FILE_MB"  # files above this size (default 200 MB) are read out of core


@dataclass(frozen=True)
class Source:
    """The file behind the current upload or path, and what auto-detection made of it."""

    path: Path
    name: str
    temporary: bool  # an upload's temp copy (deleted when replaced), not the analyst's file
    columns: tuple[str, ...] = ()
    detected: DetectedSchema | None = None


def upload_limit_mb() -> int:
    """The upload limit in MB (``server.maxUploadSize``: config.toml or the environment)."""
    return int(st.get_option("server.maxUploadSize"))


def save_upload(upload: IO[bytes], workspace) -> Path:
    """Stream an uploaded file to a new temp file of ``workspace`` (1 MiB at a time)."""
    path = workspace.new_file(suffix=Path(getattr(upload, "name", "")).suffix[-8:])
    upload.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(upload, out, CHUNK)
    return path


def release_upload(file_id: str) -> None:
    """Drop Streamlit's in-memory copy of an upload we have saved (as ``st.chat_input`` does)."""
    try:
        from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        if ctx is not None and isinstance(ctx.uploaded_file_mgr, MemoryUploadedFileManager):
            ctx.uploaded_file_mgr.remove_file(session_id=ctx.session_id, file_id=file_id)
    except (ImportError, AttributeError):  # another Streamlit version: keep its copy
        pass


def check_local_path(text: str) -> Path:
    """The file an analyst typed, or EventDataError saying what is wrong and what to do."""
    text = text.strip().strip('"').strip("'")
    if not text:
        raise EventDataError(["Type the full path of an event file on this computer."])
    path = Path(os.path.expandvars(text)).expanduser()
    if not path.is_absolute():
        raise EventDataError(
            [f"'{text}' is not a full path. Give it from the root, e.g. /data/events.csv.gz."]
        )
    path = path.resolve()
    root = os.environ.get(DATA_ROOT_ENV)
    if root and not path.is_relative_to(Path(root).expanduser().resolve()):
        raise EventDataError(
            [f"'{path}' is outside the data folder this app may read ({DATA_ROOT_ENV}={root})."]
        )
    if not path.exists():
        raise EventDataError([f"'{path}' does not exist. Check the folder and file name."])
    if not os.access(path, os.R_OK):
        raise EventDataError([f"'{path}' cannot be read by this app (file permissions)."])
    return path


def is_big(path: Path) -> bool:
    """A folder (of Parquet or CSV parts), or a file above ``CHURN_BIG_FILE_MB`` (200 MB):
    read out of core by DuckDB (``churn_core.engine.files``) instead of into memory."""
    limit_mb = float(os.environ.get(BIG_FILE_ENV, "200"))
    return path.is_dir() or path.stat().st_size > limit_mb * 2**20


def read_source(
    path: Path, name: str, temporary: bool, pseudonymize: IdHasher | None = None
) -> tuple[Source, object]:
    """Read the file once: its columns, the detected mapping, and the auto-mapped EventLog.

    Returns ``(source, log_or_error)``: the EventLog, or the EventDataError of validation
    (the source is still returned so the analyst can fix the mapping). An unreadable file
    raises EventDataError.
    """
    raw = read_events(path, name=name)
    columns = tuple(str(c) for c in raw.columns)
    detected = detect_schema(raw, SchemaConfig())
    source = Source(path, name, temporary, columns, detected)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # auto-fixes are listed in report.warnings
            return source, validate_events(raw, SchemaConfig(), pseudonymize)
    except EventDataError as err:
        return source, err


def reload_source(source: Source, schema: SchemaConfig, pseudonymize: IdHasher | None = None):
    """The source validated again with an explicit mapping (reads the file again)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return validate_events(read_events(source.path, name=source.name), schema, pseudonymize)
