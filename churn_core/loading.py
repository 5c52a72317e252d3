"""Read an event file (CSV, CSV.gz, Parquet, XLSX) into a raw frame of strings.

Nothing here interprets the data: :func:`read_events` only finds the container, compression,
encoding and delimiter, and returns every column as text. ``churn_core.ingest`` turns that
raw frame into an :class:`~churn_core.events.EventLog`.

What was detected is stored in ``frame.attrs``: ``source_name``, ``format``, ``compression``,
``encoding``, ``delimiter`` and ``header`` (``False`` when the first line looked like data and
the columns were named ``column_1`` ...).
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import re
import zlib
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from churn_core.errors import EventDataError

logger = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
NA_VALUES = ("", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "#N/A")
_SAMPLE_BYTES = 64 * 1024
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_FIX = (
    "Export the event log again as CSV (UTF-8) or Parquet, with a header row and one event per row."
)


def read_events(
    source: str | os.PathLike | bytes | BinaryIO, name: str | None = None
) -> pd.DataFrame:
    """Read an event file into a raw frame with every column as text (missing cells are NaN).

    ``source`` is a path, the file's bytes, or an open binary file. Parquet is recognised by
    its magic bytes, gzip by ``1f 8b``; CSV may be UTF-8 (with or without BOM), UTF-16 with
    BOM, or Windows-1252/Latin-1, delimited by ``,`` ``;`` tab or ``|``. ``name`` is used in
    messages when ``source`` holds no file name.

    Raises :class:`EventDataError` for a missing, empty, unreadable or row-less file.
    """
    data, name = _read_bytes(source, name)
    compression = None
    if data[:2] == b"\x1f\x8b":
        data, compression = _gunzip(data, name), "gzip"
    if not data.strip():
        raise EventDataError([f"'{name}' is empty. {_FIX}"])
    if data[:4] == b"PAR1":
        frame, attrs = _read_parquet(data, name), {"format": "parquet"}
    elif data[:4] == b"PK\x03\x04":
        frame, attrs = _read_xlsx(data, name), {"format": "xlsx"}
    else:
        frame, attrs = _read_csv(data, name)
    if frame.shape[1] == 0 or len(frame) == 0:
        raise EventDataError(
            [f"'{name}' has a header but no data rows. Check that you exported the whole log."]
        )
    frame.attrs.update({"source_name": name, "compression": compression, **attrs})
    logger.info("read %s: %d rows x %d columns (%s)", name, *frame.shape, attrs)
    return frame


def _read_bytes(
    source: str | os.PathLike | bytes | BinaryIO, name: str | None
) -> tuple[bytes, str]:
    """The raw bytes and a file name for messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name or "the uploaded file"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise EventDataError([f"File '{path}' was not found. Check the path and file name."])
        try:
            return path.read_bytes(), name or path.name
        except OSError as exc:
            raise EventDataError([f"File '{path}' could not be read ({exc.strerror})."]) from exc
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        return bytes(data), name or Path(str(getattr(source, "name", "the uploaded file"))).name
    raise TypeError(
        f"read_events needs a path, bytes or a binary file, not {type(source).__name__}."
    )


def _gunzip(data: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        msg = (
            f"'{name}' looks gzip-compressed but cannot be decompressed ({exc}). "
            "The file is probably truncated: download or export it again."
        )
        raise EventDataError([msg]) from exc


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types for broken files
        raise EventDataError(
            [f"'{name}' looks like Parquet but cannot be read ({exc}). Export it again."]
        ) from exc
    return _as_text(frame)


def _read_xlsx(data: bytes, name: str) -> pd.DataFrame:
    try:
        frame = pd.read_excel(io.BytesIO(data), dtype=str)
    except Exception as exc:  # a zip that is not a workbook, or a broken workbook
        msg = (
            f"'{name}' is a ZIP archive or Excel workbook that cannot be read as a table "
            f"({exc}). Unzip it, or save the sheet with the events as CSV."
        )
        raise EventDataError([msg]) from exc
    logger.info("%s: read the first sheet of the workbook", name)
    return _as_text(frame)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as text, NaN kept as missing; tz-aware times written with their offset."""
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.astype("str")


def _read_csv(data: bytes, name: str) -> tuple[pd.DataFrame, dict]:
    data, encoding = _to_utf8(data, name)
    sample = data[:_SAMPLE_BYTES].decode("utf-8", errors="replace")
    delimiter = _sniff_delimiter(sample)
    header = _has_header(sample, delimiter)
    kwargs = {
        "sep": delimiter,
        "dtype": str,
        "keep_default_na": False,
        "na_values": list(NA_VALUES),
        "header": 0 if header else None,
    }
    try:
        frame = pd.read_csv(io.BytesIO(data), engine="pyarrow", **kwargs)
    except (ValueError, NotImplementedError, OSError) as exc:  # ragged rows, odd quoting
        logger.info("%s: pyarrow CSV reader failed (%s); using the C engine", name, exc)
        try:
            frame = pd.read_csv(io.BytesIO(data), engine="c", skip_blank_lines=True, **kwargs)
        except (pd.errors.ParserError, ValueError) as exc2:
            shown = "tab" if delimiter == "\t" else f"'{delimiter}'"
            msg = (
                f"'{name}' could not be read as a table delimited by {shown}: {exc2}. "
                "Check that every row has the same number of fields and that text "
                "containing the delimiter is quoted."
            )
            raise EventDataError([msg]) from exc2
    if header:
        frame.columns = _clean_header(frame.columns)
    else:
        frame.columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
        logger.warning("%s: the first line looks like data; columns named column_1 ...", name)
    attrs = {"format": "csv", "encoding": encoding, "delimiter": delimiter, "header": header}
    return frame, attrs


def _to_utf8(data: bytes, name: str) -> tuple[bytes, str]:
    """Re-encode to UTF-8 without BOM; returns the bytes and the encoding that was found."""
    if data[:3] == b"\xef\xbb\xbf":
        return data[3:], "utf-8-sig"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16").encode("utf-8"), "utf-16"
        except UnicodeDecodeError as exc:
            msg = (
                f"'{name}' starts like a UTF-16 text file but is not valid UTF-16 (byte "
                f"{exc.start}); it is probably truncated. {_FIX}"
            )
            raise EventDataError([msg]) from None
    try:
        data.decode("utf-8")
        return data, "utf-8"
    except UnicodeDecodeError:
        pass
    for encoding in ("cp1252", "latin-1"):
        try:
            return data.decode(encoding).encode("utf-8"), encoding
        except UnicodeDecodeError:
            continue
    return data, "utf-8"  # not reached: latin-1 decodes every byte


def _sniff_delimiter(sample: str) -> str:
    """The candidate that splits the header into most fields, consistently across the sample."""
    lines = [ln for ln in sample.splitlines()[:-1] or sample.splitlines() if ln.strip()][:50]
    if not lines:
        return ","
    best, best_score = ",", (0, 0.0)
    for delim in DELIMITERS:
        rows = list(csv.reader(lines, delimiter=delim))
        width = len(rows[0])
        if width < 2:
            continue
        agree = sum(len(r) == width for r in rows) / len(rows)
        score = (agree >= 0.9, width * agree)
        if score > best_score:
            best, best_score = delim, score
    if best_score[1] == 0:
        try:
            return csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
        except csv.Error:
            return ","
    return best


def _has_header(sample: str, delimiter: str) -> bool:
    """False when at least half of the first line's fields are plain numbers."""
    try:
        first = next(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), [])
    except csv.Error:  # e.g. a stray carriage return or NUL in the first line
        return True
    if not first:
        return True
    numeric = sum(bool(_NUMBER.match(f.strip())) for f in first)
    return numeric * 2 < len(first)


def _clean_header(columns: pd.Index) -> list[str]:
    """Strip spaces, a stray BOM and quotes; name blank headers and de-duplicate."""
    names = [str(c).replace("\ufeff", "").strip().strip('"').strip() for c in columns]
    names = [n or f"column_{i + 1}" for i, n in enumerate(names)]
    seen: Counter[str] = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n}.{seen[n] - 1}")
    return out
