"""read_events: containers, compression, encodings, delimiters and unreadable files."""

from __future__ import annotations

import gzip
import io

import pandas as pd
import pytest

from churn_core.errors import EventDataError
from churn_core.loading import read_events
from tests.conftest import DEMO

CSV = "user_id,timestamp,event_type,amount\nu1,2024-01-01 10:00:00,view,\nu2,2024-01-02,buy,5.5\n"


def _is_text(frame: pd.DataFrame) -> bool:
    return all(pd.api.types.is_string_dtype(t) for t in frame.dtypes)


def test_path_bytes_and_file_object_give_the_same_frame(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV)
    from_path = read_events(path)
    from_str = read_events(str(path))
    from_bytes = read_events(CSV.encode(), name="upload.csv")
    from_file = read_events(io.BytesIO(CSV.encode()))
    for frame in (from_str, from_bytes, from_file):
        pd.testing.assert_frame_equal(frame, from_path)
    assert from_path.attrs["source_name"] == "events.csv"
    assert from_bytes.attrs["source_name"] == "upload.csv"


def test_every_column_is_text_and_empty_cells_are_nan():
    frame = read_events(CSV.encode())
    assert list(frame.columns) == ["user_id", "timestamp", "event_type", "amount"]
    assert _is_text(frame)
    assert frame.loc[1, "amount"] == "5.5"
    assert pd.isna(frame.loc[0, "amount"])


def test_common_missing_markers_are_nan():
    frame = read_events(b"user_id,amount\nu1,NA\nu2,null\nu3,#N/A\nu4,1\n")
    assert frame["amount"].isna().tolist() == [True, True, True, False]


def test_ids_keep_leading_zeros_and_long_digits():
    frame = read_events(b"user_id,category_id\n007,2053013552326770905\n")
    assert frame.loc[0, "user_id"] == "007"
    assert frame.loc[0, "category_id"] == "2053013552326770905"


def test_utf8_bom_is_stripped_from_the_first_header():
    frame = read_events(b"\xef\xbb\xbf" + CSV.encode())
    assert frame.columns[0] == "user_id"
    assert frame.attrs["encoding"] == "utf-8-sig"


def test_utf16_with_bom_is_decoded():
    frame = read_events(CSV.replace(",", "\t").encode("utf-16"))
    assert frame.columns[0] == "user_id"
    assert frame.loc[1, "event_type"] == "buy"


def test_windows_1252_falls_back_when_not_utf8():
    frame = read_events("user;city;price\nJürgen;Köln;5 €\nAnna;Zürich;3\n".encode("cp1252"))
    assert frame.attrs["encoding"] == "cp1252"
    assert frame.loc[0, "user"] == "Jürgen"
    assert frame.loc[0, "price"] == "5 €"


def test_latin1_bytes_undefined_in_cp1252_still_decode():
    frame = read_events(b"user,note\nM\xfcller,x\x81y\nAnna,z\n")
    assert frame.attrs["encoding"] == "latin-1"
    assert frame.loc[0, "user"] == "Müller"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(delimiter):
    frame = read_events(CSV.replace(",", delimiter).encode())
    assert frame.attrs["delimiter"] == delimiter
    assert frame.shape == (2, 4)


def test_semicolon_file_with_decimal_commas_is_not_split_on_commas():
    frame = read_events(b"user;date;amount\na;01.02.2024;1,50\nb;02.02.2024;2,75\n")
    assert frame.attrs["delimiter"] == ";"
    assert frame["amount"].tolist() == ["1,50", "2,75"]


def test_quoted_fields_may_contain_the_delimiter():
    frame = read_events(b'user_id,desc,amount\nu1,"red, large",3\nu2,"blue",4\n')
    assert frame.loc[0, "desc"] == "red, large"


def test_header_spaces_and_duplicates_are_cleaned():
    frame = read_events(b" user_id , ts ,ts\nu1,1,2\n")
    assert list(frame.columns) == ["user_id", "ts", "ts.1"]


def test_gzip_bytes_and_gzip_file(tmp_path):
    blob = gzip.compress(CSV.encode())
    frame = read_events(blob, name="events.csv.gz")
    assert frame.attrs["compression"] == "gzip"
    assert frame.shape == (2, 4)
    path = tmp_path / "events.csv.gz"
    path.write_bytes(blob)
    pd.testing.assert_frame_equal(read_events(path), frame, check_like=True)


def test_parquet_bytes_become_text_with_nan_kept():
    source = pd.DataFrame(
        {
            "user_id": [1, 2],
            "timestamp": pd.to_datetime(["2024-01-01 10:00", None]),
            "amount": [1.5, None],
        }
    )
    buf = io.BytesIO()
    source.to_parquet(buf)
    frame = read_events(buf.getvalue(), name="events.parquet")
    assert frame.attrs["format"] == "parquet"
    assert _is_text(frame)
    assert frame["user_id"].tolist() == ["1", "2"]
    assert frame.loc[0, "timestamp"] == "2024-01-01 10:00:00"
    assert pd.isna(frame.loc[1, "timestamp"]) and pd.isna(frame.loc[1, "amount"])


def test_gzipped_parquet_is_read(tmp_path):
    buf = io.BytesIO()
    pd.DataFrame({"user_id": ["a"], "timestamp": ["2024-01-01"]}).to_parquet(buf)
    frame = read_events(gzip.compress(buf.getvalue()))
    assert frame.attrs["format"] == "parquet"


def test_xlsx_first_sheet_is_read():
    buf = io.BytesIO()
    pd.DataFrame({"user_id": ["a", "b"], "timestamp": ["2024-01-01", "2024-01-02"]}).to_excel(
        buf, index=False
    )
    frame = read_events(buf.getvalue(), name="events.xlsx")
    assert frame.attrs["format"] == "xlsx"
    assert frame["user_id"].tolist() == ["a", "b"]


def test_headerless_file_gets_numbered_columns():
    frame = read_events(b"1,2268318,2520377,pv,1511544070\n1,2333346,2520771,buy,1511561733\n")
    assert frame.attrs["header"] is False
    assert list(frame.columns) == [f"column_{i}" for i in range(1, 6)]
    assert len(frame) == 2


def test_short_rows_are_padded_with_nan():
    frame = read_events(b"user_id,timestamp,amount\nu1,2024-01-01\nu2,2024-01-02,3\n")
    assert frame.shape == (2, 3)
    assert pd.isna(frame.loc[0, "amount"])


def test_empty_file_is_refused():
    with pytest.raises(EventDataError, match="'events.csv' is empty.*Export"):
        read_events(b"", name="events.csv")


def test_whitespace_only_gzip_is_refused():
    with pytest.raises(EventDataError, match="is empty"):
        read_events(gzip.compress(b"\n\n  \n"))


def test_header_without_rows_is_refused():
    with pytest.raises(EventDataError, match="'e.csv' has a header but no data rows"):
        read_events(b"user_id,timestamp\n", name="e.csv")


def test_missing_path_is_refused(tmp_path):
    with pytest.raises(EventDataError, match="was not found"):
        read_events(tmp_path / "nope.csv")


def test_truncated_gzip_is_refused():
    blob = gzip.compress(CSV.encode() * 50)
    with pytest.raises(EventDataError, match="gzip.*truncated"):
        read_events(blob[: len(blob) // 2], name="cut.csv.gz")


def test_broken_parquet_is_refused():
    with pytest.raises(EventDataError, match="looks like Parquet"):
        read_events(b"PAR1 not really parquet", name="x.parquet")


def test_rows_with_extra_fields_are_refused_with_the_fix():
    with pytest.raises(EventDataError, match="same number of fields.*quoted"):
        read_events(b"user_id,timestamp\nu1,2024-01-01\nu2,2024-01-02,3,4\n")


def test_unsupported_source_type():
    with pytest.raises(TypeError, match="path, bytes or a binary file"):
        read_events(42)  # type: ignore[arg-type]


def test_real_retail_file_is_read_with_pyarrow():
    frame = read_events(DEMO)  # the bundled copy of ../shared/data/uci-online-retail
    assert frame.shape == (541_909, 8)
    assert _is_text(frame)
    assert frame["CustomerID"].isna().sum() == 135_080
    assert frame.loc[0, "CustomerID"] == "17850.0"


@pytest.mark.parametrize(
    ("path", "rows", "columns"),
    [
        ("taobao-userbehavior/taobao_userbehavior_head.csv.gz", 84_287, 5),
        ("rees46-multicategory-head/rees46_2019-Oct_head.csv.gz", 17_435, 9),
        ("tmall-brand-rec-2014/tmall_brand_rec_2014.csv.gz", 182_880, 4),
        ("instacart-orders-head/instacart_orders_head.csv.gz", 49_998, 7),
    ],
)
def test_real_files_row_counts(shared_data, path, rows, columns):
    frame = read_events(shared_data / path)
    assert frame.shape == (rows, columns)
