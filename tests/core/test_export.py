"""Safe exports: no spreadsheet formula in any CSV/XLSX the workbench writes (OWASP CSV
injection), numbers untouched, metadata readable back, and ``--raw-export`` for machines."""

import csv
import io

import numpy as np
import openpyxl
import pandas as pd
import pytest

from churn_core.errors import EventDataError
from churn_core.export import (
    escape_text,
    needs_escape,
    read_export,
    to_csv_bytes,
    to_xlsx_bytes,
    write_export,
)
from churn_core.targets import TargetList

HOSTILE = [
    '=HYPERLINK("http://evil.example","click")',
    "+SUM(1,2)",
    "@cmd",
    "-2+3",
    " =1+1",
    "  @SUM(A1)",
    "\t=1",
    "\r=1",
    "'=already quoted",
]
HARMLESS = ["12347", "alice", "a=b", "1-2", "#N/A", "é ü 中"]


def _frame() -> pd.DataFrame:
    ids = HOSTILE + HARMLESS
    n = len(ids)
    return pd.DataFrame(
        {
            "user_id": ids,
            "churn_probability": np.linspace(0.95, 0.05, n),
            "days_since_last_event": -np.arange(n, dtype=float),  # negative numbers stay numbers
            "orders": np.arange(n, dtype=np.int64) - 3,
            "reason_1": ["-5 orders fewer (raises risk)"] * n,
            "recommended_item_1": ["=A1", "+1", "85123A", None, *["x"] * (n - 4)],
        }
    )


def _csv_rows(data: bytes) -> list[list[str]]:
    """The CSV's rows after the leading ``#`` metadata lines (as the referee reads them)."""
    lines = io.StringIO(data.decode("utf-8-sig"), newline="").readlines()
    skip = next(i for i, ln in enumerate(lines) if not ln.startswith("#"))
    return list(csv.reader(io.StringIO("".join(lines[skip:]), newline="")))


def _evaluable(cell: str) -> bool:
    s = cell.lstrip(" ")
    return bool(s) and s[0] in "=+-@\t\r"


def test_escape_rule():
    for text in HOSTILE:
        assert needs_escape(text) and escape_text(text) == "'" + text
    for text in HARMLESS:
        assert escape_text(text) == text
    assert escape_text("") == ""


def test_csv_cells_are_escaped_and_numbers_untouched():
    frame = _frame()
    rows = _csv_rows(to_csv_bytes(frame, {"as_of": "2011-09-10"}))
    header, body = rows[0], rows[1:]
    assert header == list(frame.columns) and len(body) == len(frame)
    got = pd.DataFrame(body, columns=header)
    for col in ("user_id", "reason_1", "recommended_item_1"):  # every text column
        assert not [c for c in got[col] if _evaluable(c)], col
    assert list(got["user_id"]) == ["'" + t for t in HOSTILE] + HARMLESS
    # numeric columns are written as numbers (negative ones too) and read back exactly
    np.testing.assert_array_equal(
        got["days_since_last_event"].astype(float), frame["days_since_last_event"]
    )
    np.testing.assert_array_equal(
        got["churn_probability"].astype(float), frame["churn_probability"]
    )
    assert got["orders"].iloc[0] == "-3"
    assert set(got["reason_1"]) == {"'-5 orders fewer (raises risk)"}


def test_xlsx_has_no_formula_cell_and_round_trips(tmp_path):
    frame = _frame()
    for raw in (False, True):
        path = write_export(frame, tmp_path / f"list_{raw}.xlsx", {"note": "x,=1+1"}, raw=raw)
        wb = openpyxl.load_workbook(path)
        cells = [c for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
        assert cells and not [c.coordinate for c in cells if c.data_type == "f"]
        ids = [c.value for c in wb.worksheets[0]["A"][1:]]
        if raw:
            assert ids == [t.replace("\r", "\n") for t in HOSTILE] + HARMLESS
            assert wb.worksheets[0]["A2"].data_type == "s"  # the HYPERLINK text, as a string
        else:
            assert all(not _evaluable(v) for v in ids)
        nums = [c.value for c in wb.worksheets[0]["C"][1:]]
        assert nums == list(frame["days_since_last_event"])  # numbers stay numbers
        meta, back = read_export(path)
        assert meta["note"] == "x,=1+1" and meta["escaped"].startswith("no" if raw else "yes")
        # XML turns a carriage return into a line feed; everything else comes back as written
        assert list(back["user_id"]) == [t.replace("\r", "\n") for t in HOSTILE] + HARMLESS
        assert back["recommended_item_1"].iloc[3] is None
        np.testing.assert_allclose(back["churn_probability"], frame["churn_probability"])


def test_csv_round_trip_gives_the_raw_ids_back(tmp_path):
    frame = _frame()
    path = write_export(frame, tmp_path / "list.csv", {"as_of": "2011-09-10", "seed": 3})
    meta, back = read_export(path)
    assert meta["as_of"] == "2011-09-10" and meta["seed"] == "3"
    assert list(back["user_id"]) == list(frame["user_id"])
    assert list(back["recommended_item_1"].iloc[:3]) == ["=A1", "+1", "85123A"]
    pd.testing.assert_series_equal(back["churn_probability"], frame["churn_probability"])
    pd.testing.assert_series_equal(back["orders"], frame["orders"])
    # --raw-export writes the text exactly as it is, and reads back the same
    raw = tmp_path / "raw.csv"
    write_export(frame, raw, raw=True)
    assert '=HYPERLINK(""http://evil.example""' in raw.read_text(encoding="utf-8-sig")
    assert list(read_export(raw)[1]["user_id"]) == list(frame["user_id"])


def test_metadata_lines_are_safe_in_a_spreadsheet():
    rows = _csv_rows(to_csv_bytes(pd.DataFrame({"a": [1]}), {"source": "x.csv,=cmd|' /C calc'!A0"}))
    raw = to_csv_bytes(pd.DataFrame({"a": [1]}), {"source": "x.csv,=cmd"}).decode("utf-8-sig")
    first = raw.splitlines()[0]
    assert first.startswith("# source:")
    # a spreadsheet splitting the line at the comma gets an inert second cell
    assert not any(_evaluable(c) for c in next(csv.reader([first])))
    assert rows == [["a"], ["1"]]


def test_target_list_downloads_go_through_the_writer():
    users = _frame()[["user_id", "churn_probability"]]
    tl = TargetList(users, {"as_of": "2011-09-10", "policy": "top 100"})
    rows = _csv_rows(tl.to_csv())
    assert rows[0] == ["user_id", "churn_probability"] and rows[1][0].startswith("'=")
    assert tl.to_csv().decode("utf-8-sig").startswith("# as_of: 2011-09-10")
    wb = openpyxl.load_workbook(io.BytesIO(tl.to_xlsx()))
    assert wb.sheetnames == ["targets", "about"]
    assert not [c for ws in wb for r in ws.iter_rows() for c in r if c.data_type == "f"]
    assert wb["targets"]["A2"].value.startswith("'=")


def test_read_export_errors_name_the_fix(tmp_path):
    with pytest.raises(EventDataError, match="not found"):
        read_export(tmp_path / "missing.csv")
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(EventDataError, match="not a readable XLSX"):
        read_export(bad)
    assert to_xlsx_bytes(pd.DataFrame({"a": ["x\x00y"]}))  # XML-illegal characters replaced
