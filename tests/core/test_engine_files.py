"""engine/files.py: a file opened out of core by DuckDB gives the in-memory validation.

The same report (rows read, kept, dropped by reason with their example rows, warnings,
mapping) and the same events, for the bundled retail log, Parquet (a file and a
hive-partitioned folder) and small files with every kind of bad row.
"""

from __future__ import annotations

import gzip
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

from churn_core.config import SchemaConfig
from churn_core.engine.files import open_events
from churn_core.errors import EventDataError
from churn_core.events import EventLog
from churn_core.ingest import load_events
from tests.conftest import DEMO


def _both(path, schema: SchemaConfig | None = None, sample_rows: int = 50_000):
    """(in-memory EventLog, FileLog, events table as a frame sorted like the EventLog)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        log = load_events(path, schema or SchemaConfig())
    con = duckdb.connect()
    opened = open_events(con, path, schema or SchemaConfig(), sample_rows=sample_rows)
    events = con.sql("SELECT * FROM events").df()
    con.close()
    return log, opened, _sorted(events)


def _sorted(events: pd.DataFrame) -> pd.DataFrame:
    keys = ["user_id", "ts_us", "event_type", "amount", "item_id", "category"]
    return events.sort_values(keys, kind="stable", na_position="first").reset_index(drop=True)


def _canonical(log: EventLog) -> pd.DataFrame:
    f = log.frame
    out = pd.DataFrame(
        {
            "user_id": f["user_id"].astype(str),
            "ts_us": f["timestamp"].to_numpy(dtype="datetime64[us]").astype(np.int64),
            "event_type": f["event_type"].astype(str),
            "amount": f["amount"].astype(float),
            "item_id": f["item_id"],
            "category": f["category"],
        }
    )
    return _sorted(out)


def _assert_same(log: EventLog, opened, events: pd.DataFrame) -> None:
    assert opened.report == log.report
    assert opened.has_amount == log.has_amount
    assert opened.n_events == log.n_events and opened.n_users == log.n_users
    assert opened.event_types == tuple(log.event_types)
    _assert_same_events(events, _canonical(log))


def _assert_same_events(events: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(events) == len(expected)
    for col in ("user_id", "ts_us", "event_type"):
        assert (events[col].to_numpy() == expected[col].to_numpy()).all(), col
    np.testing.assert_allclose(events["amount"], expected["amount"], rtol=1e-12)
    for col in ("item_id", "category"):
        got, want = events[col], expected[col]
        assert (got.isna().to_numpy() == want.isna().to_numpy()).all(), col
        assert (got.dropna().to_numpy() == want.dropna().to_numpy()).all(), col


def test_retail_csv_gz_matches_the_in_memory_reader():
    log, opened, events = _both(DEMO)
    assert opened.report.rows_read == 541_909
    assert dict(opened.report.dropped) == {"missing user id (column CustomerID empty)": 135_080}
    _assert_same(log, opened, events)


def test_retail_detected_on_a_small_sample_still_reads_every_row():
    log, opened, events = _both(DEMO, sample_rows=2_000)
    _assert_same(log, opened, events)


@pytest.fixture(scope="module")
def retail_parquet(tmp_path_factory) -> tuple:
    """The retail log as one Parquet file and as a hive-partitioned folder (by country)."""
    raw = pd.read_csv(DEMO, dtype=str, keep_default_na=False, na_values=[""])
    root = tmp_path_factory.mktemp("parquet")
    one = root / "retail.parquet"
    raw.to_parquet(one, index=False)
    folder = root / "by_country"
    raw.assign(part=raw["Country"].str.len() % 4).to_parquet(
        folder, partition_cols=["part"], index=False
    )
    return one, folder


def test_parquet_file_matches_the_in_memory_reader(retail_parquet):
    one, _ = retail_parquet
    _assert_same(*_both(one))


def test_partitioned_parquet_folder_gives_the_same_events_as_the_csv(retail_parquet):
    _, folder = retail_parquet
    csv_log, _, _ = _both(DEMO)
    con = duckdb.connect()
    opened = open_events(con, folder)
    events = _sorted(con.sql("SELECT * FROM events").df())
    assert opened.report.rows_read == csv_log.report.rows_read
    assert opened.report.dropped == csv_log.report.dropped
    assert opened.report.mapping == csv_log.report.mapping
    _assert_same_events(events, _canonical(csv_log))


BAD = (
    "user_id,timestamp,event_type,amount,product_id\n"
    + "".join(
        f"u{i % 7},2024-01-{i % 28 + 1:02d} 10:{i % 60:02d}:00,{('view', 'buy', 'cart')[i % 3]},"
        f"{i * 1.5},p{i % 5}\n"
        for i in range(80)
    )
    + ",2024-02-01,view,1,p1\n"  # missing user
    + "u1,,view,1,p1\n"  # missing timestamp
    + "u2,not a date,view,1,p1\n"  # unparseable
    + "u3,2024-02-02,,1,p1\n"  # missing event
    + "u4,2024-02-03,buy,n/a-ish,p2\n"  # non-numeric amount: kept as 0 with a warning
    + "u5,2024-02-04,buy,1e13,p2\n"  # beyond 1e12: read as 0
    + "user_id,timestamp,event_type,amount,product_id\n"  # header repeated by a concatenation
    + "u6,2024-02-05,Add To Cart,2,\n"
)


@pytest.mark.parametrize("compress", [False, True])
def test_bad_rows_are_counted_by_reason(tmp_path, compress):
    path = tmp_path / ("bad.csv.gz" if compress else "bad.csv")
    data = BAD.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    log, opened, events = _both(path)
    dropped = dict(opened.report.dropped)
    assert dropped == {
        "repeated header row": 1,
        "missing user id (column user_id empty)": 1,
        "missing timestamp (column timestamp empty)": 1,
        "unparseable timestamp in column timestamp (e.g. 'not a date' on row 83)": 1,
        "missing event type (column event_type empty)": 1,
    }
    r = opened.report
    assert r.rows_read == 88 and r.rows_kept == 83 == r.rows_read - r.rows_dropped
    assert any("2 non-numeric values in column amount" in w for w in r.warnings)
    _assert_same(log, opened, events)


UCI = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom\n"
    "C536379,D,Discount,-1,12/1/2010 9:41,27.50,14527.0,United Kingdom\n"
    "536589,21777,,-10,12/1/2010 16:50,0.0,,United Kingdom\n"
    "536590,21778,,-5,12/13/2010 16:51,0.0,12345.0,United Kingdom\n"
    '536366,22633,HAND WARMER,6,12/1/2010 8:28,"1,85",17850.0,United Kingdom\n'
)


def test_order_lines_cancellations_stock_adjustments_and_us_dates(tmp_path):
    path = tmp_path / "uci.csv"
    path.write_text(UCI)
    log, opened, events = _both(path)
    assert dict(opened.report.dropped) == {
        "missing user id (column CustomerID empty)": 1,
        "stock adjustment (negative Quantity, InvoiceNo without 'C')": 1,
    }
    assert sorted(events["event_type"]) == ["cancel", "purchase", "purchase"]
    _assert_same(log, opened, events)


@pytest.mark.parametrize(
    ("text", "schema"),
    [
        ("user;date;amount\na;2024-01-01;€ 1.234,50\nb;2024-01-02;3,5\nc;2024-01-03;7\n", {}),
        ("uid,ts,type\na,1700000000,0\nb,1700000100,1\na,1700000200,3\n", {}),
        (
            "user_id,visit_datetime,type,brand_id\n1,6-4,0,7\n2,6-5,1,7\n1,7-1,3,8\n",
            {"year": 2014},
        ),
        ("customer,when,what\nx,05/03/2024,view\ny,25/03/2024,buy\nx,01/04/2024,buy\n", {}),
        ("user_id,timestamp\na,2024-01-01T10:00:00+02:00\nb,2024-01-01T10:00:00Z\n", {}),
        ("user,time,event\na,1700000000000,view\nb,1700000100000,purchase\n", {}),
    ],
)
def test_formats_and_layouts_match_the_in_memory_reader(tmp_path, text, schema):
    path = tmp_path / "log.csv"
    path.write_text(text)
    _assert_same(*_both(path, SchemaConfig(**schema)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user_id,timestamp\na,x\nb,y\n", "could be read as a timestamp"),
        ("user_id,timestamp\na,2024-01-01\na,2024-01-02\n", "Only one user"),
        ("user_id,timestamp,amount\na,2024-01-01,x\nb,2024-01-02,y\n", "not numeric"),
        ("customer_ref,amount\na,1\n", "No timestamp column found"),
    ],
)
def test_problems_are_the_in_memory_reader_s(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(EventDataError) as memory:
        load_events(path)
    with pytest.raises(EventDataError, match=message) as files:
        open_events(duckdb.connect(), path)
    assert str(files.value) == str(memory.value)


def test_missing_path_and_unsupported_files_are_refused_with_a_fix(tmp_path):
    with pytest.raises(EventDataError, match="was not found"):
        open_events(duckdb.connect(), tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EventDataError, match="holds no .parquet"):
        open_events(duckdb.connect(), tmp_path / "empty")
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(EventDataError, match="--engine local"):
        open_events(duckdb.connect(), tmp_path / "book.xlsx")
