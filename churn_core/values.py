"""Cleaning raw cell values: user ids, numbers written in many styles, example rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn_core.layouts import norm_name


def clean_ids(values: pd.Series) -> tuple[pd.Series, str]:
    """Stripped text, blanks as NaN; ids written as floats ("17850.0") lose the ".0"."""
    text = values.astype("str").str.strip()
    text = text.where(text != "")
    present = text.dropna()
    if not present.empty and present.str.endswith(".0").all():
        head = present.str[:-2]
        if head.str.lstrip("-").str.isdigit().all():
            return text.str[:-2], " (trailing '.0' removed)"
    return text, ""


_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"


def replace_control_chars(values: pd.Series) -> tuple[pd.Series, int]:
    """Control characters (NUL, escape codes ...) as U+FFFD, and how many cells had one.

    No spreadsheet cell may hold them (openpyxl refuses the whole file), and no real id has
    them: they come from broken exports. Tabs and line breaks are kept.
    """
    text = values.astype("str")
    hit = text.str.contains(_CONTROL, regex=True, na=False)
    n = int(hit.sum())
    if not n:
        return values, 0
    return text.where(~hit, text.str.replace(_CONTROL, "\ufffd", regex=True)), n


def to_number(values: pd.Series) -> pd.Series:
    """Floats; retries failures without currency signs and spaces, and with the column's
    separators read either as ``1.234,50`` (decimal comma) or ``1,234.50`` (thousands comma)."""
    try:
        return values.astype("float64")  # fast path (pyarrow cast) when every cell is a number
    except (ValueError, TypeError):
        nums = pd.to_numeric(values, errors="coerce").astype("float64")
    retry = nums.isna() & values.notna()
    if retry.any():
        text = values[retry].astype("str").str.replace(r"[£$€¥\s\u00a0']", "", regex=True)
        decimal_comma = text.str.contains(r",\d{1,2}$|,\d{4,}$|\.\d{3},\d+$").any()
        if decimal_comma:
            text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        else:
            text = text.str.replace(",", "", regex=False)
        nums[retry] = pd.to_numeric(text, errors="coerce").astype("float64")
    return nums


def example_rows(values: pd.Series, bad: np.ndarray, k: int = 2) -> str:
    """A couple of offending values with their row numbers, for error messages."""
    rows = np.flatnonzero(bad)[:k]
    return "e.g. " + ", ".join(f"'{str(values.iloc[i])[:40]}' on row {i + 1}" for i in rows)


def find_column(raw: pd.DataFrame, normalised: str) -> str | None:
    """The raw column whose normalised name matches, if any."""
    return next((str(c) for c in raw.columns if norm_name(c) == normalised), None)
