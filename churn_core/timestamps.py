"""Vectorised timestamp parsing: epoch numbers, ISO text, strftime formats, dates without year.

Every result is ``datetime64[ns]``, tz-naive, in UTC where the source carried a zone (the
zone is converted, then dropped) and in the source's own wall time otherwise. Values that
cannot be read become ``NaT``; the caller decides whether to drop them or give up.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

logger = logging.getLogger(__name__)

EPOCH_FORMATS = ("epoch_s", "epoch_ms", "epoch_us", "epoch_ns")
MONTH_DAY = "month-day"  # Tmall's "6-4": no year
DAY_MONTH = "day-month"
DAYS_SINCE_PRIOR = "days-since-prior"  # Instacart: a gap in days, not a date

DEFAULT_YEAR = 2013  # Tmall 2014's "M-D" dates; see shared/data/README.md
RELATIVE_ORIGIN = pd.Timestamp("2000-01-01")
_SAMPLE = 2000
_MONTH_DAY_RE = r"^\d{1,2}[-/.]\d{1,2}$"
_DMY_RE = r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})"
_FULL_DATE_RE = r"\d{4}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}"
_MAX_MIXED = 100_000  # distinct values worth parsing one by one
# readable dates: 270 years, so any two events' difference fits int64 nanoseconds (292 years);
# wider (1678..2261, the ns limits) silently wrapped the ages in the features around
_LO, _HI = pd.Timestamp("1900-01-01"), pd.Timestamp("2169-12-31")


@dataclass(frozen=True)
class ParsedTimes:
    """Parsed values (NaT where unreadable), how they were read, and notes for the report."""

    values: pd.Series
    how: str
    warnings: tuple[str, ...] = ()


def infer_time_format(values: pd.Series) -> str | None:
    """Guess the format: an epoch unit, ``month-day``, or a strftime pattern.

    Day-first versus month-first is decided from every distinct date in ``values``, not just
    the first rows. ``None`` means "cannot tell" (e.g. every date reads both ways): parsing
    then infers again and says what it assumed.
    """
    fmt, guessed = _infer(values.astype("str").str.strip())
    return None if guessed else fmt


def _infer(text: pd.Series) -> tuple[str | None, bool]:
    """The format, and whether day/month order was a guess (no day above 12 anywhere)."""
    sample = text.dropna().head(_SAMPLE)
    sample = sample[sample != ""]
    if sample.empty:
        return None, False
    nums = pd.to_numeric(sample, errors="coerce")
    if nums.notna().all():
        return _numeric_format(nums), False
    if sample.str.match(_MONTH_DAY_RE).all():
        first = sample.str.extract(r"^(\d+)")[0].astype(int)
        return (DAY_MONTH if (first > 12).any() else MONTH_DAY), False
    first = str(sample.iloc[0])
    if re.match(r"^\d{4}", first):
        return guess_datetime_format(first), False
    dayfirst = _dayfirst(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas' own day-first notice
        return guess_datetime_format(first, dayfirst=bool(dayfirst)), dayfirst is None


def parse_timestamps(
    values: pd.Series, time_format: str | None = None, year: int | None = None
) -> ParsedTimes:
    """Parse one raw column; ``time_format`` may be an epoch unit, ``month-day``, a strftime."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return ParsedTimes(_naive_ns(values), "already datetime")
    if pd.api.types.is_numeric_dtype(values):
        unit = time_format or _numeric_format(values.dropna()) or "epoch_s"
        if unit in EPOCH_FORMATS:
            return ParsedTimes(_naive_ns(_parse_epoch(values, unit)), unit)
    text = values.astype("str").str.strip()
    notes: list[str] = []
    fmt, guessed_order = (time_format, False) if time_format else _infer(text)
    if guessed_order and fmt:
        notes.append(
            f"Dates such as '{text.dropna().iloc[0]}' could be day-first or month-first; read "
            f"them as {fmt}. Pass --time-format (e.g. '%d/%m/%Y %H:%M') if that is wrong."
        )
    how = fmt or "ISO 8601"
    text, fmt = _strip_zone_name(text, fmt)
    if fmt in (MONTH_DAY, DAY_MONTH):
        parsed = _parse_month_day(text, fmt, year, notes)
    elif fmt in EPOCH_FORMATS:
        parsed = _parse_epoch(text, fmt)
    else:
        parsed = _parse_text(text, fmt, notes)
    return ParsedTimes(_naive_ns(parsed), how, tuple(notes))


def _strip_zone_name(text: pd.Series, fmt: str | None) -> tuple[pd.Series, str | None]:
    """'... UTC' / '... GMT': drop the name (``%Z`` parsing is 30x slower); the time is UTC."""
    if not fmt or not fmt.endswith(" %Z"):
        return text, fmt
    sample = text.dropna().head(_SAMPLE)
    for zone in (" UTC", " GMT"):
        if sample.str.endswith(zone).all():
            return text.str.removesuffix(zone), fmt[:-3]
    return text, fmt


def relative_timeline(
    user: pd.Series, order: pd.Series, days_since_prior: pd.Series, hour: pd.Series | None
) -> pd.Series:
    """Instacart-style relative time: 2000-01-01 + cumulative days since the prior order.

    Rows are accumulated per user in ``order`` order; a missing gap (each first order) counts 0.
    ``hour`` (0-23), when given, is added. Returned in the input's row order.
    """
    gaps = pd.to_numeric(days_since_prior, errors="coerce").fillna(0.0)
    rank = pd.to_numeric(order, errors="coerce")
    frame = pd.DataFrame({"u": user.to_numpy(), "r": rank.to_numpy(), "g": gaps.to_numpy()})
    frame = frame.sort_values(["u", "r"], kind="stable")
    days = frame.groupby("u", sort=False)["g"].cumsum().sort_index()
    offset = pd.to_timedelta(days.to_numpy(), unit="D")
    if hour is not None:
        hours = pd.to_numeric(hour, errors="coerce").fillna(0.0).clip(0, 23).to_numpy()
        offset = offset + pd.to_timedelta(hours, unit="h")
    return pd.Series(RELATIVE_ORIGIN + offset, index=user.index).astype("datetime64[ns]")


def _numeric_format(nums: pd.Series) -> str | None:
    if nums.empty:
        return None
    mid = float(np.nanmedian(np.abs(nums.to_numpy(dtype=float))))
    integral = bool((nums % 1 == 0).all())
    if integral and nums.min() >= 19000101 and nums.max() <= 21001231:
        return "%Y%m%d"
    for unit, limit in (("epoch_s", 1e11), ("epoch_ms", 1e14), ("epoch_us", 1e17)):
        if mid < limit:
            return unit
    return "epoch_ns"


def _parse_epoch(values: pd.Series, fmt: str) -> pd.Series:
    nums = pd.to_numeric(values, errors="coerce")
    unit = fmt.removeprefix("epoch_")
    limit = {"s": 9.2e9, "ms": 9.2e12, "us": 9.2e15, "ns": 9.2e18}[unit]
    nums = nums.where(nums.abs() < limit)  # beyond year 2262: unreadable, not an overflow
    return pd.to_datetime(nums, unit=unit, errors="coerce")


def _parse_month_day(text: pd.Series, fmt: str, year: int | None, notes: list[str]) -> pd.Series:
    if year is None:
        year = DEFAULT_YEAR
        notes.append(
            f"Dates have no year ({text.dropna().iloc[0] if text.notna().any() else 'M-D'}); "
            f"assumed {year}. Pass --year to set it."
        )
    pattern = "%Y-%m-%d" if fmt == MONTH_DAY else "%Y-%d-%m"
    joined = f"{year}-" + text.str.replace(r"[/.]", "-", regex=True)
    return pd.to_datetime(joined, format=pattern, errors="coerce")


def _parse_text(text: pd.Series, fmt: str | None, notes: list[str]) -> pd.Series:
    """Given/guessed format first, then ISO 8601 for what is left, then mixed formats."""
    first = fmt if fmt and fmt.upper() not in ("ISO8601", "MIXED") else "ISO8601"
    if fmt and fmt.upper() == "MIXED":
        first, fmt = "mixed", None
    parsed = _to_datetime(text, first)
    left = parsed.isna() & text.notna() & (text != "")
    if left.any() and first != "ISO8601":
        parsed = parsed.where(~left, _to_datetime(text[left], "ISO8601"))
        left = parsed.isna() & text.notna() & (text != "")
    if left.any():
        parsed = parsed.where(~left, _parse_mixed(text[left], fmt, notes))
    return parsed


def _to_datetime(text: pd.Series, fmt: str) -> pd.Series:
    try:
        out = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
    except (ValueError, TypeError):
        return pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    return out.dt.tz_convert(None)


def _parse_mixed(text: pd.Series, fmt: str | None, notes: list[str]) -> pd.Series:
    """Per-value parsing (slow), done once per distinct value."""
    dayfirst = _dayfirst(text) if not fmt else fmt.find("%d") < fmt.find("%m")
    if dayfirst is None:
        dayfirst = False
        notes.append(
            f"Dates such as '{text.dropna().iloc[0]}' could be day-first or month-first; "
            "read them month-first. Pass --time-format (e.g. '%d/%m/%Y %H:%M') if not."
        )
    codes, uniques = pd.factorize(text)
    uniques = pd.Series(uniques, dtype="str")
    if len(uniques) > _MAX_MIXED:
        return pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    # dateutil reads "12" or "May" as a day of the current month: insist on a full date
    uniques = uniques.where(uniques.str.contains(_FULL_DATE_RE))
    parsed = _to_datetime_mixed(uniques, dayfirst)
    out = np.append(parsed.to_numpy(), np.datetime64("NaT"))[codes]
    return pd.Series(out, index=text.index)


def _to_datetime_mixed(text: pd.Series, dayfirst: bool) -> pd.Series:
    try:
        out = pd.to_datetime(text, format="mixed", dayfirst=dayfirst, errors="coerce", utc=True)
    except (ValueError, TypeError):
        return pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    out = out.dt.tz_convert(None)
    return out.where((out >= _LO) & (out <= _HI)).astype("datetime64[ns]")  # year 123 is NaT


def _dayfirst(text: pd.Series) -> bool | None:
    """True if some date has a day > 12 first, False if second; None when it cannot tell."""
    heads = text.dropna().str.slice(0, 10).drop_duplicates()
    parts = heads.str.extract(_DMY_RE).dropna().astype(int)
    if parts.empty:
        return False
    if (parts[0] > 12).any():
        return True
    if (parts[1] > 12).any():
        return False
    return None


def _naive_ns(values: pd.Series) -> pd.Series:
    """tz-naive (UTC) ``datetime64[ns]``, out-of-range values as NaT."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    values = values.where((values >= _LO) & (values <= _HI))
    return values.astype("datetime64[ns]")
