"""Column roles from the values, for columns whose names say nothing (``col_a``, ``DAY``...).

Each finder looks at a sample (the first :data:`SAMPLE_ROWS` rows, which keeps files grouped
by user grouped) and returns a :class:`Guess`: the column, how sure it is and why.

* **timestamp**: the column whose values parse as dates. Text formats are tried (the guessed
  strftime pattern, its day-first/month-first twin, ISO 8601) and the one that reads most
  values wins; ``%m/%d/%Y`` versus ``%d/%m/%Y`` is decided by the values (a first field above
  12 means day-first). Without text dates: ``M-D`` dates, then epoch seconds/milliseconds
  whose values all fall in 2000 .. next year.
* **user**: an id that repeats (several rows per value). The file is grouped by it (runs of
  equal values, as in logs sorted by user), or an order/session id determines it (each order
  belongs to one customer), else the id with most rows per value.
* **event type**: few distinct text values that read as events (``view``, ``buy``...); few
  small integer codes with one dominant code (views) is a low-confidence guess.
* **amount**: the one column of numbers with decimals (money). Next to a quantity or an event
  column it is a unit price. **quantity**: whole numbers with some negatives (returns).
* **invoice**: an id whose rows share one timestamp each (the lines of one order).

Confidence: ``high`` (a known name or layout), ``medium`` (the values alone single out one
column), ``low`` (weak evidence, e.g. event codes, or a name whose values disagree).
Several equally good columns is *ambiguous*: the guess names the candidates and no column.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pandas as pd

from churn_core.date_formats import read_as_dates
from churn_core.timestamps import DAYS_SINCE_PRIOR, MONTH_DAY, parse_timestamps

SAMPLE_ROWS = 20_000
CONFIDENCES = ("given", "high", "medium", "low")
_EVENT_WORDS = ("view", "purchase", "cart", "favorite", "cancel")


@dataclass(frozen=True)
class Guess:
    """What detection made of one mapping field.

    ``column`` is None when nothing fits or when several columns fit equally
    (``candidates`` then lists them). ``confidence`` is one of :data:`CONFIDENCES`.
    """

    field: str
    column: str | None
    confidence: str
    evidence: str
    candidates: tuple[str, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return self.column is None and len(self.candidates) > 1


@dataclass(frozen=True)
class TimeGuess:
    """The timestamp guess and the format it implies (``None``: infer while parsing)."""

    guess: Guess
    time_format: str | None


class Profile:
    """Per-column facts of a sample, computed once: text, numbers, distinct counts, runs."""

    def __init__(self, raw: pd.DataFrame, rows: int = SAMPLE_ROWS):
        self.sample = raw.head(rows)
        self.n_rows = len(self.sample)
        self.text: dict[str, pd.Series] = {}
        self.numbers: dict[str, pd.Series] = {}
        for col in self.sample.columns:
            text = self.sample[col].astype("str").str.strip()
            self.text[str(col)] = text.where(text != "")
        self._present: dict[str, pd.Series] = {}
        self._distinct: dict[str, int] = {}
        self._id_like_: dict[str, bool] = {}
        self._dates: dict[str, tuple[str, str] | None] = {}

    @property
    def columns(self) -> list[str]:
        return list(self.text)

    def present(self, col: str) -> pd.Series:
        if col not in self._present:
            self._present[col] = self.text[col].dropna()
        return self._present[col]

    def number(self, col: str) -> pd.Series:
        """Numbers of the non-empty cells (NaN where not a number)."""
        if col not in self.numbers:
            self.numbers[col] = pd.to_numeric(self.present(col), errors="coerce")
        return self.numbers[col]

    def numeric_share(self, col: str) -> float:
        nums = self.number(col)
        return float(nums.notna().mean()) if len(nums) else 0.0

    def distinct(self, col: str) -> int:
        if col not in self._distinct:
            self._distinct[col] = int(self.present(col).nunique())
        return self._distinct[col]

    def rows_per_value(self, col: str) -> float:
        return len(self.present(col)) / max(self.distinct(col), 1)

    def grouped(self, col: str) -> bool:
        """Equal values sit in one run each (the file is sorted or grouped by ``col``)."""
        values = self.present(col)
        runs = int((values != values.shift()).sum())
        return runs <= 1.05 * max(self.distinct(col), 1)

    def is_money(self, col: str) -> bool:
        nums = self.number(col).dropna()
        if len(nums) < 2 or self.numeric_share(col) < 0.95:
            return False
        return bool((nums % 1 != 0).mean() >= 0.05)

    def is_integral(self, col: str) -> bool:
        nums = self.number(col).dropna()
        return len(nums) > 0 and self.numeric_share(col) >= 0.99 and bool((nums % 1 == 0).all())

    def is_id_like(self, col: str) -> bool:
        """Tokens without spaces, not money, at least two values that repeat."""
        if col not in self._id_like_:
            self._id_like_[col] = self._id_like(col)
        return self._id_like_[col]

    def _id_like(self, col: str) -> bool:
        values = self.present(col)
        if len(values) < 2 or self.distinct(col) < 2 or self.is_money(col):
            return False
        if values.str.contains(r"\s", regex=True).mean() > 0.1:
            return False
        return bool(values.str.len().mean() <= 64) and self.dates(col) is None

    def dates(self, col: str) -> tuple[str, str] | None:
        """``(format, evidence)`` when the column reads as dates (see :func:`read_as_dates`)."""
        if col not in self._dates:
            self._dates[col] = read_as_dates(self.present(col))
        return self._dates[col]


# -- timestamp ----------------------------------------------------------------------------


def find_time(profile: Profile, skip: set[str]) -> TimeGuess:
    """The column whose values read as dates; formats tried and the chosen one in evidence."""
    text: list[tuple[str, str, str]] = []
    md: list[tuple[str, str, str]] = []
    epoch: list[tuple[str, str, str]] = []
    for col in profile.columns:
        if col in skip:
            continue
        found = profile.dates(col)
        if found is None:
            continue
        kind = "epoch" if found[0].startswith("epoch") else "md" if found[0] == MONTH_DAY else ""
        (epoch if kind == "epoch" else md if kind == "md" else text).append((col, *found))
    for group in (text, md, epoch):
        if len(group) == 1:
            col, fmt, evidence = group[0]
            guess = Guess("time_col", col, "medium", evidence)
            return TimeGuess(guess, fmt)
        if len(group) > 1:
            names = tuple(c for c, *_ in group)
            return TimeGuess(
                Guess(
                    "time_col",
                    None,
                    "low",
                    "each reads as dates: "
                    + ", ".join(f"{c} as {f or 'day/month or month/day'}" for c, f, _ in group),
                    names,
                ),
                None,
            )
    relative = _days_since_prior(profile, skip)
    if relative is not None:
        return relative
    return TimeGuess(Guess("time_col", None, "low", "no column reads as dates"), None)


def _days_since_prior(profile: Profile, skip: set[str]) -> TimeGuess | None:
    """Instacart-style relative time: whole days (0-366), empty exactly on first orders, i.e.
    where another column (the order number, counting from 1) is 1."""
    numbers = {
        c: pd.to_numeric(profile.text[c], errors="coerce")
        for c in profile.columns
        if c not in skip and profile.is_integral(c)
    }
    for gap, days in numbers.items():
        empty = profile.text[gap].isna()
        if not 0 < empty.mean() <= 0.5 or days.min() < 0 or days.max() > 366:
            continue
        for order, nums in numbers.items():
            if order == gap or nums.min() != 1:
                continue
            if float(((nums == 1) == empty).mean()) >= 0.99:
                evidence = (
                    f"days since the previous order: whole days {days.min():.0f}-"
                    f"{days.max():.0f}, empty exactly where {order} (the order number) is 1"
                )
                return TimeGuess(Guess("time_col", gap, "medium", evidence), DAYS_SINCE_PRIOR)
    return None


def sample_times(profile: Profile, col: str, time_format: str | None) -> pd.Series | None:
    """The sample's timestamps (None when they are relative or unreadable)."""
    if col not in profile.text:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = parse_timestamps(profile.sample[col], time_format or None).values
        except (ValueError, TypeError, OverflowError):
            return None
    return parsed if parsed.notna().mean() >= 0.5 else None


def order_and_hour(raw: pd.DataFrame, gap: str) -> tuple[str | None, str | None]:
    """For relative time found by values: the order-number column (1 where ``gap`` is
    empty) and an hour-of-day column (whole numbers 0-23, at least 18 distinct), if one."""
    profile = Profile(raw)
    empty = profile.text[gap].isna() if gap in profile.text else None
    order, hours = None, []
    for col in profile.columns:
        if col == gap or not profile.is_integral(col):
            continue
        nums = pd.to_numeric(profile.text[col], errors="coerce")
        first = nums == 1
        if empty is not None and order is None and first.any() and (first == empty).mean() >= 0.99:
            order = col
            continue
        if nums.min() >= 0 and nums.max() <= 23 and profile.distinct(col) >= 18:
            hours.append(col)
    return order, hours[0] if len(hours) == 1 else None


# -- user, invoice ------------------------------------------------------------------------


def _single_time(profile: Profile, col: str, times: pd.Series | None) -> bool:
    """Rows of one value share one timestamp (the lines of one order)."""
    if times is None:
        return False
    frame = pd.DataFrame({"v": profile.text[col], "t": times}).dropna()
    counts = frame.groupby("v")["t"].agg(["size", "nunique"])
    multi = counts[counts["size"] > 1]
    return len(multi) >= 2 and bool((multi["nunique"] == 1).mean() >= 0.9)


def _time_local(profile: Profile, col: str, times: pd.Series | None) -> bool:
    """A visit: each value's rows fall within a few hours (orders, sessions)."""
    if times is None:
        return False
    frame = pd.DataFrame({"v": profile.text[col], "t": times}).dropna()
    spans = frame.groupby("v")["t"].agg(["size", "min", "max"])
    spans = spans[spans["size"] > 1]
    if len(spans) < 2:
        return False
    # in float seconds: times 1900 and 2251 are both valid, their difference overflows int64 ns
    seconds = [spans[c].to_numpy("datetime64[s]").astype("float64") for c in ("min", "max")]
    return bool(pd.Series(seconds[1] - seconds[0]).median() <= 6 * 3600)


def _determines(profile: Profile, a: str, b: str) -> bool:
    """Each value of ``a`` comes with one value of ``b`` (``b`` is an attribute of ``a``)."""
    pairs = pd.DataFrame({"a": profile.text[a], "b": profile.text[b]}).dropna()
    if pairs.empty:
        return False
    return pairs.drop_duplicates().shape[0] <= 1.02 * pairs["a"].nunique()


def find_invoice(profile: Profile, times: pd.Series | None, skip: set[str]) -> Guess:
    """An invoice number: digits (a "C" prefix marks a cancellation) whose rows each share
    one timestamp (the lines of one order). Other order ids need their name: a "C" in front
    of them may mean something else."""
    found = [
        c
        for c in profile.columns
        if c not in skip
        and profile.is_id_like(c)
        and profile.rows_per_value(c) >= 1.5
        and profile.present(c).str.fullmatch(r"[Cc]?\d+").mean() >= 0.9
        and _single_time(profile, c, times)
    ]
    if len(found) == 1:
        rpv = profile.rows_per_value(found[0])
        return Guess(
            "invoice_col",
            found[0],
            "medium",
            f"an id whose rows share one timestamp each ({rpv:.1f} rows per value)",
        )
    if len(found) > 1:
        return Guess(
            "invoice_col", None, "low", "several ids share one time per value", tuple(found)
        )
    return Guess("invoice_col", None, "low", "no id whose rows share one timestamp")


def find_user(
    profile: Profile, times: pd.Series | None, skip: set[str], invoice: str | None
) -> Guess:
    """The user id: the repeating id the file is grouped by, or the one an order/session id
    determines, or the id with most rows per value."""
    few = min(10, max(2, profile.n_rows // 100))
    ids = [
        c
        for c in profile.columns
        if (c not in skip or c == invoice) and profile.is_id_like(c) and profile.distinct(c) >= few
    ]
    repeating = [c for c in ids if profile.rows_per_value(c) >= 1.5 and c != invoice]
    grouped = [c for c in repeating if profile.grouped(c) and not _single_time(profile, c, times)]
    if grouped:
        col = min(grouped, key=profile.distinct)
        return Guess(
            "user_col",
            col,
            "medium",
            f"the file is grouped by it: {profile.distinct(col):,} ids in one run each, "
            f"{profile.rows_per_value(col):.1f} rows per id",
        )
    visits = [c for c in ids if profile.rows_per_value(c) >= 1.2 and _time_local(profile, c, times)]
    owners: dict[str, str] = {}
    for visit in visits:
        for other in repeating:
            if (
                other != visit
                and other not in owners
                and profile.distinct(other) < profile.distinct(visit)
                and _determines(profile, visit, other)
            ):
                owners[other] = visit
    if owners:
        col = max(owners, key=profile.distinct)
        return Guess(
            "user_col",
            col,
            "medium",
            f"each {owners[col]} (an order or session: its rows fall within hours) belongs to "
            f"one {col}; {profile.distinct(col):,} ids, {profile.rows_per_value(col):.1f} "
            "rows per id",
        )
    top = [
        c
        for c in repeating
        if not any(
            o != c and profile.distinct(o) > profile.distinct(c) and _determines(profile, o, c)
            for o in ids
        )
    ]
    top.sort(key=profile.rows_per_value, reverse=True)
    if len(top) == 1:
        col = top[0]
        return Guess(
            "user_col",
            col,
            "low",
            f"the only id that repeats ({profile.rows_per_value(col):.1f} rows per id)",
        )
    if len(top) > 1:
        return Guess(
            "user_col",
            None,
            "low",
            "several ids repeat and none is grouped or owns an order/session id",
            tuple(top[:5]),
        )
    return Guess("user_col", None, "low", "no id column repeats")


def find_item(profile: Profile, times: pd.Series | None, skip: set[str]) -> Guess:
    """The item id: a repeating id with many values (not a visit, not a dense counter 1..n);
    of two such ids where one determines the other, the finer one (items determine
    categories). Low confidence: only names tell items from other ids for sure."""
    found = []
    for col in profile.columns:
        if col in skip or not profile.is_id_like(col) or profile.distinct(col) < 50:
            continue
        if profile.rows_per_value(col) < 1.2 or _time_local(profile, col, times):
            continue
        if profile.is_integral(col):
            nums = profile.number(col)
            if profile.distinct(col) >= 0.5 * (nums.max() - nums.min() + 1):
                continue  # 1, 2, 3, ...: a counter such as an order number
        found.append(col)
    finest = [
        c
        for c in found
        if not any(
            profile.distinct(o) > profile.distinct(c) and _determines(profile, o, c) for o in found
        )
    ]
    top = sorted(finest, key=profile.distinct, reverse=True)
    if not top:
        return Guess("item_col", None, "low", "no id with many repeating values")
    col = top[0]
    return Guess(
        "item_col",
        col,
        "low",
        f"a repeating id with many values ({profile.distinct(col):,} in the first "
        f"{profile.n_rows:,} rows); only its name could make this sure",
    )


# -- event type, money, quantity ----------------------------------------------------------


def find_event(profile: Profile, skip: set[str], event_names: dict[str, str]) -> Guess:
    """Few distinct text values that read as events; else low-cardinality integer codes."""
    texts, codes = [], []
    for col in profile.columns:
        values = profile.present(col)
        n = profile.distinct(col)
        if col in skip or len(values) < 2 or not 2 <= n <= 30:
            continue
        if profile.numeric_share(col) < 0.5:
            keys = values.str.lower().str.replace(r"[\s\-]+", "_", regex=True)
            names = keys.map(lambda k: event_names.get(k, k))
            share = float(names.isin(_EVENT_WORDS).mean())
            if share >= 0.5:
                texts.append((col, share, sorted(set(names[names.isin(_EVENT_WORDS)]))))
        elif profile.is_integral(col) and n <= 6:
            nums = profile.number(col)
            top = float(nums.value_counts(normalize=True).iloc[0])
            if nums.min() >= 0 and nums.max() <= 9 and top >= 0.6:
                codes.append((col, top))
    if len(texts) == 1:
        col, share, names = texts[0]
        return Guess(
            "event_col",
            col,
            "medium",
            f"{share:.0%} of rows hold event names ({', '.join(names)})",
        )
    if len(texts) > 1:
        return Guess(
            "event_col",
            None,
            "low",
            "several columns hold event names",
            tuple(c for c, *_ in texts),
        )
    if len(codes) == 1:
        col, top = codes[0]
        values = sorted(profile.present(col).unique())
        return Guess(
            "event_col",
            col,
            "low",
            f"{len(values)} integer codes ({', '.join(values)}), one on {top:.0%} of rows "
            "(as views are): name them with an event map",
        )
    return Guess("event_col", None, "low", "no column holds event names")


def find_money(profile: Profile, skip: set[str]) -> Guess:
    """The one column of numbers with decimals."""
    found = [c for c in profile.columns if c not in skip and profile.is_money(c)]
    if len(found) == 1:
        nums = profile.number(found[0]).dropna()
        return Guess(
            "amount_col",
            found[0],
            "medium",
            f"the only column of numbers with decimals (median {nums.median():.4g})",
        )
    if len(found) > 1:
        return Guess("amount_col", None, "low", "several columns hold money", tuple(found))
    return Guess("amount_col", None, "low", "no column of numbers with decimals")


def find_quantity(profile: Profile, skip: set[str]) -> Guess:
    """Whole numbers, small, with some negatives (returned units)."""
    found = []
    for col in profile.columns:
        if col in skip or not profile.is_integral(col) or profile.distinct(col) < 3:
            continue
        nums = profile.number(col)
        if (nums < 0).any() and (nums > 0).mean() >= 0.5 and nums.abs().median() <= 100:
            found.append(col)
    if len(found) == 1:
        nums = profile.number(found[0])
        return Guess(
            "quantity_col",
            found[0],
            "low",
            f"small whole numbers (median {nums.median():.4g}) with {int((nums < 0).sum()):,} "
            "negatives (returns) next to a price",
        )
    return Guess("quantity_col", None, "low", "no column of signed whole numbers", tuple(found))


def month_day_codes(profile: Profile, event_col: str) -> bool:
    """Event codes 0-3 next to M-D dates: the Tmall 2013 layout with renamed columns."""
    return set(profile.present(event_col).unique()) <= {"0", "1", "2", "3"}


__all__ = [
    "CONFIDENCES",
    "Guess",
    "Profile",
    "TimeGuess",
    "find_event",
    "find_invoice",
    "find_item",
    "find_money",
    "find_quantity",
    "find_time",
    "find_user",
    "month_day_codes",
    "order_and_hour",
    "read_as_dates",
    "sample_times",
]
