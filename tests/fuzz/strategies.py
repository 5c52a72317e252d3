"""Hypothesis strategies for broken and hostile event logs, rendered to file bytes.

A generated case is ``(name, data)``: a file name (whose extension may lie) and the bytes an
analyst might hand the workbench. Logs are built cell by cell from hostile value pools
(unicode, NUL bytes, formulas, NaN/inf, far dates, time zones, epochs ...), then rendered as
CSV with a random delimiter/quoting/encoding, or as gzip/Parquet/XLSX, and maybe truncated.
"""

from __future__ import annotations

import csv
import gzip
import io

import pandas as pd
from hypothesis import strategies as st

COLUMN_NAMES = (
    "user_id",
    "customer_id",
    "CustomerID",
    "user",
    "timestamp",
    "event_time",
    "InvoiceDate",
    "date",
    "event_type",
    "behavior_type",
    "action",
    "amount",
    "price",
    "Quantity",
    "UnitPrice",
    "revenue",
    "item_id",
    "StockCode",
    "category",
    "category_code",
    "InvoiceNo",
    "email",
    "phone",
    "name",
    "address",
    "",
    "x",
    "日付",
    "user id ",
)

HOSTILE_TEXT = (
    "",
    " ",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "None",
    "NULL",
    "#N/A",
    '=HYPERLINK("http://evil.example","click")',
    "+SUM(1,2)",
    "@cmd",
    "-2+3",
    "\ttab",
    "a\x00b",
    "\x00",
    "line\nbreak",
    'quote"inside',
    "comma,inside",
    "semi;colon",
    "pipe|bar",
    "ünïcödé",
    "日本語",
    "🙂",
    "\u202eRTL",
    "\ufeffbom",
    "x" * 5000,
    "1e308",
    "-1e308",
    "0x1F",
    "1,234.50",
    "1.234,50",
    "£12",
    "€-3",
    "12.0",
    "00123",
    "user_id",
    "timestamp",
)

TIMESTAMPS = (
    "2023-01-05",
    "2023-01-05 10:00:00",
    "2023-01-05T10:00:00Z",
    "2023-01-05T10:00:00+05:30",
    "2023-01-05T10:00:00-08:00",
    "2023-01-05 10:00:00 UTC",
    "2023-01-05 10:00:00 CET",
    "05/01/2023 10:00",
    "01/05/2023",
    "31/12/2023",
    "12/31/2023",
    "5-1",
    "12-31",
    "2023/01/05",
    "20230105",
    "1672912800",
    "1672912800000",
    "1672912800000000",
    "1672912800.5",
    "-1",
    "0",
    "99999999999999999999",
    "0001-01-01",
    "1677-09-21",
    "1900-01-01",
    "2262-04-12",
    "9999-12-31",
    "2023-02-30",
    "2023-13-01",
    "Jan 5 2023",
    "5 January 2023",
    "yesterday",
    "2023-W01",
    "2023-01-05 25:61:61",
    "T",
    "",
)

EVENTS = (
    "view",
    "cart",
    "purchase",
    "buy",
    "pv",
    "fav",
    "remove_from_cart",
    "cancel",
    "0",
    "1",
    "2",
    "3",
    "",
    "PURCHASE",
    "购买",
)

AMOUNTS = (
    "0",
    "1",
    "12.5",
    "-5",
    "-1e9",
    "1e15",
    "1e308",
    "nan",
    "inf",
    "-inf",
    "abc",
    "",
    "3,50",
    "$1,000.00",
)


def _cell(pool: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Mostly plausible values from ``pool``, sometimes hostile text or random unicode."""
    return st.one_of(
        st.sampled_from(pool),
        st.sampled_from(HOSTILE_TEXT),
        st.text(max_size=12),
        st.integers(-(10**20), 10**20).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    )


_POOLS = {
    "time": TIMESTAMPS,
    "event": EVENTS,
    "amount": AMOUNTS,
}


def _pool_for(column: str) -> tuple[str, ...]:
    c = column.lower()
    if any(k in c for k in ("time", "date", "日付")):
        return TIMESTAMPS
    if any(k in c for k in ("event", "behavior", "action")):
        return EVENTS
    if any(k in c for k in ("amount", "price", "quantity", "revenue")):
        return AMOUNTS
    return ("u1", "u2", "u3", "17850", "17850.0", "a@b.example", "+44 20 7946 0958")


@st.composite
def raw_tables(draw, max_rows: int = 25) -> pd.DataFrame:
    """A table of text cells with hostile headers (missing/duplicated/odd columns)."""
    columns = draw(st.lists(st.sampled_from(COLUMN_NAMES), min_size=0, max_size=7))
    n_rows = draw(st.integers(0, max_rows))
    data = {}
    for i, col in enumerate(columns):
        cells = draw(st.lists(_cell(_pool_for(col)), min_size=n_rows, max_size=n_rows))
        data[i] = cells
    frame = pd.DataFrame(data)
    frame.columns = columns if columns else frame.columns
    return frame


def _csv_bytes(draw, frame: pd.DataFrame) -> bytes:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|", " ", ":"]))
    quoting = draw(
        st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC, csv.QUOTE_NONE])
    )
    buf = io.StringIO()
    writer = csv.writer(
        buf, delimiter=delimiter, quoting=quoting, escapechar="\\", lineterminator="\n"
    )
    if draw(st.booleans()) or frame.shape[1] == 0:
        try:
            writer.writerow(list(frame.columns))
        except csv.Error:
            csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerow(frame.columns)
    for row in frame.itertuples(index=False):
        if draw(st.integers(0, 9)) == 0:  # a row with another delimiter or ragged width
            alt = draw(st.sampled_from([",", ";", "\t", "|"]))
            buf.write(alt.join(str(v) for v in row[: draw(st.integers(0, len(row)))]) + "\n")
        else:
            try:
                writer.writerow(list(row))
            except csv.Error:  # QUOTE_NONE cannot write some rows: quote those
                csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerow(list(row))
    text = buf.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]))
    return text.encode(encoding, errors="replace")


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame = frame.copy()
    frame.columns = [f"{c}" if c else f"col{i}" for i, c in enumerate(frame.columns)]
    frame = frame.loc[:, ~pd.Index(frame.columns).duplicated()]
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _xlsx_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    safe = frame.map(lambda v: "".join(ch for ch in str(v) if ch >= " " or ch in "\t\n"))
    safe.to_excel(buf, index=False)
    return buf.getvalue()


@st.composite
def log_files(draw) -> tuple[str, bytes]:
    """``(file name, bytes)`` of a broken or hostile event log in any container."""
    kind = draw(
        st.sampled_from(["random", "magic", "csv", "csv", "csv", "gzip", "parquet", "xlsx"])
    )
    if kind == "random":
        return draw(st.sampled_from(["events.csv", "events.parquet", "x.xlsx"])), draw(
            st.binary(max_size=400)
        )
    if kind == "magic":  # a container's magic bytes followed by junk
        magic = draw(st.sampled_from([b"PAR1", b"PK\x03\x04", b"\x1f\x8b", b"\xef\xbb\xbf"]))
        return "events.csv", magic + draw(st.binary(max_size=200))
    frame = draw(st.one_of(raw_tables(), mutated_logs(), mutated_logs()))
    if kind == "parquet" and frame.shape[1]:
        data = _parquet_bytes(frame)
    elif kind == "xlsx" and frame.shape[1]:
        data = _xlsx_bytes(frame)
    else:
        data = _csv_bytes(draw, frame)
        if kind == "gzip":
            data = gzip.compress(data)
    # positions as fractions: XLSX bytes hold a creation time, so their length varies between
    # runs, and a draw bounded by it would make the strategy itself non-deterministic
    if draw(st.integers(0, 4)) == 0:  # truncated download
        data = data[: int(draw(st.integers(0, 999)) / 1000 * len(data))]
    if draw(st.integers(0, 9)) == 0:  # NUL bytes spliced in
        at = int(draw(st.integers(0, 1000)) / 1000 * len(data))
        data = data[:at] + b"\x00" * draw(st.integers(1, 4)) + data[at:]
    name = draw(st.sampled_from(["events.csv", "events.csv.gz", "events.parquet", "events.xlsx"]))
    return name, data


@st.composite
def plausible_logs(draw, min_users: int = 1, max_users: int = 12) -> pd.DataFrame:
    """A mostly valid canonical log with edge cases: few users, one class, odd values."""
    n_users = draw(st.integers(min_users, max_users))
    users = draw(
        st.lists(
            st.one_of(
                st.sampled_from(["u", "17850", "=1+1", "ü", "x" * 300, " 7 ", "a\x00"]),
                st.text(min_size=1, max_size=8),
            ),
            min_size=n_users,
            max_size=n_users,
        )
    )
    base = pd.Timestamp(
        draw(st.sampled_from(["1970-01-01", "2000-02-29", "2023-01-01", "2250-01-01"]))
    )
    rows = []
    for u in users:
        n_events = draw(st.integers(1, 6))
        for _ in range(n_events):
            day = draw(st.integers(0, 400))
            rows.append(
                (
                    u,
                    str(base + pd.Timedelta(days=day)),
                    draw(st.sampled_from(["view", "purchase", "cart"])),
                    draw(st.sampled_from(["0", "10", "-3", "1e12", "nan", "inf"])),
                )
            )
    return pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "amount"])


_TIME_STYLES = {
    "iso": lambda t: t.strftime("%Y-%m-%d %H:%M:%S"),
    "iso_z": lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "offset": lambda t: t.strftime("%Y-%m-%dT%H:%M:%S+05:30"),
    "utc_name": lambda t: t.strftime("%Y-%m-%d %H:%M:%S UTC"),
    "dayfirst": lambda t: t.strftime("%d/%m/%Y %H:%M"),
    "monthfirst": lambda t: t.strftime("%m/%d/%Y"),
    "month_day": lambda t: f"{t.month}-{t.day}",
    "epoch_s": lambda t: str(int(t.timestamp())),
    "epoch_ms": lambda t: str(int(t.timestamp() * 1000)),
    "compact": lambda t: t.strftime("%Y%m%d"),
}


@st.composite
def mutated_logs(draw) -> pd.DataFrame:
    """A plausible log, then corrupted: renamed/duplicated/missing columns, timestamps in one
    (or mixed) styles, PII and hostile extra columns, a share of cells replaced by junk."""
    frame = draw(plausible_logs(min_users=0, max_users=10))
    times = pd.to_datetime(frame["timestamp"])
    styles = draw(st.lists(st.sampled_from(sorted(_TIME_STYLES)), min_size=1, max_size=2))
    frame["timestamp"] = [_TIME_STYLES[styles[i % len(styles)]](t) for i, t in enumerate(times)]
    renames = {
        "user_id": draw(st.sampled_from(["user_id", "CustomerID", "customer", "client", "uid"])),
        "timestamp": draw(st.sampled_from(["timestamp", "InvoiceDate", "event_time", "date"])),
        "event_type": draw(st.sampled_from(["event_type", "behavior_type", "action", "kind"])),
        "amount": draw(st.sampled_from(["amount", "price", "revenue", "UnitPrice", "Quantity"])),
    }
    frame = frame.rename(columns=renames)
    n = len(frame)
    for extra in draw(st.lists(st.sampled_from(["email", "phone", "name", "address", "note"]))):
        frame[extra] = draw(st.lists(st.sampled_from(_PII_VALUES[extra]), min_size=n, max_size=n))
    for col in draw(st.lists(st.sampled_from(list(frame.columns)), max_size=2)):
        if draw(st.booleans()):
            frame = frame.drop(columns=[col], errors="ignore")
        elif col in frame:
            frame = pd.concat([frame.loc[:, [col]].iloc[:, :1], frame], axis=1)
    if n and frame.shape[1] and draw(st.booleans()):
        for _ in range(draw(st.integers(1, 5))):
            r, c = draw(st.integers(0, n - 1)), draw(st.integers(0, frame.shape[1] - 1))
            frame.iat[r, c] = draw(st.sampled_from(HOSTILE_TEXT + TIMESTAMPS))
    return frame


_PII_VALUES = {
    "email": ("ann@example.com", "bob.smith@shop.co.uk", "", "n/a"),
    "phone": ("+44 20 7946 0958", "(555) 123-4567", "0612345678", ""),
    "name": ("Ann Smith", "Bob O'Neil", "José Álvarez", ""),
    "address": ("221B Baker Street", "10 Downing St, London", "1600 Pennsylvania Ave NW", ""),
    "note": ("gift", "=1+1", "", "x" * 200),
}
