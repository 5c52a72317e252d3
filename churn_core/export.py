"""The one writer (and reader) for every CSV and XLSX file the workbench hands out.

Formula-safe by default (OWASP "CSV injection"): in every text column, a cell whose first
character after leading spaces is ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
gets a leading ``'``, so a spreadsheet shows it as text instead of evaluating it. A cell
that already starts with ``'`` gets one more, so reading back removes exactly one and
gives the original text. Numeric, boolean and date columns are never touched. XLSX cells
are always written as values (strings, numbers), never as formulas, escaped or not.

Metadata (as-of time, horizon, model, planner inputs…) goes into leading ``# key: value``
lines of a CSV (readers skip lines starting with ``#``) and into an ``about`` sheet of an
XLSX. ``raw=True`` (CLI ``--raw-export``) skips the escaping for machine use; the file
then says ``escaped: no`` and :func:`read_export` leaves its cells alone.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from churn_core.errors import EventDataError

TRIGGERS = frozenset("=+-@\t\r")
ESCAPE = "'"
ESCAPED_KEY = "escaped"
DATA_SHEET = "list"
ABOUT_SHEET = "about"
# columns that hold identifiers or words even when every value looks like a number
TEXT_COLUMNS = ("user_id", "risk_tier", "group", "action")
TEXT_PREFIXES = ("reason_", "recommended_item_")
_XLSX_ERROR_CODES = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"})
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_META_SEGMENT = re.compile(r"([,;] *)(?=[=+\-@'])")
_META_UNSEGMENT = re.compile(r"([,;] *)'(?=[=+\-@'])")


# --------------------------------------------------------------------------- escaping
def needs_escape(text: str) -> bool:
    """Whether a spreadsheet could evaluate ``text`` (or it already starts with ``'``)."""
    stripped = text.lstrip(" ")
    return text.startswith(ESCAPE) or (bool(stripped) and stripped[0] in TRIGGERS)


def escape_text(text: str) -> str:
    """``text`` with a leading ``'`` when :func:`needs_escape` says so."""
    return ESCAPE + text if needs_escape(text) else text


def unescape_text(text: str) -> str:
    """Undo :func:`escape_text` (removes one leading ``'``)."""
    return text[1:] if text.startswith(ESCAPE) else text


def _is_text(s: pd.Series) -> bool:
    return (
        pd.api.types.is_object_dtype(s)
        or pd.api.types.is_string_dtype(s)
        or isinstance(s.dtype, pd.CategoricalDtype)
    )


def _map_strings(s: pd.Series, fn) -> pd.Series:
    values = s.astype(object).to_numpy()
    is_str = np.fromiter((isinstance(v, str) for v in values), bool, len(values))
    if not is_str.any():
        return s
    out = values.copy()
    out[is_str] = [fn(v) for v in values[is_str]]
    return pd.Series(out, index=s.index, name=s.name, dtype=object)


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell made formula-safe; numeric columns as they were."""
    out = frame.copy()
    for col in out.columns:
        if _is_text(out[col]):
            out[col] = _map_strings(out[col], escape_text)
    out.columns = [escape_text(str(c)) for c in out.columns]
    return out


def unescape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`escape_frame` on a frame read back as text."""
    out = frame.copy()
    for col in out.columns:
        if _is_text(out[col]):
            out[col] = _map_strings(out[col], unescape_text)
    out.columns = [unescape_text(str(c)) for c in out.columns]
    return out


def _meta_value(value: object) -> str:
    """One line, and no cell a spreadsheet would evaluate after a ``,`` or ``;`` split."""
    text = re.sub(r"[\r\n\t]+", " ", str(value))
    return _META_SEGMENT.sub(r"\1'", text)


# --------------------------------------------------------------------------- writing
def _with_flag(metadata: Mapping[str, object] | None, raw: bool) -> dict[str, str]:
    meta = {str(k): _meta_value(v) for k, v in (metadata or {}).items()}
    meta[ESCAPED_KEY] = "no" if raw else "yes (a leading ' was added to text cells; see README)"
    return meta


def to_csv_bytes(
    frame: pd.DataFrame, metadata: Mapping[str, object] | None = None, raw: bool = False
) -> bytes:
    """UTF-8 (with BOM, so spreadsheets read accents) CSV: ``# key: value`` lines, then the
    header and one row per frame row; formula-safe unless ``raw``."""
    buf = io.StringIO()
    for key, value in _with_flag(metadata, raw).items():
        buf.write(f"# {key}: {value}\r\n")
    _csv_rows(frame, buf, raw, header=True)
    return buf.getvalue().encode("utf-8-sig")


def _csv_rows(frame: pd.DataFrame, buf: io.StringIO, raw: bool, header: bool) -> None:
    # CRLF rows (RFC 4180): the csv writer then quotes every cell holding a CR or LF
    (frame if raw else escape_frame(frame)).to_csv(
        buf, index=False, header=header, lineterminator="\r\n"
    )


def _xlsx_cell(ws, value):
    """A plain value, or a cell forced to the string type when openpyxl would guess a
    formula / error code; characters XML cannot hold become U+FFFD."""
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, str):
        if _XML_ILLEGAL.search(value):
            value = _XML_ILLEGAL.sub("\ufffd", value)
        if value.startswith("=") or value in _XLSX_ERROR_CODES:
            cell = WriteOnlyCell(ws, value)
            cell.data_type = "s"
            return cell
        return value
    return value


def _column_values(s: pd.Series) -> list:
    """Python values openpyxl accepts; missing and non-finite numbers as empty cells."""
    if pd.api.types.is_bool_dtype(s):
        return [bool(v) for v in s]
    if pd.api.types.is_numeric_dtype(s):
        a = s.to_numpy(dtype=np.float64, na_value=np.nan)
        ints = pd.api.types.is_integer_dtype(s)
        return [(int(v) if ints else float(v)) if np.isfinite(v) else None for v in a.tolist()]
    if pd.api.types.is_datetime64_any_dtype(s):
        return [None if pd.isna(v) else v.to_pydatetime() for v in s]
    return [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in s]


def to_xlsx_bytes(
    frame: pd.DataFrame,
    metadata: Mapping[str, object] | None = None,
    raw: bool = False,
    sheet: str = DATA_SHEET,
) -> bytes:
    """XLSX with the rows in sheet ``sheet`` and the metadata in sheet ``about``; every
    text cell is a string cell (never a formula), formula-safe unless ``raw``."""
    from openpyxl import Workbook

    data = frame if raw else escape_frame(frame)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append([_xlsx_cell(ws, str(c)) for c in data.columns])
    cols = [_column_values(data[c]) for c in data.columns]
    for row in zip(*cols, strict=True):
        ws.append([_xlsx_cell(ws, v) for v in row])
    about = wb.create_sheet(ABOUT_SHEET)
    about.append(["field", "value"])
    for key, value in _with_flag(metadata, raw).items():
        about.append([_xlsx_cell(about, key), _xlsx_cell(about, value)])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_bytes(
    frame: pd.DataFrame,
    fmt: str,
    metadata: Mapping[str, object] | None = None,
    raw: bool = False,
) -> bytes:
    """``fmt`` ``csv`` or ``xlsx``: the bytes the CLI writes and the app offers for download."""
    fmt = fmt.lower().lstrip(".")
    if fmt == "csv":
        return to_csv_bytes(frame, metadata, raw)
    if fmt == "xlsx":
        return to_xlsx_bytes(frame, metadata, raw)
    raise EventDataError([f"Cannot write '.{fmt}' files: name the output .csv or .xlsx."])


def write_export(
    frame: pd.DataFrame,
    path: str | Path,
    metadata: Mapping[str, object] | None = None,
    raw: bool = False,
) -> Path:
    """Write ``frame`` to ``path`` (``.xlsx``, else CSV) through this module's writer."""
    path = Path(path)
    fmt = "xlsx" if path.suffix.lower() == ".xlsx" else "csv"
    data = export_bytes(frame, fmt, metadata, raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_export_chunks(
    chunks: Iterable[pd.DataFrame],
    path: str | Path,
    metadata: Mapping[str, object] | None = None,
    raw: bool = False,
) -> Path:
    """``write_export`` for a frame that arrives in chunks (same columns): a CSV is written
    chunk by chunk (metadata and header once), so memory follows one chunk; XLSX in one piece."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        return write_export(pd.concat(list(chunks), ignore_index=True), path, metadata, raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for i, chunk in enumerate(chunks):
            if i == 0:
                fh.write(to_csv_bytes(chunk, metadata, raw))
                continue
            buf = io.StringIO()
            _csv_rows(chunk, buf, raw, header=False)
            fh.write(buf.getvalue().encode("utf-8"))
    return path


# --------------------------------------------------------------------------- reading
def _is_text_column(name: str) -> bool:
    return name in TEXT_COLUMNS or name.startswith(TEXT_PREFIXES)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns read as text back to numbers where every value is a number (ids stay text)."""
    out = frame.copy()
    for col in out.columns:
        if _is_text_column(str(col)):
            continue
        s = out[col]
        num = pd.to_numeric(s, errors="coerce")
        if num.notna().sum() == s.notna().sum():
            out[col] = num
    return out


def _read_metadata_lines(text: str) -> tuple[dict[str, str], int]:
    meta, n = {}, 0
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        n += 1
        key, sep, value = line[1:].strip().partition(":")
        if sep:
            meta[key.strip()] = _META_UNSEGMENT.sub(r"\1", value.strip())
    return meta, n


def read_export(path: str | Path) -> tuple[dict[str, str], pd.DataFrame]:
    """Read a file written by :func:`write_export`: (metadata, frame), cells unescaped.

    Identifier and word columns (``user_id``, ``reason_*``, ``recommended_item_*``…)
    stay text; other all-number columns become numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise EventDataError([f"File {str(path)!r} not found: give the path of the exported file."])
    if path.suffix.lower() == ".xlsx":
        try:
            sheets = pd.read_excel(path, sheet_name=None, dtype=object, keep_default_na=False)
        except (ValueError, OSError, KeyError) as err:
            raise EventDataError(
                [f"{path.name} is not a readable XLSX file ({err}); export it again."]
            ) from None
        frame = sheets.get(DATA_SHEET, next(iter(sheets.values())))
        about = sheets.get(ABOUT_SHEET)
        meta = {}
        if about is not None and {"field", "value"} <= set(about.columns):
            meta = {
                str(k): _META_UNSEGMENT.sub(r"\1", str(v))
                for k, v in zip(about["field"], about["value"], strict=True)
            }
        frame = frame.astype(object).replace("", None)
    else:
        raw_bytes = path.read_bytes()
        try:
            text = raw_bytes.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw_bytes.decode("latin-1")
        meta, skip = _read_metadata_lines(text)
        try:
            frame = pd.read_csv(io.StringIO(text), skiprows=skip, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise EventDataError(
                [f"{path.name} could not be read as CSV ({err}); export it again."]
            ) from None
        frame = frame.replace("", None)
    if not meta.get(ESCAPED_KEY, "yes").startswith("no"):
        frame = unescape_frame(frame)
    return meta, _typed(frame)
