"""Whether a column's values are dates, and in which format: the values decide.

Text formats are tried (the strftime pattern pandas guesses from the first value, its
day-first/month-first twin, ISO 8601) and the one that reads most distinct values wins;
``%m/%d/%Y`` versus ``%d/%m/%Y`` is decided by the values (a first field above 12 means
day-first). Without text dates: ``M-D`` dates, then epoch seconds/milliseconds whose values
all fall in 2000 .. next year. Used by column detection (``churn_core.roles``).
"""

from __future__ import annotations

import re
import warnings

import pandas as pd
from pandas.tseries.api import guess_datetime_format

from churn_core.timestamps import MONTH_DAY, _dayfirst

_DISTINCT = 2_000  # distinct values tried per candidate time column
_MIN_PARSED = 0.95  # share of values that must read as dates
_FULL_DATE = re.compile(r"\d{4}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}")
_MONTH_DAY = r"^(\d{1,2})[-/.](\d{1,2})$"
_EPOCH_LO = pd.Timestamp("2000-01-01")


def read_as_dates(values: pd.Series) -> tuple[str, str] | None:
    """``(format, evidence)`` when (nearly) every value reads as a date, else None.

    The format is ``""`` when day-first and month-first both read every value (parsing then
    assumes month-first and says so).
    """
    distinct = pd.Series(values.dropna().unique()[:_DISTINCT], dtype="str")
    if len(distinct) < 1:
        return None
    nums = pd.to_numeric(distinct, errors="coerce")
    if nums.notna().all():
        return _epoch(nums)
    if distinct.str.match(_MONTH_DAY).all():
        parts = distinct.str.extract(_MONTH_DAY).astype(int)
        if (parts[0].between(1, 12) & parts[1].between(1, 31)).all():
            return MONTH_DAY, f"all {len(distinct):,} distinct values look like M-D dates"
        return None
    if not distinct.str.contains(_FULL_DATE).mean() >= _MIN_PARSED:
        return None
    tried = _formats_to_try(distinct)
    shares = {fmt: _share_parsed(distinct, fmt) for fmt in tried}
    best = max(shares, key=lambda f: shares[f])
    if shares[best] < _MIN_PARSED:
        return None
    shown = ", ".join(f"{f or 'ISO 8601'} {shares[f]:.0%}" for f in tried)
    evidence = f"{shares[best]:.0%} of {len(distinct):,} distinct values read as dates"
    order = _dayfirst(distinct)
    swapped = _swap_day_month(best)
    if swapped and swapped in shares and shares[swapped] >= shares[best]:
        evidence += f" (formats tried: {shown}; day and month order cannot be told apart)"
        return "", evidence
    reason = ""
    if swapped and order is not None:
        reason = "; a first field above 12" if order else "; a second field above 12"
    return best, f"{evidence} with {best} (formats tried: {shown}{reason})"


def _epoch(nums: pd.Series) -> tuple[str, str] | None:
    if not (nums % 1 == 0).all():
        return None
    hi = pd.Timestamp.now() + pd.Timedelta(days=366)
    for unit, scale in (("epoch_s", 1), ("epoch_ms", 1_000)):
        lo_n, hi_n = _EPOCH_LO.timestamp() * scale, hi.timestamp() * scale
        if nums.min() >= lo_n and nums.max() <= hi_n:
            return unit, (
                f"all {len(nums):,} distinct values are whole numbers that read as {unit} "
                f"dates from {_EPOCH_LO:%Y} to {hi:%Y}"
            )
    return None


def _formats_to_try(distinct: pd.Series) -> list[str]:
    """The guessed pattern of the first value, its day/month twin, and ISO 8601 ("")."""
    first = str(distinct.iloc[0])
    out: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for dayfirst in (False, True):
            fmt = guess_datetime_format(first, dayfirst=dayfirst)
            year_first = fmt is not None and fmt.startswith("%Y") and "%d" in fmt
            if year_first and fmt.find("%d") < fmt.find("%m"):
                continue  # nobody writes year-day-month
            if fmt and fmt not in out:
                out.append(fmt)
    for fmt in list(out):
        twin = _swap_day_month(fmt)
        if twin and twin not in out:
            out.append(twin)
    return [*out, ""]


def _swap_day_month(fmt: str) -> str | None:
    """``%d/%m/%Y`` <-> ``%m/%d/%Y``; None for year-first patterns (nobody writes Y-D-M)."""
    if "%d" not in fmt or "%m" not in fmt or not fmt.startswith(("%d", "%m")):
        return None
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _share_parsed(distinct: pd.Series, fmt: str) -> float:
    text = distinct
    if fmt.endswith(" %Z"):
        text, fmt = text.str.replace(r" (UTC|GMT)$", "", regex=True), fmt[:-3]
    try:
        parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
    except (ValueError, TypeError):
        return 0.0
    return float(parsed.notna().mean())
