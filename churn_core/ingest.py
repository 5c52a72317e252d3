"""Raw frame -> :class:`~churn_core.events.EventLog`, or an :class:`EventDataError` with problems.

Rules, in the order they are applied (a row dropped for one reason is not counted again):

* Problems that make the file unusable are collected and raised together: no user or time
  column, a named column that is absent, a majority of unreadable timestamps (5 % or more) or
  of non-numeric amounts/quantities/prices, a single user, no usable row left.
* Row-level problems that affect a minority are dropped and counted by reason in
  ``report.dropped``: repeated header rows, missing user id, missing or unreadable timestamp,
  missing event type, stock adjustments (negative quantity on an invoice without a "C").
  ``rows_read == rows_kept + sum(dropped)`` always holds.
* Non-numeric amounts in a minority of rows keep the row with amount 0 and add a warning
  (infinite values and magnitudes beyond 1e12 count as non-numeric).
* Columns that look like personal data (``churn_core.pii``) and are not named in the schema
  are dropped before anything else and listed in ``report.personal_columns``. A header that
  names the user id (``user_id``, ``customer_id``, ...) maps that column: e-mail addresses
  there are the ids (with a warning to pseudonymise them).
* Control characters in ids, items and categories are replaced with U+FFFD (a warning).
* ``pseudonymize`` (optional) replaces user ids as soon as they are read.

Derivations: ``amount`` is the amount column if there is one, else quantity × price, else the
price on ``purchase`` rows and 0 on other events (a view's price is not money spent; a log
without an event column is a purchase log, so every row gets its price). Order-line logs
without an event column are purchases, except invoices starting with "C", which are
``cancel`` events (their amount stays negative). ``has_amount`` is True when an amount source
exists and at least one kept amount is not 0. Row numbers in messages count data rows from 1.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from typing import BinaryIO

import numpy as np
import pandas as pd

from churn_core.config import SchemaConfig
from churn_core.errors import EventDataError, Problem
from churn_core.events import PURCHASE, EventLog, ValidationReport
from churn_core.fields import COLUMN_FIELDS, FLAGS, TIME_FORMAT_EXAMPLES, mapping_field
from churn_core.layouts import (
    DetectedSchema,
    category_fallback,
    detect_schema,
    named_column,
    normalise_events,
)
from churn_core.loading import read_events
from churn_core.pii import PersonalColumn, find_personal_columns
from churn_core.roles import order_and_hour
from churn_core.timestamps import DAYS_SINCE_PRIOR, parse_timestamps, relative_timeline
from churn_core.values import (
    clean_ids,
    example_rows,
    find_column,
    replace_control_chars,
    to_number,
)

__all__ = ["DetectedSchema", "detect_schema", "load_events", "validate_events"]

logger = logging.getLogger(__name__)

MAX_ABS_NUMBER = 1e12  # larger amounts, quantities and prices are read as errors
MAX_UNREADABLE_TIMES = 0.05  # share of unreadable timestamps that is dropped, not refused
_REQUIRED = ("user_col", "time_col")
_TIME_FIX_CLI = (
    f"Pass --time-format ({TIME_FORMAT_EXAMPLES}) or choose another column with --time-col."
)
_TIME_FIX_APP = (
    f"Type the time format in the mapping box ({TIME_FORMAT_EXAMPLES}) or pick another "
    "timestamp column."
)
_MAX_SHOWN = 30
_DEFAULT_SCHEMA = SchemaConfig()  # frozen, so sharing one default is safe
IdHasher = Callable[[pd.Series], pd.Series]


def load_events(
    source: str | os.PathLike | bytes | BinaryIO,
    schema: SchemaConfig = _DEFAULT_SCHEMA,
    name: str | None = None,
    pseudonymize: IdHasher | None = None,
) -> EventLog:
    """Read a file (path, bytes or binary file) and validate it.

    ``read_events(source, name)`` then ``validate_events(raw, schema, pseudonymize)``.
    """
    return validate_events(read_events(source, name=name), schema, pseudonymize)


def validate_events(
    raw: pd.DataFrame,
    schema: SchemaConfig = _DEFAULT_SCHEMA,
    pseudonymize: IdHasher | None = None,
) -> EventLog:
    """Turn a raw frame into an :class:`EventLog`.

    Raises :class:`EventDataError` listing every problem found, each naming the column (and
    row) and the fix. Auto-fixes that need attention are both ``warnings.warn``-ed and kept in
    ``report.warnings``. Columns that look like personal data (``churn_core.pii``) and are
    not named in ``schema`` are dropped first and listed in ``report.personal_columns``.
    ``pseudonymize`` (e.g. :class:`churn_core.privacy.Pseudonymizer`) replaces user ids as
    soon as they are read, so no later message, table or file sees the raw ids.
    """
    name = raw.attrs.get("source_name", "the event log")
    if raw.shape[1] == 0 or len(raw) == 0:
        raise EventDataError([f"'{name}' has no rows. Check that you exported the whole log."])
    if not isinstance(raw.index, pd.RangeIndex):
        raw = raw.reset_index(drop=True)  # masks below are positional
    raw, personal = _drop_personal_columns(raw, schema)
    det = detect_schema(raw, schema)
    v = _Validation(raw, det, schema, personal, pseudonymize)
    v.run()
    if v.problems:
        raise EventDataError(v.problems)
    for note in v.notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    log = v.event_log()
    logger.info("validated %s: %s", name, "; ".join(log.report.lines()))
    return log


def _drop_personal_columns(
    raw: pd.DataFrame, schema: SchemaConfig
) -> tuple[pd.DataFrame, list[PersonalColumn]]:
    """``raw`` without the personal-data columns that ``schema`` does not name on purpose."""
    named = {getattr(schema, f, None) for f in COLUMN_FIELDS} - {None, ""}
    # a header such as "user_id" maps that column by its name, whatever its values look like
    by_header = None if schema.user_col else named_column(raw.columns, "user_col")
    personal = [
        p
        for p in find_personal_columns(raw)
        if p.column not in named and not (p.column == by_header and p.by == "content")
    ]
    if not personal:
        return raw, []
    attrs = dict(raw.attrs)
    out = raw.loc[:, ~raw.columns.astype(str).isin([p.column for p in personal])]
    out.attrs.update(attrs)
    return out, personal


class _Validation:
    """One pass over a raw frame: collects problems, drop reasons, warnings and the mapping."""

    def __init__(
        self,
        raw: pd.DataFrame,
        det: DetectedSchema,
        schema: SchemaConfig,
        personal: list[PersonalColumn] | None = None,
        pseudonymize: IdHasher | None = None,
    ):
        self.raw, self.det, self.schema = raw, det, schema
        self.personal = personal or []
        self.pseudonymize = pseudonymize
        self.keep = np.ones(len(raw), dtype=bool)
        self.dropped: dict[str, int] = {}
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.mapping: list[tuple[str, str]] = []
        self.out: dict[str, pd.Series] = {}
        self.has_amount = False
        self.numbers: dict[str, pd.Series] = {}

    # -- bookkeeping -------------------------------------------------------------------
    def drop(self, mask, reason: str) -> None:
        hit = np.asarray(mask, dtype=bool) & self.keep
        count = int(hit.sum())
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + count
            self.keep &= ~hit

    def col(self, fld: str) -> str | None:
        """The raw column for a field, or None when absent (absence is reported once)."""
        name = getattr(self.det, fld)
        return name if name is not None and name in self.raw.columns else None

    def number(self, col: str) -> pd.Series:
        """``col`` as floats (NaN where not a number), converted once."""
        if col not in self.numbers:
            self.numbers[col] = to_number(self.raw[col])
        return self.numbers[col]

    # -- the rules ---------------------------------------------------------------------
    def run(self) -> None:
        self._source_notes()
        self._check_columns()
        self._drop_header_rows()
        if user_col := self.col("user_col"):
            self._users(user_col)
        if time_col := self.col("time_col"):
            self._timestamps(time_col)
        self._events()
        self._amounts()
        self._labels()
        if not self.problems:
            self._check_population()

    def _source_notes(self) -> None:
        attrs = self.raw.attrs
        if attrs.get("encoding") in ("cp1252", "latin-1"):
            self.notes.append(
                f"The file is not UTF-8; it was read as {attrs['encoding']}. Check that accented "
                "names look right, or export the file as UTF-8."
            )
        if attrs.get("header") is False:
            self.notes.append(
                "The file has no header row; its columns were named column_1, column_2, ... "
                f"and read as a {self.det.layout} layout."
            )

    def _check_columns(self) -> None:
        seen = ", ".join(map(str, self.raw.columns[:_MAX_SHOWN]))
        if self.raw.shape[1] > _MAX_SHOWN:
            seen += f" ... ({self.raw.shape[1]} columns)"
        hint = ""
        if self.raw.attrs.get("header") is False:
            hint = " The file seems to have no header row, so its columns are named column_1, ..."
        if self.personal:
            shown = ", ".join(f"{p.column} ({p.kind})" for p in self.personal[:5])
            hint += (
                f" Set aside as personal data: {shown}; to use one as the user id, name it "
                "with --user-col (and add --pseudonymize KEYFILE)."
            )
        for fld in COLUMN_FIELDS:
            given = getattr(self.schema, fld, None)
            if given and given not in self.raw.columns:
                role = mapping_field(fld).role
                self.problems.append(
                    Problem(
                        f"Column '{given}' (given with {FLAGS[fld]}) is not in the file. "
                        f"Columns found: {seen}.",
                        fld,
                        "choose",
                        app_message=f"Column '{given}' (picked as the {role} column) is not in "
                        f"the file. Columns found: {seen}.",
                        note=hint.strip(),
                    )
                )
        for fld in _REQUIRED:
            if getattr(self.det, fld) is not None:
                continue
            role, guess = mapping_field(fld).role, self.det.guess(fld)
            if guess is not None and guess.ambiguous:
                message = (
                    f"Several columns could be the {role}: {', '.join(guess.candidates)} "
                    f"({guess.evidence})."
                )
            else:
                message = f"No {role} column found. Columns found: {seen}."
            self.problems.append(Problem(message, fld, "name", note=hint.strip()))

    def _drop_header_rows(self) -> None:
        """Rows that repeat the header (files concatenated with their headers)."""
        cols = [c for c in (self.col("user_col"), self.col("time_col")) if c]
        if not cols:
            return
        mask = np.ones(len(self.raw), dtype=bool)
        for c in cols:
            mask &= (self.raw[c].astype("str").str.strip() == str(c)).fillna(False).to_numpy()
        self.drop(mask, "repeated header row")

    def _users(self, col: str) -> None:
        users, how = self._labels_from(col)
        self.drop(users.isna().to_numpy(), f"missing user id (column {col} empty)")
        if self.pseudonymize is not None:
            users = self.pseudonymize(users)
            how += " (pseudonymised, HMAC-SHA256)"
        elif find_personal_columns(self.raw[[col]].iloc[:, :1]):
            self.notes.append(
                f"User ids in column {col} look like personal data. Pass --pseudonymize "
                "KEYFILE so that models, scores and exports hold keyed hashes instead."
            )
        self.out["user_id"] = users
        self.mapping.append(("user_id", col + how))

    def _timestamps(self, col: str) -> None:
        if self.det.time_format == DAYS_SINCE_PRIOR:
            self._relative_timestamps(col)
            return
        text = self.raw[col]
        missing = (text.isna() | (text.astype("str").str.strip() == "")).to_numpy()
        if (missing & self.keep).all():
            self.problems.append(
                Problem(f"Column {col} (timestamp) is empty.", "time_col", "choose")
            )
            return
        self.drop(missing, f"missing timestamp (column {col} empty)")
        parsed = parse_timestamps(text, self.det.time_format, self.schema.year)
        self.notes += parsed.warnings
        bad = parsed.values.isna().to_numpy() & self.keep
        n_bad, n_all = int(bad.sum()), int(self.keep.sum())
        examples = example_rows(text, bad)
        if n_all == 0:
            pass
        elif n_bad == n_all:
            self._time_problem(
                f"No value in column {col} could be read as a timestamp ({examples})."
            )
        elif n_bad >= MAX_UNREADABLE_TIMES * n_all:
            self._time_problem(
                f"{n_bad:,} of {n_all:,} values in column {col} ({n_bad / n_all:.0%}) could not "
                f"be read as timestamps ({examples})."
            )
        else:
            self.drop(bad, f"unparseable timestamp in column {col} ({examples})")
        self.out["timestamp"] = parsed.values
        self.mapping.append(("timestamp", f"{col} ({parsed.how})"))
        self._check_time_range(parsed.values, col)

    def _time_problem(self, message: str) -> None:
        self.problems.append(Problem(message, "time_col", fix=_TIME_FIX_CLI, app_fix=_TIME_FIX_APP))

    def _relative_timestamps(self, col: str) -> None:
        order, hour = find_column(self.raw, "ordernumber"), find_column(self.raw, "orderhourofday")
        if order is None and hour is None:  # names unknown: the values tell (roles.py)
            order, hour = order_and_hour(self.raw, col)
        order_values = self.raw[order] if order else pd.Series(np.arange(len(self.raw)))
        users = self.out.get("user_id", self.raw[self.col("user_col") or col])
        hours = self.raw[hour] if hour else None
        self.out["timestamp"] = relative_timeline(users, order_values, self.raw[col], hours)
        self.mapping.append(
            (
                "timestamp",
                f"2000-01-01 + cumulative {col} per user" + (f" + {hour}" if hour else ""),
            )
        )
        self.notes.append(
            "Times are relative: each user's first order is put on 2000-01-01 and later orders "
            f"follow by {col}. Users cannot be compared on a calendar; do not use calendar cutoffs."
        )

    def _check_time_range(self, values: pd.Series, col: str) -> None:
        kept = values[self.keep]
        if kept.empty:
            return
        lo, hi = kept.min(), kept.max()
        if lo < pd.Timestamp("1990-01-01") or hi > pd.Timestamp.now() + pd.Timedelta(days=366):
            self.notes.append(
                f"Timestamps in column {col} run from {lo} to {hi}, which looks wrong. "
                "Check --time-col and --time-format (e.g. epoch_s versus epoch_ms)."
            )

    def _events(self) -> None:
        col = self.col("event_col")
        if col:
            events = normalise_events(self.raw[col], self.det.event_map)
            self.drop(events.isna().to_numpy(), f"missing event type (column {col} empty)")
            self.out["event_type"] = events
            self.mapping.append(("event_type", col + (" (mapped)" if self.det.event_map else "")))
            self._check_event_names(events, col)
            return
        events = pd.Series(PURCHASE, index=self.raw.index, dtype="str")
        how = "'purchase' for every row (no event column)"
        inv, qty = self.col("invoice_col"), self.col("quantity_col")
        cancel = np.zeros(len(self.raw), dtype=bool)
        if inv:
            cancel = self.raw[inv].astype("str").str.strip().str.upper().str.startswith("C")
            cancel = cancel.fillna(False).to_numpy()
            if cancel.all():  # every id starts with C: a prefix of the ids, not cancellations
                cancel = np.zeros(len(self.raw), dtype=bool)
            else:
                how += f"; 'cancel' where {inv} starts with 'C'"
        if qty:
            negative = (self.number(qty) < 0).to_numpy()
            if inv:
                self.drop(
                    negative & ~cancel, f"stock adjustment (negative {qty}, {inv} without 'C')"
                )
            else:
                cancel |= negative
                how += f"; 'cancel' where {qty} is negative"
        events = events.mask(cancel, "cancel")
        self.out["event_type"] = events
        self.mapping.append(("event_type", how))

    def _check_event_names(self, events: pd.Series, col: str) -> None:
        names = set(events[self.keep].dropna().unique())
        if names and all(n.lstrip("-").isdigit() for n in names) and not self.det.event_map:
            self.notes.append(
                f"Column {col} holds numeric codes ({', '.join(sorted(names)[:8])}). Name them "
                "with --event-map (e.g. --event-map 0=view 1=purchase) so purchases are recognised."
            )
        elif names and PURCHASE not in names:
            self.notes.append(
                f"No 'purchase' events in column {col} (values: {', '.join(sorted(names)[:8])}). "
                "Map the value that means a purchase with --event-map (e.g. buy=purchase)."
            )

    def _amounts(self) -> None:
        amount_c, qty_c, price_c = (
            self.col(f) for f in ("amount_col", "quantity_col", "price_col")
        )
        if amount_c:
            amount, how = self._number(amount_c, "amount_col"), amount_c
        elif qty_c and price_c:
            qty, price = self._number(qty_c, "quantity_col"), self._number(price_c, "price_col")
            amount, how = qty * price, f"{qty_c} × {price_c}"
        elif price_c:
            amount, how = self._number(price_c, "price_col"), price_c
            if self.col("event_col") and "event_type" in self.out:
                amount = amount.where(self.out["event_type"] == PURCHASE, 0.0)
                how += " on purchase events, 0 on other events"
        else:
            self.out["amount"] = pd.Series(0.0, index=self.raw.index)
            return
        amount = amount.fillna(0.0).astype("float64")
        self.out["amount"] = amount
        self.has_amount = bool((amount.to_numpy()[self.keep] != 0).any())
        self.mapping.append(("amount", how))

    def _number(self, col: str, fld: str) -> pd.Series:
        """A numeric column; non-numeric cells are NaN (a warning, or a problem if most are).

        Infinite values and magnitudes beyond ``MAX_ABS_NUMBER`` count as non-numeric: no
        order is worth 10^12, and such values would overflow the spend features.
        """
        values = self.number(col)
        values = values.where(values.abs() <= MAX_ABS_NUMBER)
        present = self.raw[col].notna().to_numpy() & self.keep
        bad = present & values.isna().to_numpy()
        n_bad, n_present = int(bad.sum()), int(present.sum())
        shown = example_rows(self.raw[col], bad) if n_bad else ""
        if n_bad and n_bad * 2 > n_present:
            self.problems.append(
                Problem(
                    f"Column {col} is not numeric in {n_bad:,} of {n_present:,} rows ({shown}; "
                    "infinite values and values beyond ±1e12 count too).",
                    fld,
                    "choose",
                )
            )
        elif n_bad:
            self.notes.append(
                f"{n_bad:,} non-numeric values in column {col} ({shown}; or infinite, or beyond "
                "±1e12) were read as 0."
            )
        return values

    def _labels_from(self, col: str) -> tuple[pd.Series, str]:
        """``clean_ids`` of a column, control characters replaced (with a note)."""
        values, how = clean_ids(self.raw[col])
        values, n_control = replace_control_chars(values)
        if n_control:
            self.notes.append(
                f"{n_control:,} values in column {col} held control characters (e.g. NUL); "
                "they were replaced with '\ufffd'. Check the export of that column."
            )
        return values, how

    def _labels(self) -> None:
        for fld, out in (("item_col", "item_id"), ("category_col", "category")):
            col = self.col(fld)
            if not col:
                self.out[out] = pd.Series(np.nan, index=self.raw.index, dtype="str")
                continue
            values, how = self._labels_from(col)
            backup = category_fallback(self.raw, col) if out == "category" else None
            if backup and backup != col:
                values = values.fillna(clean_ids(self.raw[backup])[0])
                how += f", else {backup}"
            self.out[out] = values
            self.mapping.append((out, col + how))

    def _check_population(self) -> None:
        users = self.out["user_id"][self.keep]
        if users.empty:
            reasons = "; ".join(f"{n:,} {r}" for r, n in self.dropped.items())
            self.problems.append(
                Problem(f"No usable rows remain ({reasons}).", fix="Check the column mapping.")
            )
        elif users.nunique() == 1:
            self.problems.append(
                Problem(
                    f"Only one user ('{users.iloc[0]}') is in the data; churn needs many users.",
                    "user_col",
                    fix="Check that --user-col names the customer column.",
                    app_fix="Check that the user id picked in the mapping box is the customer "
                    "column.",
                )
            )

    def event_log(self) -> EventLog:
        frame = pd.DataFrame(
            {k: self.out[k] for k in ("user_id", "timestamp", "event_type", "amount")}
            | {k: self.out[k] for k in ("item_id", "category")}
        )
        frame = frame.loc[self.keep]
        frame = frame.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
        report = ValidationReport(
            rows_read=len(self.raw),
            rows_kept=len(frame),
            dropped=tuple(self.dropped.items()),
            warnings=tuple(self.notes),
            mapping=tuple(self.mapping),
            layout=self.det.layout,
            detection=tuple(self.det.lines()),
            personal_columns=tuple((p.column, p.kind) for p in self.personal),
        )
        return EventLog(frame, report, self.has_amount)
