"""Column roles by content, the mapping-field table, and problems worded per audience.

The real-data tests load every layout in ../shared/data and a copy of it whose columns are
renamed col_a, col_b, ...: detection must find the same user, timestamp, event and amount
columns without the names.
"""

from __future__ import annotations

import dataclasses
import warnings

import pandas as pd
import pytest

from churn_core.cli import build_parser, config_from_args
from churn_core.config import SchemaConfig
from churn_core.errors import EventDataError, Problem
from churn_core.events import EventLog
from churn_core.fields import COLUMN_FIELDS, MAPPING_FIELDS
from churn_core.ingest import detect_schema, validate_events
from churn_core.layouts import DetectedSchema
from churn_core.loading import read_events
from tests.conftest import DEMO
from tests.lookalikes import lookalike


def _raw(text: str) -> pd.DataFrame:
    return read_events(text.encode())


def _load(raw: pd.DataFrame, **schema) -> EventLog:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return validate_events(raw, SchemaConfig(**schema))


def _neutral(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """A copy with columns renamed col_a, col_b, ... and the old -> new names."""
    names = {str(c): f"col_{chr(97 + i)}" for i, c in enumerate(raw.columns)}
    out = raw.copy()
    out.columns = list(names.values())
    out.attrs = dict(raw.attrs)
    return out, names


# -- one table of mapping fields -----------------------------------------------------------


def test_schema_config_and_detected_schema_follow_the_field_table():
    config_fields = [f.name for f in dataclasses.fields(SchemaConfig)]
    assert config_fields == [f.name for f in MAPPING_FIELDS]
    detected = [f.name for f in dataclasses.fields(DetectedSchema)]
    assert set(COLUMN_FIELDS) <= set(detected)
    assert "invoice_col" in COLUMN_FIELDS


def test_every_table_row_is_a_cli_flag_that_reaches_the_config():
    argv = ["train", "x.csv", "--model-dir", "m"]
    expected = {}
    for f in MAPPING_FIELDS:
        if f.kind == "column":
            argv += [f.flag, f"raw_{f.name}"]
            expected[f.name] = f"raw_{f.name}"
        elif f.kind == "year":
            argv += [f.flag, "2013"]
            expected[f.name] = 2013
        elif f.kind == "pairs":
            argv += [f.flag, "0=view", "1=purchase"]
            expected[f.name] = (("0", "view"), ("1", "purchase"))
        else:
            argv += [f.flag, "%d/%m/%Y"]
            expected[f.name] = "%d/%m/%Y"
    schema = config_from_args(build_parser().parse_args(argv)).schema
    assert {k: getattr(schema, k) for k in expected} == expected


def test_invoice_column_can_be_named():
    text = (
        "cust,when,bill,qty,unit\na,2024-01-01,X1,2,3\nb,2024-01-02,CX2,1,4\nb,2024-01-03,X3,1,1\n"
    )
    log = _load(_raw(text), invoice_col="bill", quantity_col="qty", price_col="unit")
    assert log.frame["event_type"].tolist() == ["purchase", "cancel", "purchase"]
    unnamed = _load(_raw(text), quantity_col="qty", price_col="unit")
    assert unnamed.frame["event_type"].tolist() == ["purchase"] * 3  # "bill" is no known name


def test_ids_that_all_start_with_c_are_not_cancellations():
    text = "user_id,timestamp,invoice_no\na,2024-01-01,CA-1\nb,2024-01-02,CA-2\n"
    assert _load(_raw(text)).frame["event_type"].tolist() == ["purchase", "purchase"]


# -- problems carry their field; CLI and app word the fix differently ----------------------


def test_problem_is_worded_for_cli_and_app():
    p = Problem("No timestamp column found.", "time_col", "name")
    assert p.text("cli") == "No timestamp column found. Name the timestamp column with --time-col."
    assert p.text("app") == (
        "No timestamp column found. Pick the timestamp column in the mapping box."
    )


def test_event_data_error_keeps_its_string_api():
    err = EventDataError(["plain text", Problem("x is wrong.", "user_col", "choose")])
    assert err.problems == ["plain text", "x is wrong. Choose another column with --user-col."]
    assert err.one_line() == "plain text; x is wrong. Choose another column with --user-col."
    assert err.for_app()[1] == "x is wrong. Pick another user id column in the mapping box."
    assert err.fields == ["user_col"]
    assert "- plain text" in str(err)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("customer,product\n1,a\n2,b\n", "time_col"),
        ("when,x\n2024-01-01,1\n", "user_col"),
        ("user_id,ts\na,soon\nb,later\n", "time_col"),
        ("user_id,timestamp,amount\na,2024-01-01,x\nb,2024-01-02,y\n", "amount_col"),
        ("user_id,timestamp\nu1,2024-01-01\nu1,2024-01-02\n", "user_col"),
    ],
)
def test_validation_problems_name_the_field_and_no_flag_in_the_app(text, field):
    with pytest.raises(EventDataError) as info:
        validate_events(_raw(text))
    err = info.value
    assert field in err.fields
    assert any("--" in p for p in err.problems)  # the CLI wording names a flag
    assert all("--" not in p for p in err.for_app())
    assert any("mapping box" in p for p in err.for_app())


# -- timestamp by content ------------------------------------------------------------------

ISSUE_LOG = "DAY,customer,sales\n11/1/2000,a,1.5\n11/2/2000,b,2\n12/24/2000,a,3\n1/3/2001,c,4\n"


def test_the_issues_log_loads():
    """An upper-case date column no name table knows, M/D/Y values, customer, sales."""
    log = _load(_raw(ISSUE_LOG))
    assert log.frame["timestamp"].min() == pd.Timestamp("2000-11-01")
    assert log.frame["timestamp"].max() == pd.Timestamp("2001-01-03")
    assert log.n_users == 3 and log.has_amount
    det = detect_schema(_raw(ISSUE_LOG))
    guess = det.guess("time_col")
    assert (guess.column, guess.confidence) == ("DAY", "medium")
    assert "%m/%d/%Y" in guess.evidence and "%d/%m/%Y" in guess.evidence  # formats tried
    assert any("DAY" in line and "medium" in line for line in log.report.lines())


def _dates_log(days_months: list[tuple[int, int]]) -> str:
    """Three users (grouped), dates written NN/NN/2011 from the given pairs, twice over."""
    pairs = days_months * 2
    rows = "".join(
        f"u{3 * i // len(pairs)},{a:02d}/{b:02d}/2011\n" for i, (a, b) in enumerate(pairs)
    )
    return "who_id,seen\n" + rows


def test_day_first_decided_by_a_first_field_above_12():
    raw = _raw(_dates_log([(1, 2), (3, 4), (13, 5), (7, 8)]))
    guess = detect_schema(raw).guess("time_col")
    assert guess.column == "seen" and "with %d/%m/%Y" in guess.evidence
    assert "first field above 12" in guess.evidence
    log = _load(raw)
    assert pd.Timestamp("2011-02-01") in set(log.frame["timestamp"])  # 01/02 read day-first


def test_month_first_decided_by_a_second_field_above_12():
    raw = _raw(_dates_log([(1, 2), (3, 4), (5, 13), (7, 8)]))
    guess = detect_schema(raw).guess("time_col")
    assert "with %m/%d/%Y" in guess.evidence and "second field above 12" in guess.evidence
    assert pd.Timestamp("2011-01-02") in set(_load(raw).frame["timestamp"])


def test_day_month_that_cannot_be_told_warns_and_says_so():
    raw = _raw(_dates_log([(1, 2), (3, 4), (5, 6), (7, 8)]))
    det = detect_schema(raw)
    assert det.time_col == "seen" and det.time_format is None
    assert "cannot be told apart" in det.guess("time_col").evidence
    with pytest.warns(UserWarning, match="day-first or month-first"):
        validate_events(raw)


def test_epoch_seconds_column_found_by_content():
    text = "a,b\n" + "".join(f"u{i % 4},{1_600_000_000 + i * 3600}\n" for i in range(12))
    det = detect_schema(_raw(text))
    assert (det.time_col, det.time_format) == ("b", "epoch_s")


def test_ids_are_not_mistaken_for_epochs():
    text = "a,b\n" + "".join(f"u{i % 4},{500_000 + i}\n" for i in range(12))
    assert detect_schema(_raw(text)).time_col is None


def test_two_date_columns_are_ambiguous_and_named_in_the_error():
    text = "k,first_seen_x,last_seen_y\n" + "".join(
        f"u{i % 3},2024-01-{i + 1:02d},2024-02-{i + 1:02d}\n" for i in range(9)
    )
    with pytest.raises(EventDataError) as info:
        validate_events(_raw(text))
    msg = next(p for p in info.value.problems if "timestamp" in p)
    assert "first_seen_x" in msg and "last_seen_y" in msg and "--time-col" in msg
    assert _load(_raw(text), time_col="last_seen_y").n_users == 3


# -- user, event, amount by content --------------------------------------------------------


def _grouped_log(n_users: int = 12, per_user: int = 5) -> pd.DataFrame:
    """A log sorted by user (as many exports are), neutral column names."""
    rows = []
    for u in range(n_users):
        for k in range(per_user):
            event = "pv" if k % 3 else "buy"
            rows.append(
                (f"{1000 + u}", f"{(u * 7 + k) % 40}", event, f"2024-03-{k + 1:02d}", f"{k}.5")
            )
    return pd.DataFrame(rows, columns=["c1", "c2", "c3", "c4", "c5"], dtype="str")


def test_user_event_and_price_found_by_content():
    det = detect_schema(_grouped_log())
    assert (det.user_col, det.time_col, det.event_col) == ("c1", "c4", "c3")
    assert det.price_col == "c5"  # money next to views is a price
    assert det.guess("user_col").confidence == "medium"
    assert "grouped" in det.guess("user_col").evidence
    assert det.guess("event_col").evidence.startswith("100% of rows hold event names")


def test_shuffled_ids_without_order_are_ambiguous():
    raw = _grouped_log().sample(frac=1.0, random_state=0).reset_index(drop=True)
    det = detect_schema(raw)
    assert det.user_col is None and {"c1", "c2"} <= set(det.guess("user_col").candidates)
    with pytest.raises(EventDataError, match=r"Several columns could be the user id: .*--user-col"):
        validate_events(raw)


def test_user_owned_by_an_order_id():
    rows = []
    for order in range(30):
        user, day = f"cust{order % 8}", f"2024-01-{order % 28 + 1:02d} 10:{order % 60:02d}"
        for line in range(3):
            rows.append((f"{5000 + order}", f"sku{(order + line) % 11}", day, user))
    raw = pd.DataFrame(rows, columns=["a", "b", "c", "d"], dtype="str")
    raw = raw.sample(frac=1.0, random_state=1).reset_index(drop=True)  # not grouped by anything
    det = detect_schema(raw)
    assert (det.user_col, det.invoice_col, det.time_col) == ("d", "a", "c")


def test_numeric_event_codes_are_a_low_confidence_guess():
    rows = [(f"u{i % 5}", f"2024-01-{i % 28 + 1:02d}", "0" if i % 5 else "1") for i in range(40)]
    raw = pd.DataFrame(sorted(rows), columns=["p", "q", "r"], dtype="str")
    det = detect_schema(raw)
    assert det.event_col == "r" and det.guess("event_col").confidence == "low"


def test_amount_found_by_decimals_and_not_in_integer_ids():
    text = "k,t,z,m\n" + "".join(
        f"u{i % 3},2024-01-{i + 1:02d},{100 + i},{i}.25\n" for i in range(9)
    )
    det = detect_schema(_raw(text))
    assert det.amount_col == "m" and det.guess("amount_col").confidence == "medium"


def test_two_money_columns_are_not_guessed():
    text = "user_id,timestamp,x,y\n" + "".join(
        f"u{i % 3},2024-01-{i + 1:02d},{i}.5,{i}.75\n" for i in range(9)
    )
    det = detect_schema(_raw(text))
    assert det.amount_col is None and set(det.guess("amount_col").candidates) == {"x", "y"}


def test_named_guesses_are_high_and_given_fields_are_given():
    det = detect_schema(_raw(ISSUE_LOG), SchemaConfig(time_col="DAY"))
    assert det.guess("time_col").confidence == "given"
    assert det.guess("user_col").confidence == "high"
    assert det.guess("amount_col").confidence == "high"


# -- every real layout, with its names and with neutral names -----------------------------

LAYOUTS = {
    "uci-online-retail": "uci-online-retail/online_retail.csv.gz",
    "taobao-userbehavior": "taobao-userbehavior/taobao_userbehavior_head.csv.gz",
    "rees46": "rees46-multicategory-head/rees46_2019-Oct_head.csv.gz",
    "tmall-2013": "tmall-brand-rec-2014/tmall_brand_rec_2014.csv.gz",
    "instacart-orders": "instacart-orders-head/instacart_orders_head.csv.gz",
}
ROLES = ("user_col", "time_col", "event_col", "amount_col", "price_col", "quantity_col")


class _RawLogs(dict):
    """Each layout's raw frame, read on first use: UCI retail from the copy bundled with the
    package; the others from ../shared/data, or, where it is absent, a generated log in the
    same format (``tests/lookalikes.py``: same columns and value formats, seeded values), so
    the detection checks run for everyone and on the real files where they exist."""

    def __init__(self, shared_data):
        super().__init__()
        self.shared_data = shared_data

    def __missing__(self, name: str) -> pd.DataFrame:
        real = self.shared_data.root / LAYOUTS[name]
        if name == "uci-online-retail":
            self[name] = read_events(DEMO)
        elif real.is_file():
            self[name] = read_events(real)
        else:
            self[name] = lookalike(name)
        return self[name]


@pytest.fixture(scope="module")
def raw_logs(shared_data) -> dict[str, pd.DataFrame]:
    return _RawLogs(shared_data)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_real_layout_detected_the_same_with_neutral_names(raw_logs, layout):
    raw = raw_logs[layout]
    named = detect_schema(raw)
    assert named.layout == layout
    neutral, names = _neutral(raw)
    det = detect_schema(neutral)
    for role in ROLES:
        expected = getattr(named, role)
        assert getattr(det, role) == (names[expected] if expected else None), role
    assert det.time_format == named.time_format
    if layout == "tmall-2013":  # numeric codes: the map must be recognised too
        assert dict(det.event_map) == dict(named.event_map)
    assert det.guess("user_col").confidence == "medium"
    assert det.guess("time_col").confidence == "medium"


@pytest.mark.parametrize("layout", ["uci-online-retail", "taobao-userbehavior", "tmall-2013"])
def test_real_item_column_guessed_with_neutral_names(raw_logs, layout):
    raw = raw_logs[layout]
    neutral, names = _neutral(raw)
    guess = detect_schema(neutral).guess("item_col")
    assert guess.column == names[detect_schema(raw).item_col]
    assert guess.confidence == "low"  # only a name could make an item id sure


@pytest.mark.parametrize(
    "layout", ["taobao-userbehavior", "rees46", "tmall-2013", "instacart-orders"]
)
def test_real_layout_with_neutral_names_gives_the_same_events(raw_logs, layout):
    raw = raw_logs[layout]
    neutral, _ = _neutral(raw)
    a, b = _load(raw), _load(neutral)
    for col in ("user_id", "timestamp", "event_type", "amount"):
        pd.testing.assert_series_equal(a.frame[col], b.frame[col])
    assert a.report.rows_kept == b.report.rows_kept


@pytest.mark.slow
def test_retail_with_neutral_names_gives_the_same_events(raw_logs):
    raw = raw_logs["uci-online-retail"]
    neutral, _ = _neutral(raw)
    a, b = _load(raw), _load(neutral)
    for col in ("user_id", "timestamp", "event_type", "amount"):
        pd.testing.assert_series_equal(a.frame[col], b.frame[col])
    assert (b.frame["event_type"] == "cancel").sum() == 8_905  # C-invoices found by content


def test_customer_table_without_times_is_refused_with_or_without_names(shared_data):
    raw = read_events(shared_data / "ecommerce-churn-kaggle" / "e_commerce_churn.csv.gz")
    for frame in (raw, _neutral(raw)[0]):
        with pytest.raises(EventDataError) as info:
            validate_events(frame)
        assert "time_col" in info.value.fields


def test_headerless_order_log_is_read_by_its_values():
    """Invoice, customer, time, price: no header at all; the customer owns the invoices."""
    rows = "".join(
        f"{7000 + o},{2000 + o % 5},2024-0{1 + o % 3}-1{o % 9} 09:00,{line + 1}.99\n"
        for o in range(20)
        for line in range(2)
    )
    log = _load(read_events(rows.encode()))
    assert log.report.layout == "custom" and log.n_users == 5
    assert log.has_amount and log.frame["timestamp"].min() == pd.Timestamp("2024-01-10 09:00")
    assert any("user id = column_2" in line for line in log.report.lines())
