"""Campaign files handed back in: uploaded bytes read like a file, activity events in metadata.

The dashboard receives a campaign file as bytes (an upload) and keeps its own last plan in
memory; both go through :func:`read_export_bytes`, so the Outcomes page grades exactly what
``python -m churn_core outcome --campaign FILE`` would read from the same file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from churn_core.errors import EventDataError
from churn_core.export import read_export

ALL_BUT_CANCELLATIONS = "all but cancellations"


def read_export_bytes(data: bytes, name: str) -> tuple[dict[str, str], pd.DataFrame]:
    """(metadata, rows) of an exported CSV or XLSX given as bytes, as ``read_export`` reads
    the same file from disk; ``name`` only decides the format (``.xlsx`` or CSV)."""
    suffix = Path(name).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise EventDataError(
            [f"{name!r} is not a campaign file: upload the .csv or .xlsx the Campaign page wrote."]
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"campaign{suffix}"
        path.write_bytes(data)
        return read_export(path)


def activity_events_text(activity_events: tuple[str, ...] | None) -> str:
    """The ``activity_events`` metadata value for a label's activity events."""
    return ",".join(activity_events or ()) or ALL_BUT_CANCELLATIONS


def activity_events_from(metadata: Mapping[str, str]) -> tuple[str, ...] | None:
    """The activity events a campaign file's metadata names (``None``: the default set)."""
    text = str(metadata.get("activity_events", "")).strip()
    if text in ("", ALL_BUT_CANCELLATIONS):
        return None
    return tuple(e.strip() for e in text.split(",") if e.strip())
