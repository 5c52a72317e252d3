"""A resolved column mapping (:class:`~churn_core.layouts.DetectedSchema`) as Spark columns.

The mapping itself is resolved exactly as for a local file: :func:`churn_core.layouts.detect_schema`
on a sample of the raw text (``churn_core.roles`` / ``churn_core.fields``). This module only turns
its decisions into Spark column expressions that build the canonical ``events`` relation of
ENGINE.md (``user_id``, ``ts_us``, ``event_type``, ``amount``, ``item_id``, ``category``) and a
``drop_reason`` column with the reasons and wording of ``churn_core.ingest`` (a row dropped for one
reason is not counted again). Decisions that ingest takes on the whole column (ids written as
``17850.0``, decimal commas, invoices that all start with "C") are taken here on the sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from churn_core.errors import EventDataError
from churn_core.events import PURCHASE
from churn_core.layouts import DetectedSchema, category_fallback, normalise_events
from churn_core.loading import NA_VALUES
from churn_core.timestamps import (
    DAY_MONTH,
    DAYS_SINCE_PRIOR,
    DEFAULT_YEAR,
    EPOCH_FORMATS,
    MONTH_DAY,
)
from churn_core.values import clean_ids

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

MAX_ABS_NUMBER = 1e12  # as churn_core.ingest: larger amounts are read as errors
MAX_EVENT_VALUES = 10_000  # distinct raw event values mapped on the driver
_CONTROL = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]"  # Java regex, as values._CONTROL
_CURRENCY = "[£$€¥\\s\\u00a0']"
# strftime directive -> Spark datetime pattern (single letters parse 1 or 2 digits)
_DIRECTIVES = {
    "Y": "yyyy",
    "y": "yy",
    "m": "M",
    "d": "d",
    "H": "H",
    "I": "h",
    "M": "m",
    "S": "s",
    "f": "SSSSSS",
    "p": "a",
    "b": "MMM",
    "B": "MMMM",
    "a": "EEE",
    "A": "EEEE",
    "z": "XX",
    "j": "D",
}
_FIXED = {"M": "MM", "d": "dd", "H": "HH", "h": "hh", "m": "mm", "s": "ss"}


@dataclass(frozen=True)
class CanonicalColumns:
    """The canonical columns and the drop reason of one raw Spark frame, plus how each was made."""

    columns: dict[str, Column]  # user_id, ts_us, event_type, amount, item_id, category
    drop_reason: Column  # NULL for kept rows
    bad_amounts: Column  # 1 where a present amount/quantity/price cell is not a number
    mapping: tuple[tuple[str, str], ...]


def spark_pattern(fmt: str) -> str | None:
    """A strftime pattern as a Spark datetime pattern; None when it has a directive Spark lacks.

    ``"%m/%d/%Y %H:%M"`` -> ``"M/d/yyyy H:mm"``; fields written next to another directive
    without a separator (``"%Y%m%d"``) get their fixed two-digit width.
    """
    out: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            code = fmt[i + 1]
            if code not in _DIRECTIVES:
                return None
            letters = _DIRECTIVES[code]
            glued = fmt[i + 2 : i + 3] == "%" or (i >= 2 and fmt[i - 2] == "%")
            out.append(_FIXED.get(letters, letters) if glued else letters)
            i += 2
            continue
        out.append(f"'{ch}'" if ch.isalpha() else ("''" if ch == "'" else ch))
        i += 1
    return "".join(out)


def _text(name: str) -> Column:
    """A raw column as trimmed text, the loader's NA spellings and blanks as NULL."""
    from pyspark.sql import functions as sf

    raw = sf.trim(sf.col(f"`{name}`").cast("string"))
    return sf.when(raw.isin(*NA_VALUES), sf.lit(None).cast("string")).otherwise(raw)


def _ids(name: str, sample: pd.DataFrame) -> tuple[Column, str]:
    """``values.clean_ids`` + control characters replaced, the '.0' decision taken on the sample."""
    from pyspark.sql import functions as sf

    text = _text(name)
    how = clean_ids(sample[name])[1] if name in sample else ""
    if how:
        text = sf.regexp_replace(text, "\\.0$", "")
    return sf.regexp_replace(text, _CONTROL, "\ufffd"), how


def _number(name: str, sample: pd.DataFrame) -> tuple[Column, Column]:
    """(value or NULL, 1 where a present cell is not a number), as ``values.to_number``."""
    from pyspark.sql import functions as sf

    text = _text(name)
    stripped = sf.regexp_replace(text, _CURRENCY, "")
    shown = sample[name].dropna().astype("str") if name in sample else pd.Series(dtype="str")
    shown = shown[pd.to_numeric(shown, errors="coerce").isna()]  # only cells a cast misreads
    shown = shown.str.replace(r"[£$€¥\s\u00a0']", "", regex=True)
    if shown.str.contains(r",\d{1,2}$|,\d{4,}$|\.\d{3},\d+$").any():
        retry = sf.regexp_replace(sf.regexp_replace(stripped, "\\.", ""), ",", ".")
    else:
        retry = sf.regexp_replace(stripped, ",", "")
    value = sf.coalesce(text.try_cast("double"), retry.try_cast("double"))
    value = sf.when(sf.abs(value) <= MAX_ABS_NUMBER, value)
    bad = (text.isNotNull() & value.isNull()).cast("int")
    return value, bad


def _timestamp_us(name: str, det: DetectedSchema, year: int | None) -> tuple[Column, str]:
    """Microseconds since 1970 (tz-naive, UTC session) or NULL when unreadable, and how."""
    from pyspark.sql import functions as sf

    fmt = det.time_format
    text = _text(name)
    if fmt == DAYS_SINCE_PRIOR:
        raise EventDataError(
            [
                f"Column {name} holds days since the prior order (relative times); the Spark "
                "engine needs calendar timestamps. Use --engine local for this log."
            ]
        )
    if fmt in EPOCH_FORMATS:
        scale = {"epoch_s": 1e6, "epoch_ms": 1e3, "epoch_us": 1.0, "epoch_ns": 1e-3}[fmt]
        nums = text.try_cast("double")
        limit = {"epoch_s": 9.2e9, "epoch_ms": 9.2e12, "epoch_us": 9.2e15, "epoch_ns": 9.2e18}
        nums = sf.when(sf.abs(nums) < limit[fmt], nums)
        return sf.floor(nums * sf.lit(scale)).cast("bigint"), fmt
    if fmt in (MONTH_DAY, DAY_MONTH):
        pattern = "yyyy-M-d" if fmt == MONTH_DAY else "yyyy-d-M"
        joined = sf.concat(sf.lit(f"{year or DEFAULT_YEAR}-"), sf.regexp_replace(text, "[/.]", "-"))
        return sf.unix_micros(sf.to_timestamp(joined, pattern)), fmt
    iso = sf.to_timestamp(sf.regexp_replace(text, " (UTC|GMT)$", ""))
    spark_fmt = spark_pattern(fmt.removesuffix(" %Z")) if fmt else None
    if spark_fmt is None:
        return sf.unix_micros(iso), fmt or "ISO 8601"
    parsed = sf.to_timestamp(sf.regexp_replace(text, " (UTC|GMT)$", ""), spark_fmt)
    return sf.unix_micros(sf.coalesce(parsed, iso)), fmt or "ISO 8601"


def _event_map(frame: DataFrame, col: str, det: DetectedSchema) -> dict[str, str]:
    """Raw event value -> canonical name for every distinct value in the data (few)."""
    from pyspark.sql import functions as sf

    rows = (
        frame.select(_text(col).alias("v"))
        .where(sf.col("v").isNotNull())
        .distinct()
        .limit(MAX_EVENT_VALUES + 1)
        .collect()
    )
    values = [r["v"] for r in rows]
    if len(values) > MAX_EVENT_VALUES:
        raise EventDataError(
            [
                f"Column {col} has more than {MAX_EVENT_VALUES:,} distinct values, so it is not "
                "an event type. Name the event column with --event-col (or none)."
            ]
        )
    names = normalise_events(pd.Series(values, dtype="str"), det.event_map)
    return dict(zip(values, names.tolist(), strict=True))


def canonical_columns(
    frame: DataFrame, det: DetectedSchema, sample: pd.DataFrame, year: int | None = None
) -> CanonicalColumns:
    """The canonical ``events`` columns of ``frame`` under the resolved mapping ``det``."""
    from pyspark.sql import functions as sf

    mapping: list[tuple[str, str]] = []
    reasons: list[tuple[Column, str]] = []
    user_col, time_col = det.user_col, det.time_col
    if user_col is None or time_col is None:
        missing = "user id" if user_col is None else "timestamp"
        raise EventDataError(
            [f"No {missing} column found. Columns found: {', '.join(frame.columns)}."]
        )
    header = (sf.trim(sf.col(f"`{user_col}`").cast("string")) == user_col) & (
        sf.trim(sf.col(f"`{time_col}`").cast("string")) == time_col
    )
    reasons.append((header, "repeated header row"))
    user, how = _ids(user_col, sample)
    mapping.append(("user_id", user_col + how))
    reasons.append((user.isNull(), f"missing user id (column {user_col} empty)"))
    time_text = _text(time_col)
    ts_us, how = _timestamp_us(time_col, det, year)
    mapping.append(("timestamp", f"{time_col} ({how})"))
    reasons.append((time_text.isNull(), f"missing timestamp (column {time_col} empty)"))
    reasons.append((ts_us.isNull(), f"unparseable timestamp in column {time_col}"))

    numbers: dict[str, tuple[Column, Column]] = {}
    for fld in ("amount_col", "quantity_col", "price_col"):
        col = getattr(det, fld)
        if col is not None and col in frame.columns:
            numbers[fld] = _number(col, sample)

    event_col = det.event_col if det.event_col in frame.columns else None
    if event_col:
        names = _event_map(frame, event_col, det)
        raw = _text(event_col)
        event = sf.lit(None).cast("string")
        if names:
            pairs = [sf.lit(x) for kv in names.items() for x in kv]
            event = sf.element_at(sf.create_map(*pairs), raw)
        mapping.append(("event_type", event_col + (" (mapped)" if det.event_map else "")))
        reasons.append((event.isNull(), f"missing event type (column {event_col} empty)"))
    else:
        how = "'purchase' for every row (no event column)"
        inv = det.invoice_col if det.invoice_col in frame.columns else None
        cancel = sf.lit(False)
        if inv:
            starts = sf.upper(sf.trim(sf.col(f"`{inv}`").cast("string"))).startswith("C")
            cancel = sf.coalesce(starts, sf.lit(False))
            shown = sample[inv].dropna().astype("str").str.strip().str.upper()
            if len(shown) and shown.str.startswith("C").all():
                cancel = sf.lit(False)
            else:
                how += f"; 'cancel' where {inv} starts with 'C'"
        if "quantity_col" in numbers:
            qty_name = det.quantity_col
            negative = sf.coalesce(numbers["quantity_col"][0] < 0, sf.lit(False))
            if inv:
                reasons.append(
                    (
                        negative & ~cancel,
                        f"stock adjustment (negative {qty_name}, {inv} without 'C')",
                    )
                )
            else:
                cancel = cancel | negative
                how += f"; 'cancel' where {qty_name} is negative"
        event = sf.when(cancel, sf.lit("cancel")).otherwise(sf.lit(PURCHASE))
        mapping.append(("event_type", how))

    amount, amount_how = sf.lit(0.0), ""
    if "amount_col" in numbers:
        amount, amount_how = numbers["amount_col"][0], str(det.amount_col)
    elif "quantity_col" in numbers and "price_col" in numbers:
        amount = numbers["quantity_col"][0] * numbers["price_col"][0]
        amount_how = f"{det.quantity_col} × {det.price_col}"
    elif "price_col" in numbers:
        amount, amount_how = numbers["price_col"][0], str(det.price_col)
        if event_col:
            amount = sf.when(event == PURCHASE, amount).otherwise(sf.lit(0.0))
            amount_how += " on purchase events, 0 on other events"
    if amount_how:
        mapping.append(("amount", amount_how))
    bad = sf.lit(0)
    for _, flag in numbers.values():
        bad = sf.greatest(bad, flag)

    labels: dict[str, Column] = {}
    for fld, out in (("item_col", "item_id"), ("category_col", "category")):
        col = getattr(det, fld)
        if col is None or col not in frame.columns:
            labels[out] = sf.lit(None).cast("string")
            continue
        values, how = _ids(col, sample)
        backup = category_fallback(sample, col) if out == "category" else None
        if backup and backup != col and backup in frame.columns:
            values = sf.coalesce(values, _ids(backup, sample)[0])
            how += f", else {backup}"
        labels[out] = values
        mapping.append((out, col + how))

    drop = sf.lit(None).cast("string")
    for condition, reason in reversed(reasons):
        drop = sf.when(sf.coalesce(condition, sf.lit(False)), sf.lit(reason)).otherwise(drop)
    columns = {
        "user_id": user,
        "ts_us": ts_us,
        "event_type": event,
        "amount": sf.coalesce(amount.cast("double"), sf.lit(0.0)),
        **labels,
    }
    return CanonicalColumns(columns, drop, bad, tuple(mapping))
