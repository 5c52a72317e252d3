"""detect_schema / validate_events / load_events: layouts, rules, derivations, real files."""

from __future__ import annotations

import gzip
import io
import warnings

import numpy as np
import pandas as pd
import pytest

from churn_core.config import SchemaConfig
from churn_core.errors import EventDataError
from churn_core.events import CANONICAL_COLUMNS, EventLog
from churn_core.ingest import DetectedSchema, detect_schema, load_events, validate_events
from churn_core.loading import read_events
from tests.conftest import DEMO


def _raw(text: str) -> pd.DataFrame:
    return read_events(text.encode())


def _load(text: str, **schema) -> EventLog:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return validate_events(_raw(text), SchemaConfig(**schema))


def _balanced(log: EventLog) -> bool:
    r = log.report
    return r.rows_read == r.rows_kept + r.rows_dropped and r.rows_kept == len(log.frame)


def _dropped(log: EventLog) -> dict[str, int]:
    return dict(log.report.dropped)


def _cols(*names: str) -> pd.DataFrame:
    return pd.DataFrame([["1"] * len(names)], columns=list(names), dtype="str")


# -- detect_schema -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "layout", "user", "time", "event"),
    [
        (
            ("user_id", "timestamp", "event_type", "amount"),
            "canonical",
            "user_id",
            "timestamp",
            "event_type",
        ),
        (
            (
                "InvoiceNo",
                "StockCode",
                "Description",
                "Quantity",
                "InvoiceDate",
                "UnitPrice",
                "CustomerID",
                "Country",
            ),
            "uci-online-retail",
            "CustomerID",
            "InvoiceDate",
            None,
        ),
        (
            ("user_id", "item_id", "category_id", "behavior_type", "timestamp"),
            "taobao-userbehavior",
            "user_id",
            "timestamp",
            "behavior_type",
        ),
        (
            (
                "event_time",
                "event_type",
                "product_id",
                "category_id",
                "category_code",
                "brand",
                "price",
                "user_id",
                "user_session",
            ),
            "rees46",
            "user_id",
            "event_time",
            "event_type",
        ),
        (
            ("user_id", "brand_id", "type", "visit_datetime"),
            "tmall-2013",
            "user_id",
            "visit_datetime",
            "type",
        ),
        (
            (
                "order_id",
                "user_id",
                "eval_set",
                "order_number",
                "order_dow",
                "order_hour_of_day",
                "days_since_prior_order",
            ),
            "instacart-orders",
            "user_id",
            "days_since_prior_order",
            None,
        ),
        (
            ("Customer ID", "Event Time", "Action", "Revenue"),
            "custom",
            "Customer ID",
            "Event Time",
            "Action",
        ),
        (
            ("customer_unique_id", "order_purchase_timestamp", "payment_value"),
            "custom",
            "customer_unique_id",
            "order_purchase_timestamp",
            None,
        ),
    ],
)
def test_detect_layouts_from_column_names(columns, layout, user, time, event):
    det = detect_schema(_cols(*columns))
    assert isinstance(det, DetectedSchema)
    assert (det.layout, det.user_col, det.time_col, det.event_col) == (layout, user, time, event)


def test_detect_presets_fill_the_other_fields():
    uci = detect_schema(
        _cols("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")
    )
    assert (uci.quantity_col, uci.price_col, uci.invoice_col, uci.item_col) == (
        "Quantity",
        "UnitPrice",
        "InvoiceNo",
        "StockCode",
    )
    tmall = detect_schema(_cols("user_id", "brand_id", "type", "visit_datetime"))
    assert tmall.item_col == "brand_id" and tmall.time_format == "month-day"
    assert dict(tmall.event_map) == {"0": "view", "1": "purchase", "2": "favorite", "3": "cart"}
    taobao = detect_schema(_cols("user_id", "item_id", "category_id", "behavior_type", "timestamp"))
    assert taobao.time_format == "epoch_s" and dict(taobao.event_map)["buy"] == "purchase"


def test_detect_prefers_category_code_and_synonyms():
    det = detect_schema(
        _cols("userid", "date", "sku", "category_id", "category_code", "qty", "price")
    )
    assert (det.item_col, det.category_col, det.quantity_col, det.price_col) == (
        "sku",
        "category_code",
        "qty",
        "price",
    )
    assert det.amount_col is None and det.layout == "custom"


def test_explicit_schema_fields_win():
    raw = _cols("user_id", "timestamp", "account", "when", "kind")
    schema = SchemaConfig(
        user_col="account",
        time_col="when",
        event_col="kind",
        time_format="epoch_ms",
        event_map=(("9", "purchase"),),
    )
    det = detect_schema(raw, schema)
    assert (det.user_col, det.time_col, det.event_col, det.time_format) == (
        "account",
        "when",
        "kind",
        "epoch_ms",
    )
    assert det.event_map == (("9", "purchase"),)


def test_explicit_event_map_overrides_layout_map():
    det = detect_schema(
        _cols("user_id", "brand_id", "type", "visit_datetime"),
        SchemaConfig(event_map=(("0", "click"),)),
    )
    assert dict(det.event_map)["0"] == "click" and dict(det.event_map)["1"] == "purchase"


# -- validation rules: each raises EventDataError naming the column and the fix -----------


def test_rule_no_rows():
    with pytest.raises(EventDataError, match="has no rows"):
        validate_events(pd.DataFrame({"user_id": [], "timestamp": []}, dtype="str"))


def test_rule_no_user_column_lists_columns_and_flag():
    with pytest.raises(
        EventDataError, match=r"No user id column.*Columns found: when, x.*--user-col"
    ):
        validate_events(_raw("when,x\n2024-01-01,1\n"))


def test_rule_no_time_column_suggests_flag():
    with pytest.raises(EventDataError, match=r"No timestamp column.*--time-col"):
        validate_events(_raw("user_id,x\na,1\nb,2\n"))


def test_rule_named_columns_absent_are_all_reported():
    with pytest.raises(EventDataError) as info:
        validate_events(
            _raw("user_id,timestamp\na,2024-01-01\n"),
            SchemaConfig(user_col="cust", time_col="when", amount_col="spend"),
        )
    text = str(info.value)
    assert "Column 'cust' (given with --user-col) is not in the file" in text
    assert "Column 'when' (given with --time-col)" in text
    assert "Column 'spend' (given with --amount-col)" in text
    assert "Columns found: user_id, timestamp" in text


def test_rule_every_problem_is_listed_at_once():
    raw = _raw("who,amount\na,x\nb,y\n")
    with pytest.raises(EventDataError) as info:
        validate_events(raw, SchemaConfig(user_col="who", amount_col="amount"))
    assert any("--time-col" in p for p in info.value.problems)
    assert any("amount is not numeric" in p for p in info.value.problems)


@pytest.mark.parametrize(
    ("field", "flag"),
    [("amount", "--amount-col"), ("quantity", "--quantity-col"), ("price", "--price-col")],
)
def test_rule_non_numeric_majority(field, flag):
    other = {"amount": "", "quantity": ",price", "price": ",quantity"}[field]
    extra = {"amount": "", "quantity": ",2", "price": ",2"}[field]
    text = f"user_id,timestamp,{field}{other}\n" + "".join(
        f"u{i},2024-01-0{i + 1},abc{extra}\n" for i in range(3)
    )
    with pytest.raises(
        EventDataError, match=rf"Column {field} is not numeric in 3 of 3 rows.*{flag}"
    ):
        validate_events(_raw(text))


def test_rule_only_one_user():
    with pytest.raises(EventDataError, match=r"Only one user \('u1'\).*--user-col"):
        validate_events(_raw("user_id,timestamp\nu1,2024-01-01\nu1,2024-01-02\n"))


def test_rule_all_timestamps_unparseable():
    with pytest.raises(
        EventDataError, match=r"No value in column ts could be read.*'soon' on row 1.*--time-format"
    ):
        validate_events(_raw("user_id,ts\na,soon\nb,later\n"))


def test_rule_many_unparseable_timestamps_is_refused():
    text = "user_id,ts\n" + "a,2024-01-01\n" * 10 + "b,garbage\n" * 2
    with pytest.raises(EventDataError, match=r"2 of 12 values in column ts \(17%\).*--time-format"):
        validate_events(_raw(text))


def test_rule_empty_time_column():
    with pytest.raises(EventDataError, match="Column ts \\(timestamp\\) is empty"):
        validate_events(_raw("user_id,ts\na,\nb,\n"))


def test_rule_no_usable_rows_left():
    with pytest.raises(EventDataError, match="No usable rows remain.*missing user id"):
        validate_events(_raw("user_id,timestamp\n,2024-01-01\n,2024-01-02\n"))


# -- row-level drops: counted by reason, never silent -------------------------------------


def test_minority_problems_are_dropped_and_counted():
    text = (
        "user_id,timestamp,event_type\n"
        + "".join(f"u{i % 7},2024-01-{i % 28 + 1:02d},view\n" for i in range(60))
        + ",2024-02-01,view\n"  # missing user
        + "u1,,view\n"  # missing timestamp
        + "u2,not a date,view\n"  # unparseable
        + "u3,2024-02-02,\n"  # missing event
        + "user_id,timestamp,event_type\n"  # header repeated by a concatenation
    )
    log = _load(text)
    dropped = _dropped(log)
    assert dropped["repeated header row"] == 1
    assert dropped["missing user id (column user_id empty)"] == 1
    assert dropped["missing timestamp (column timestamp empty)"] == 1
    assert dropped["unparseable timestamp in column timestamp (e.g. 'not a date' on row 63)"] == 1
    assert dropped["missing event type (column event_type empty)"] == 1
    assert log.report.rows_read == 65 and log.report.rows_kept == 60
    assert _balanced(log)


def test_non_numeric_amount_minority_is_kept_as_zero_with_a_warning():
    text = (
        "user_id,timestamp,amount\n"
        + "".join(f"u{i},2024-01-0{i + 1},{i + 1}\n" for i in range(5))
        + "u9,2024-01-09,n/a-ish\n"
    )
    with pytest.warns(UserWarning, match="1 non-numeric values in column amount"):
        log = validate_events(_raw(text))
    assert log.report.rows_kept == 6
    assert log.frame.loc[log.frame.user_id == "u9", "amount"].item() == 0.0
    assert any("non-numeric" in w for w in log.report.warnings)


def test_amounts_with_currency_signs_and_separators():
    eu = _load("user;date;amount\na;2024-01-01;€ 1.234,50\nb;2024-01-02;3,5\nc;2024-01-03;7\n")
    assert eu.frame["amount"].tolist() == [1234.5, 3.5, 7.0]
    us = _load(
        'user,date,amount\na,2024-01-01,"$1,200.50"\nb,2024-01-02,"1,200"\nc,2024-01-03,£7\n'
    )
    assert us.frame["amount"].tolist() == [1200.5, 1200.0, 7.0]


# -- derivations ---------------------------------------------------------------------------

UCI = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,14527.0,United Kingdom\n"
    "536589,21777,,-10,2010-12-01 16:50:00,0.0,,United Kingdom\n"
    "536590,21778,,-5,2010-12-01 16:51:00,0.0,12345.0,United Kingdom\n"
    "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom\n"
)


def test_uci_layout_derives_events_amounts_and_ids():
    log = _load(UCI)
    f = log.frame
    assert log.report.layout == "uci-online-retail"
    assert f["user_id"].tolist() == ["14527", "17850", "17850"]
    assert f["event_type"].tolist() == ["cancel", "purchase", "purchase"]
    assert f["amount"].tolist() == pytest.approx([-27.5, 15.3, 11.1])
    assert f["item_id"].tolist() == ["D", "85123A", "22633"]
    assert _dropped(log) == {
        "missing user id (column CustomerID empty)": 1,
        "stock adjustment (negative Quantity, InvoiceNo without 'C')": 1,
    }
    assert ("amount", "Quantity × UnitPrice") in log.report.mapping
    assert log.has_amount and _balanced(log)


def test_rees46_amount_is_price_on_purchases_only():
    text = (
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
        "user_session\n"
        "2019-10-01 00:00:00 UTC,view,1,11,electronics.phone,x,10.0,5,s\n"
        "2019-10-01 00:01:00 UTC,purchase,1,11,electronics.phone,x,10.0,5,s\n"
        "2019-10-01 00:02:00 UTC,cart,2,22,,y,4.0,6,t\n"
    )
    log = _load(text)
    f = log.frame
    assert log.report.layout == "rees46"
    assert f["amount"].tolist() == [0.0, 10.0, 0.0]
    assert f["category"].tolist() == ["electronics.phone", "electronics.phone", "22"]
    assert f["timestamp"].iloc[1] == pd.Timestamp("2019-10-01 00:01:00")


def test_price_only_purchase_log_uses_the_price_on_every_row():
    log = _load("user_id,timestamp,price\na,2024-01-01,3\nb,2024-01-02,4\n")
    assert log.frame["amount"].tolist() == [3.0, 4.0]
    assert log.frame["event_type"].unique().tolist() == ["purchase"]


def test_quantity_without_invoice_negative_is_a_cancel():
    log = _load("user_id,timestamp,qty,price\na,2024-01-01,2,3\nb,2024-01-02,-1,4\n")
    assert log.frame["event_type"].tolist() == ["purchase", "cancel"]
    assert log.frame["amount"].tolist() == [6.0, -4.0]


def test_order_line_log_user_time_amount_only():
    log = _load("customer,order_date,revenue\nx,2024-03-01,10\ny,2024-03-02,0\n")
    assert log.report.layout == "custom" and log.has_amount
    assert log.event_types == ["purchase"]


def test_all_zero_amounts_do_not_count_as_having_amounts():
    log = _load(
        "user_id,timestamp,amount,event_type\na,2013-06-04,0.0,click\nb,2013-06-05,0.0,purchase\n"
    )
    assert not log.has_amount
    assert log.event_types == ["purchase", "view"]  # click and Tmall code 0 are both "view"


def test_event_names_are_normalised():
    raw = ["PV", " Buy ", "Add To Cart", "wishlist", "refund", "click", "page-view", "order"]
    text = "user_id,timestamp,event\n" + "".join(
        f"u{i},2024-01-0{i % 9 + 1},{e}\n" for i, e in enumerate(raw)
    )
    log = _load(text)
    got = log.frame.sort_values("timestamp", kind="stable")["event_type"].tolist()
    assert sorted(got) == sorted(
        ["view", "purchase", "cart", "favorite", "cancel", "view", "view", "purchase"]
    )


def test_numeric_event_codes_need_an_event_map():
    text = "user_id,timestamp,code\na,2024-01-01,1\nb,2024-01-02,2\n"
    with pytest.warns(UserWarning, match="numeric codes"):
        validate_events(_raw(text), SchemaConfig(event_col="code"))
    log = _load(text, event_col="code", event_map=(("1", "view"), ("2", "buy")))
    assert log.frame["event_type"].tolist() == ["view", "purchase"]
    assert not any("numeric codes" in w for w in log.report.warnings)


def test_output_contract():
    log = _load(
        "user_id,timestamp,event_type,amount,item_id\n"
        "b,2024-01-02,view,,i1\na,2024-01-03,buy,2,i2\nb,2024-01-01,buy,1,i3\n"
    )
    f = log.frame
    assert tuple(f.columns) == CANONICAL_COLUMNS
    assert f["timestamp"].dtype == np.dtype("datetime64[ns]")
    assert f["amount"].dtype == np.float64
    for col in ("user_id", "event_type", "item_id", "category"):
        assert pd.api.types.is_string_dtype(f[col].dtype)
    assert f["user_id"].tolist() == ["a", "b", "b"]
    assert f["timestamp"].is_monotonic_increasing is False
    assert f.groupby("user_id")["timestamp"].apply(lambda s: s.is_monotonic_increasing).all()
    assert f["amount"].tolist() == [2.0, 1.0, 0.0]
    assert log.has_items and not log.has_categories
    assert log.report.mapping[0] == ("user_id", "user_id")


# -- timestamps ----------------------------------------------------------------------------


def test_epoch_seconds_and_milliseconds():
    s = _load("user_id,ts\na,1511544070\nb,1511561733\n")
    ms = _load("user_id,ts\na,1511544070000\nb,1511561733000\n")
    assert s.frame["timestamp"].tolist() == ms.frame["timestamp"].tolist()
    assert s.start == pd.Timestamp("2017-11-24 17:21:10")
    assert dict(ms.report.mapping)["timestamp"] == "ts (epoch_ms)"


def test_typed_frames_are_accepted():
    raw = pd.DataFrame({"user_id": [1, 2], "timestamp": [1_700_000_000, 1_700_000_100]})
    assert validate_events(raw).start == pd.Timestamp("2023-11-14 22:13:20")
    raw["timestamp"] = pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("UTC")
    assert validate_events(raw).frame["timestamp"].dt.tz is None


def test_iso_with_zones_is_converted_to_utc_and_made_naive():
    log = _load(
        "user_id,ts\na,2024-01-01T02:00:00+02:00\nb,2024-01-01T00:00:00Z\n"
        "c,2024-01-01 00:00:00 UTC\n"
    )
    assert log.frame["timestamp"].tolist() == [pd.Timestamp("2024-01-01")] * 3


def test_day_first_is_detected_from_any_row():
    rows = "".join(f"u{i},0{i}/02/2011 08:26\n" for i in range(1, 9)) + "z,13/02/2011 09:00\n"
    log = _load("user_id,ts\n" + rows)
    assert log.frame.set_index("user_id").loc["u1", "timestamp"] == pd.Timestamp("2011-02-01 08:26")


def test_ambiguous_day_month_order_warns():
    with pytest.warns(UserWarning, match="day-first or month-first"):
        log = validate_events(_raw("user_id,ts\na,01/02/2011\nb,03/04/2011\n"))
    assert log.frame["timestamp"].iloc[0] == pd.Timestamp("2011-01-02")


def test_explicit_time_format_wins():
    log = _load("user_id,ts\na,01/02/2011\nb,03/04/2011\n", time_format="%d/%m/%Y")
    assert log.frame["timestamp"].iloc[0] == pd.Timestamp("2011-02-01")
    assert not log.report.warnings


def test_month_day_dates_take_the_year_from_the_schema():
    text = "user_id,brand_id,type,visit_datetime\n1,10,0,6-4\n2,11,1,8-15\n"
    with pytest.warns(UserWarning, match="assumed 2013"):
        log = validate_events(_raw(text))
    assert log.start == pd.Timestamp("2013-06-04")
    assert any("assumed 2013" in w for w in log.report.warnings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log14 = validate_events(_raw(text), SchemaConfig(year=2014))
    assert log14.end == pd.Timestamp("2014-08-15")
    assert log14.event_types == ["purchase", "view"]


def test_implausible_time_range_warns():
    with pytest.warns(UserWarning, match="looks wrong"):
        validate_events(_raw("user_id,ts\na,5\nb,6\n"))


def test_instacart_relative_timeline():
    text = (
        "order_id,user_id,eval_set,order_number,order_dow,order_hour_of_day,"
        "days_since_prior_order\n"
        "10,1,prior,2,3,7,15\n11,1,prior,1,2,8,\n12,2,prior,1,0,9,\n13,1,train,3,1,10,30\n"
    )
    with pytest.warns(UserWarning, match="Times are relative"):
        log = validate_events(_raw(text))
    f = log.frame
    assert log.report.layout == "instacart-orders"
    assert f.loc[f.user_id == "1", "timestamp"].tolist() == [
        pd.Timestamp("2000-01-01 08:00"),
        pd.Timestamp("2000-01-16 07:00"),
        pd.Timestamp("2000-02-15 10:00"),
    ]
    assert log.event_types == ["purchase"] and not log.has_amount


def test_headerless_taobao_is_recognised():
    blob = gzip.compress(b"1,2268318,2520377,pv,1511544070\n2,2333346,2520771,buy,1511561733\n")
    with pytest.warns(UserWarning, match="no header row"):
        log = load_events(blob, name="UserBehavior.csv.gz")
    assert log.report.layout == "taobao-userbehavior"
    assert log.event_types == ["purchase", "view"]


def test_load_events_reads_parquet_bytes():
    buf = io.BytesIO()
    pd.DataFrame(
        {
            "user": ["a", "b"],
            "time": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "value": [1.0, 2.0],
        }
    ).to_parquet(buf)
    log = load_events(buf.getvalue(), name="x.parquet")
    assert log.n_users == 2 and log.has_amount


# -- the real public files (../shared/data); counts from its README ----------------------


@pytest.fixture(scope="module")
def retail() -> EventLog:
    return load_events(DEMO)  # the bundled copy of ../shared/data/uci-online-retail


def test_real_retail_counts(retail):
    f, r = retail.frame, retail.report
    assert r.layout == "uci-online-retail" and r.rows_read == 541_909
    assert dict(r.dropped) == {"missing user id (column CustomerID empty)": 135_080}
    purchases = f[f.event_type == "purchase"]
    assert len(purchases) == 397_924
    assert purchases.user_id.nunique() == 4_339
    assert (f.event_type == "cancel").sum() == 8_905
    assert retail.n_users == 4_372 and retail.has_amount
    assert (retail.start, retail.end) == (
        pd.Timestamp("2010-12-01 08:26"),
        pd.Timestamp("2011-12-09 12:50"),
    )
    assert "17850" in set(f.user_id)
    assert r.rows_read == r.rows_kept + r.rows_dropped


def test_real_retail_churn_table_matches_readme(retail):
    f = retail.frame[retail.frame.event_type == "purchase"]
    cutoff = pd.Timestamp("2011-09-10")
    before = set(f.user_id[f.timestamp < cutoff])
    after = set(f.user_id[(f.timestamp >= cutoff) & (f.timestamp < cutoff + pd.Timedelta(days=90))])
    assert (len(before), len(before - after)) == (3_370, 1_451)


def test_real_tmall(shared_data):
    path = shared_data / "tmall-brand-rec-2014" / "tmall_brand_rec_2014.csv.gz"
    with pytest.warns(UserWarning, match="assumed 2013"):
        log = load_events(path)
    f = log.frame
    assert log.report.layout == "tmall-2013"
    assert (log.n_events, log.n_users) == (182_880, 884)
    assert f.event_type.value_counts().to_dict() == {
        "view": 174_539,
        "purchase": 6_984,
        "favorite": 1_204,
        "cart": 153,
    }
    assert (log.start, log.end) == (pd.Timestamp("2013-04-15"), pd.Timestamp("2013-08-15"))
    cutoff = pd.Timestamp("2013-07-16")
    before = set(f.user_id[f.timestamp < cutoff])
    after = set(f.user_id[f.timestamp >= cutoff])
    assert (len(before), len(before - after)) == (860, 53)


def test_real_taobao(shared_data):
    log = load_events(shared_data / "taobao-userbehavior" / "taobao_userbehavior_head.csv.gz")
    f = log.frame
    assert (log.report.layout, log.n_events, log.n_users) == ("taobao-userbehavior", 84_287, 814)
    assert f.event_type.value_counts().to_dict() == {
        "view": 75_693,
        "cart": 4_494,
        "favorite": 2_351,
        "purchase": 1_749,
    }
    assert f.user_id[f.event_type == "purchase"].nunique() == 558
    assert f.item_id.nunique() == 55_233 and f.category.nunique() == 2_911
    assert log.start == pd.Timestamp("2017-09-11 08:16:39")  # 35 rows predate the window


def test_real_rees46(shared_data):
    log = load_events(shared_data / "rees46-multicategory-head" / "rees46_2019-Oct_head.csv.gz")
    f = log.frame
    assert (log.report.layout, log.n_events, log.n_users) == ("rees46", 17_435, 4_505)
    assert f.event_type.value_counts().to_dict() == {"view": 17_056, "purchase": 214, "cart": 165}
    assert (f.amount[f.event_type != "purchase"] == 0).all()
    assert (f.amount[f.event_type == "purchase"] > 0).all()
    assert f.category.notna().all()
    assert (log.start, log.end) == (
        pd.Timestamp("2019-10-01 00:00"),
        pd.Timestamp("2019-10-01 02:50"),
    )


def test_real_instacart_lapse_label_matches_readme(shared_data):
    with pytest.warns(UserWarning, match="relative"):
        log = load_events(shared_data / "instacart-orders-head" / "instacart_orders_head.csv.gz")
    assert (log.report.layout, log.n_events, log.n_users) == ("instacart-orders", 49_998, 3_105)
    days = log.frame.timestamp.dt.normalize()
    last_gap = days.groupby(log.frame.user_id).apply(lambda d: (d.iloc[-1] - d.iloc[-2]).days)
    assert int((last_gap == 30).sum()) == 925


def test_preset_time_format_is_not_applied_to_another_chosen_column():
    raw = _raw("user_id,brand_id,type,visit_datetime,logged_at\n1,2,0,6-4,2013-06-04 10:00\n")
    det = detect_schema(raw, SchemaConfig(time_col="logged_at"))
    assert det.layout == "tmall-2013" and det.time_format == "%Y-%m-%d %H:%M"
    assert detect_schema(raw).time_format == "month-day"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2010-12-01 08:26:00"], "%Y-%m-%d %H:%M:%S"),
        (["2019-10-01 00:00:00 UTC"], "%Y-%m-%d %H:%M:%S %Z"),
        (["01/02/2011 08:26", "13/02/2011 09:00"], "%d/%m/%Y %H:%M"),
        (["01/02/2011", "03/04/2011"], None),  # could be either order: decided when parsing
        (["1511544070"], "epoch_s"),
        (["1511544070123"], "epoch_ms"),
        (["20190101", "20191231"], "%Y%m%d"),
        (["6-4", "8-15"], "month-day"),
    ],
)
def test_detect_infers_the_time_format(values, expected):
    raw = pd.DataFrame({"user_id": ["u"] * len(values), "ts": values}, dtype="str")
    assert detect_schema(raw).time_format == expected
