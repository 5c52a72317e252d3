"""The mapping and validation of ``churn_core.ingest``, written as SQL over a staged file.

:class:`FileRules` stages the file once (every column as text, parsed where the mapping
says so), takes the column-wide decisions of the pandas path over every row (ids written as
``17850.0``, decimal commas, invoices that all start with "C", control characters), counts
the rows each rule drops, in the pandas path's order and wording, raises the same problems,
and writes the canonical table ``events``. ``churn_core.engine.files`` reads the file and
runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pandas as pd

from churn_core.config import SchemaConfig
from churn_core.errors import EventDataError, Problem
from churn_core.events import PURCHASE
from churn_core.ingest import (
    _TIME_FIX_APP,
    _TIME_FIX_CLI,
    MAX_ABS_NUMBER,
    MAX_UNREADABLE_TIMES,
)
from churn_core.layouts import DetectedSchema, category_fallback, normalise_events
from churn_core.timestamps import DAY_MONTH, EPOCH_FORMATS, MONTH_DAY, parse_timestamps

Progress = Callable[[str, float], None]
USE_LOCAL = "Use --engine local (the in-memory reader) for this file."
_WHITESPACE = "' \t\n\x0b\x0c\r'"  # str.strip()'s ASCII whitespace, as a SQL literal
_CONTROL = r"'[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]'"
_LO_US = int(pd.Timestamp("1900-01-01").value // 1000)
_HI_US = int(pd.Timestamp("2169-12-31").value // 1000)
_EPOCH = {  # unit -> (pandas' readable limit, microseconds per unit)
    "epoch_s": (9.2e9, 1_000_000),
    "epoch_ms": (9.2e12, 1_000),
    "epoch_us": (9.2e15, 1),
    "epoch_ns": (9.2e18, 0.001),
}
_DECIMAL_COMMA = r"',\d{1,2}$|,\d{4,}$|\.\d{3},\d+$'"
_NUMBER_NOISE = "'[£$€¥\\s\u00a0'']'"
_TIME_TYPES = ("TIMESTAMP", "DATE")
_NUMERIC_TYPES: tuple[str, ...] = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
_NUMERIC_TYPES += ("FLOAT", "DOUBLE", "DECIMAL", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


@dataclass(frozen=True)
class Scan:
    """How DuckDB reads the file(s): a table function and the column types it yields."""

    sql: str
    name: str
    types: dict[str, str]


def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def out_of_memory(name: str, exc: Exception) -> str:
    first = str(exc).splitlines()[0]
    return (
        f"Reading '{name}' ran out of memory ({first}). Raise memory_limit in the [engine] "
        "table of the config, or set temp_directory to a disk with free space."
    )


def _count(condition: str) -> str:
    """Rows where ``condition`` holds (0, not NULL, when it never does)."""
    return f"count_if(coalesce({condition}, false))"


def _strip(expr: str) -> str:
    """``str.strip()`` in SQL; trimming only values that need it is 2-3x faster."""
    return (
        f"(CASE WHEN ascii({expr}) > 32 AND ascii({expr}[-1]) > 32 THEN {expr} "
        f"ELSE trim({expr}, {_WHITESPACE}) END)"
    )


class FileRules:
    """Staging table (one parse of the file), flags over it, drop counts, then ``events``."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        scan: Scan,
        sample: pd.DataFrame,
        det: DetectedSchema,
        schema: SchemaConfig,
        table: str,
    ):
        self.con, self.scan, self.sample, self.det, self.schema = con, scan, sample, det, schema
        self.table = table
        self.stage = f"{table}__staging"
        self.dropped: dict[str, int] = {}
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.mapping: list[tuple[str, str]] = []
        self.rows_read = 0
        self.say: Progress = lambda stage, fraction: None

    def col(self, fld: str) -> str | None:
        name = getattr(self.det, fld)
        return name if name is not None and name in self.scan.types else None

    def text(self, col: str) -> str:
        """The raw column as text (Parquet's typed columns are cast, like the pandas loader)."""
        kind = self.scan.types[col]
        return _q(col) if kind == "VARCHAR" else f"CAST({_q(col)} AS VARCHAR)"

    def is_typed(self, col: str, kinds: tuple[str, ...]) -> bool:
        return self.scan.types[col].split("(")[0].split(" ")[0] in kinds

    # -- staging ---------------------------------------------------------------------------
    def run(self) -> dict:
        user, time = self.col("user_col"), self.col("time_col")
        self.time_how, self.time_sql = self._time_parser(time) if time else ("", "NULL")
        self.say("reading every row", 0.1)
        self._stage(user, time)
        try:
            self.say("checking rows", 0.6)
            flags = self._flags()
            self._count_drops(user, time, flags)
            if self.problems:
                raise EventDataError(self.problems)
            self.say("writing the events table", 0.75)
            self._create_events(user, flags)
            meta = self._metadata()
            self.say("done", 1.0)
            if self.problems:
                self.con.execute(f"DROP TABLE IF EXISTS {_q(self.table)}")
                raise EventDataError(self.problems)
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {_q(self.stage)}")
        return meta

    def _stage(self, user: str | None, time: str | None) -> None:
        cols = ["row_number() OVER () AS rn"]
        hdr = [f"{_strip(self.text(c))} = {lit(c)}" for c in (user, time) if c]
        cols.append(f"coalesce({' AND '.join(hdr)}, false) AS hdr" if hdr else "false AS hdr")
        if user:
            cols.append(f"nullif({_strip(self.text(user))}, '') AS u")
        if time:
            t = self.text(time)
            cols.append(f"({t} IS NULL OR {_strip(t)} = '') AS t_missing")
            cols.append(f"{self.time_sql} AS ts0")
            cols.append(f"{t} AS t_raw")
        if ev := self.col("event_col"):
            cols.append(f"{_strip(self.text(ev))} AS e")
        if inv := self.col("invoice_col"):
            cols.append(f"coalesce(upper({_strip(self.text(inv))}) LIKE 'C%', false) AS inv_c")
        for fld in ("amount_col", "quantity_col", "price_col"):
            if c := self.col(fld):
                cols += self._number_columns(c, fld.split("_")[0])
        for fld in ("item_col", "category_col"):
            if c := self.col(fld):
                cols.append(f"nullif({_strip(self.text(c))}, '') AS {fld.split('_')[0]}")
        cat = self.col("category_col")
        backup = category_fallback(self.sample, cat)
        if cat and backup and backup != cat and backup in self.scan.types:
            self.backup = backup
            cols.append(f"nullif({_strip(self.text(backup))}, '') AS category_backup")
        outer = "*"
        if time:  # times out of range are unreadable; the raw text is kept for examples only
            ts = f"CASE WHEN ts0 BETWEEN {_LO_US} AND {_HI_US} THEN ts0 END"
            text = f"CASE WHEN ({ts}) IS NULL THEN t_raw END"
            outer = f"* EXCLUDE (ts0, t_raw), {ts} AS ts, {text} AS t_text"
        sql = f"CREATE OR REPLACE TEMP TABLE {_q(self.stage)} AS SELECT {outer} "
        sql += f"FROM (SELECT {', '.join(cols)} FROM {self.scan.sql})"
        try:
            self.con.execute(sql)
        except duckdb.OutOfMemoryException as exc:
            raise EventDataError([out_of_memory(self.scan.name, exc)]) from exc
        except duckdb.Error as exc:
            raise EventDataError(
                [
                    f"'{self.scan.name}' could not be read as a table: {exc}. Check that every "
                    "row has the same number of fields and that text containing the delimiter "
                    "is quoted."
                ]
            ) from exc

    def _number_columns(self, col: str, key: str) -> list[str]:
        """``n_key``: the value where it reads as a number at once; ``r_key``: the text to
        retry (currency signs and spaces removed) where not; ``p_key``: present."""
        if self.is_typed(col, _NUMERIC_TYPES):
            return [
                f"CAST({_q(col)} AS DOUBLE) AS n_{key}",
                f"NULL::VARCHAR AS r_{key}",
                f"({_q(col)} IS NOT NULL) AS p_{key}",
                f"{self.text(col)} AS x_{key}",
            ]
        t = self.text(col)
        first = f"TRY_CAST({t} AS DOUBLE)"
        return [
            f"{first} AS n_{key}",
            f"CASE WHEN {first} IS NULL AND {t} IS NOT NULL THEN "
            f"regexp_replace({t}, {_NUMBER_NOISE}, '', 'g') END AS r_{key}",
            f"({t} IS NOT NULL) AS p_{key}",
            f"CASE WHEN {first} IS NULL OR abs({first}) > {MAX_ABS_NUMBER} THEN {t} END AS x_{key}",
        ]

    def _time_parser(self, col: str) -> tuple[str, str]:
        """How the time column is read (the mapping's words) and its SQL, as microseconds."""
        parsed = parse_timestamps(self.sample[col], self.det.time_format, self.schema.year)
        self.notes += [n for n in parsed.warnings if "could be day-first" in n or "no year" in n]
        how = parsed.how
        if self.is_typed(col, _TIME_TYPES):
            return how, self._in_range(f"epoch_us(CAST({_q(col)} AS TIMESTAMPTZ))")
        x = _strip(self.text(col))
        fmt = self.det.time_format or (None if how == "ISO 8601" else how)
        if fmt in EPOCH_FORMATS:
            limit, per = _EPOCH[fmt]
            v = f"TRY_CAST({x} AS DOUBLE)"
            exact = f"TRY_CAST({x} AS BIGINT)"
            scaled = f"{exact} // 1000" if fmt == "epoch_ns" else f"{exact} * {int(per)}"
            sql = (
                f"CASE WHEN abs({v}) < {limit} THEN "
                f"coalesce({scaled}, CAST(floor({v} * {per}) AS BIGINT)) END"
            )
            return how, self._in_range(sql)
        if fmt in (MONTH_DAY, DAY_MONTH):
            year = self.schema.year or 2013
            pattern = "%Y-%m-%d" if fmt == MONTH_DAY else "%Y-%d-%m"
            joined = f"'{int(year)}-' || regexp_replace({x}, '[/.]', '-', 'g')"
            return how, self._in_range(f"epoch_us(try_strptime({joined}, {lit(pattern)}))")
        iso = f"epoch_us(TRY_CAST({x} AS TIMESTAMPTZ))"
        if not fmt or fmt.upper() in ("ISO8601", "MIXED"):
            return how, self._in_range(iso)
        if fmt.endswith(" %Z"):
            sample = self.sample[col].dropna().astype("str").str.strip().head(2000)
            for zone in (" UTC", " GMT"):
                if len(sample) and sample.str.endswith(zone).all():
                    x, fmt = f"regexp_replace({x}, '{zone}$', '')", fmt[:-3]
                    iso = f"epoch_us(TRY_CAST({x} AS TIMESTAMPTZ))"
                    break
        try:
            self.con.sql(f"SELECT try_strptime('2000-01-01', {lit(fmt)})").fetchall()
        except duckdb.Error as exc:
            raise EventDataError(
                [f"The time format {fmt!r} cannot be read out of core ({exc}). {USE_LOCAL}"]
            ) from exc
        return how, self._in_range(f"coalesce(epoch_us(try_strptime({x}, {lit(fmt)})), {iso})")

    @staticmethod
    def _in_range(us: str) -> str:
        return us  # the staging query keeps [1900, 2169] (timestamps._naive_ns), once per row

    # -- whole-column decisions ------------------------------------------------------------
    def _flags(self) -> dict:
        """Column-wide decisions of the pandas path, over every row of the file."""
        have = self._staged()
        aggs = ["count(*) AS n"]
        for key in ("u", "item", "category", "category_backup"):
            if key in have:
                aggs.append(
                    f"coalesce(bool_and(CASE WHEN NOT suffix({key}, '.0') THEN false "
                    f"ELSE regexp_full_match({key}, '-*[0-9]+\\.0') END), false) "
                    f"AS dot0_{key}"
                )
                aggs.append(f"{_count(f'regexp_matches({key}, {_CONTROL})')} AS ctl_{key}")
        if "inv_c" in have:
            aggs.append("bool_and(inv_c) AS cancel_all")
        for key in ("amount", "quantity", "price"):
            if f"r_{key}" in have:
                aggs.append(
                    f"coalesce(bool_or(regexp_matches(r_{key}, {_DECIMAL_COMMA})), false) "
                    f"AS comma_{key}"
                )
        row = self.con.sql(f"SELECT {', '.join(aggs)} FROM {_q(self.stage)}").df().iloc[0]
        self.rows_read = int(row["n"])
        return row.to_dict()

    def _staged(self) -> set[str]:
        return set(self.con.sql(f"SELECT * FROM {_q(self.stage)} LIMIT 0").columns)

    def number(self, key: str, flags: dict) -> str:
        """The column as a number (NULL where not one), like ``values.to_number``."""
        retry = f"r_{key}"
        if flags.get(f"comma_{key}"):
            retry = f"replace(replace({retry}, '.', ''), ',', '.')"
        else:
            retry = f"replace({retry}, ',', '')"
        return f"coalesce(n_{key}, TRY_CAST({retry} AS DOUBLE))"

    def capped(self, key: str, flags: dict) -> str:
        n = self.number(key, flags)
        return f"(CASE WHEN abs({n}) <= {MAX_ABS_NUMBER} THEN {n} END)"

    def ids(self, key: str, flags: dict) -> str:
        """``clean_ids`` + control characters replaced, as SQL over the staged text."""
        expr = key
        if flags.get(f"dot0_{key}"):
            expr = f"left({key}, -2)"
        if flags.get(f"ctl_{key}"):
            expr = f"regexp_replace({expr}, {_CONTROL}, chr(65533), 'g')"
        return expr

    def cancel(self, flags: dict) -> str | None:
        """SQL for 'this row is a cancellation' in a log without an event column."""
        if self.col("event_col"):
            return None
        inv, qty = self.col("invoice_col"), self.col("quantity_col")
        parts = []
        if inv and not flags.get("cancel_all"):
            parts.append("inv_c")
        if qty and not inv:
            parts.append(f"coalesce({self.number('quantity', flags)} < 0, false)")
        return " OR ".join(parts) if parts else None

    def reasons(self, user: str | None, time: str | None, flags: dict) -> list[tuple[str, str]]:
        """(SQL condition, reason) in the order the pandas path applies them."""
        out = [("hdr", "repeated header row")]
        if user:
            out.append(("u IS NULL", f"missing user id (column {user} empty)"))
        if time:
            out.append(("t_missing", f"missing timestamp (column {time} empty)"))
            out.append(("ts IS NULL", "unparseable timestamp"))
        if ev := self.col("event_col"):
            out.append(("e IS NULL", f"missing event type (column {ev} empty)"))
        elif (inv := self.col("invoice_col")) and (qty := self.col("quantity_col")):
            neg = f"coalesce({self.number('quantity', flags)} < 0, false)"
            cancel = "false" if flags.get("cancel_all") else "inv_c"
            out.append(
                (f"{neg} AND NOT {cancel}", f"stock adjustment (negative {qty}, {inv} without 'C')")
            )
        return out

    def _count_drops(self, user: str | None, time: str | None, flags: dict) -> None:
        reasons = self.reasons(user, time, flags)
        case = " ".join(f"WHEN {cond} THEN {i}" for i, (cond, _) in enumerate(reasons))
        self.case = f"(CASE {case} END)"
        have = self._staged()
        aggs = [f"{_count(f'{self.case} = {i}')} AS d{i}" for i in range(len(reasons))]
        keys = [k for k in ("amount", "quantity", "price") if f"n_{k}" in have]
        for k in keys:  # non-numeric cells among the kept rows, as ingest._number counts them
            aggs.append(f"{_count(f'{self.case} IS NULL AND p_{k}')} AS present_{k}")
            aggs.append(
                _count(f"{self.case} IS NULL AND p_{k} AND {self.capped(k, flags)} IS NULL")
                + f" AS bad_{k}"
            )
        counts = self.con.sql(f"SELECT {', '.join(aggs)} FROM {_q(self.stage)}").df().iloc[0]
        counts = {k: int(v) for k, v in counts.items()}
        for i, (cond, reason) in enumerate(reasons):
            n = counts[f"d{i}"]
            if cond == "ts IS NULL":
                n = self._unreadable_times(time, i, n, counts)
                if n < 0:  # the timestamp column is empty: nothing more to count
                    break
                reason = self.time_reason
            if n:
                self.dropped[reason] = n
        self.numbers = {k: (counts[f"bad_{k}"], counts[f"present_{k}"]) for k in keys}

    def _unreadable_times(self, col: str | None, code: int, n_bad: int, counts: dict) -> int:
        """ingest._timestamps' rules: an all-empty column, or few unreadable times dropped
        and many a problem. Returns how many rows are dropped as unparseable."""
        before = [counts[f"d{j}"] for j in range(code)]  # header, user, missing-time counts
        self.time_reason = "unparseable timestamp"
        if before[-1] == self.rows_read and sum(before[:-1]) == 0:
            self.problems.append(
                Problem(f"Column {col} (timestamp) is empty.", "time_col", "choose")
            )
            return -1
        n_all = self.rows_read - sum(before)
        if n_all == 0 or n_bad == 0:
            return 0
        examples = self._examples("t_text", f"{self.case} = {code}")
        if n_bad == n_all:
            self._time_problem(
                f"No value in column {col} could be read as a timestamp ({examples})."
            )
        elif n_bad >= MAX_UNREADABLE_TIMES * n_all:
            self._time_problem(
                f"{n_bad:,} of {n_all:,} values in column {col} ({n_bad / n_all:.0%}) could not "
                f"be read as timestamps ({examples})."
            )
        else:
            self.time_reason = f"unparseable timestamp in column {col} ({examples})"
            return n_bad
        return 0

    def _time_problem(self, message: str) -> None:
        self.problems.append(Problem(message, "time_col", fix=_TIME_FIX_CLI, app_fix=_TIME_FIX_APP))

    def _examples(self, column: str, where: str, k: int = 2) -> str:
        rows = self.con.sql(
            f"SELECT rn, {column} FROM {_q(self.stage)} WHERE {where} ORDER BY rn LIMIT {k}"
        ).fetchall()
        return "e.g. " + ", ".join(f"'{str(v)[:40]}' on row {rn}" for rn, v in rows)

    # -- the canonical table ---------------------------------------------------------------
    def _create_events(self, user: str | None, flags: dict) -> None:
        have = self._staged()
        time = self.col("time_col")
        cols = [
            f"{self.ids('u', flags)} AS user_id",
            "ts AS ts_us",
            f"{self._event_sql(flags)} AS event_type",
            f"{self._amount_sql(flags)} AS amount",
        ]
        for key, out in (("item", "item_id"), ("category", "category")):
            expr = self.ids(key, flags) if key in have else "NULL::VARCHAR"
            if key == "category" and "category_backup" in have:
                backup = (
                    "left(category_backup, -2)"
                    if flags.get("dot0_category_backup")
                    else ("category_backup")
                )
                expr = f"coalesce({expr}, {backup})"
            cols.append(f"{expr} AS {out}")
        join = ""
        if "e" in have:
            self._event_names()
            join = f" LEFT JOIN {_q(self.table + '__names')} AS names ON names.raw = s.e"
        self.con.execute(
            f"CREATE OR REPLACE TABLE {_q(self.table)} AS SELECT {', '.join(cols)} "
            f"FROM {_q(self.stage)} AS s{join} WHERE {self.case} IS NULL"
        )
        if "e" in have:
            self.con.execute(f"DROP TABLE IF EXISTS {_q(self.table + '__names')}")
        self._mapping(user, time, flags, have)

    def _event_names(self) -> None:
        """Distinct raw event values -> canonical names (``layouts.normalise_events``)."""
        raw = self.con.sql(f"SELECT DISTINCT e FROM {_q(self.stage)} WHERE e IS NOT NULL").df()
        names = pd.DataFrame(
            {
                "raw": raw["e"].astype(str).to_numpy(),
                "name": normalise_events(raw["e"].astype(str), self.det.event_map).to_numpy(),
            }
        )
        self.con.register("_event_names_frame", names)
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_q(self.table + '__names')} AS "
            "SELECT CAST(raw AS VARCHAR) AS raw, CAST(name AS VARCHAR) AS name "
            "FROM _event_names_frame"
        )
        self.con.unregister("_event_names_frame")

    def _event_sql(self, flags: dict) -> str:
        if self.col("event_col"):
            return "names.name"
        cancel = self.cancel(flags)
        if not cancel:
            return lit(PURCHASE)
        return f"CASE WHEN {cancel} THEN 'cancel' ELSE {lit(PURCHASE)} END"

    def _amount_sql(self, flags: dict) -> str:
        have = self._staged()
        if "n_amount" in have:
            amount = self.capped("amount", flags)
        elif "n_quantity" in have and "n_price" in have:
            amount = f"{self.capped('quantity', flags)} * {self.capped('price', flags)}"
        elif "n_price" in have:
            amount = self.capped("price", flags)
            if "e" in have:
                amount = f"CASE WHEN names.name = {lit(PURCHASE)} THEN {amount} ELSE 0 END"
        else:
            return "0.0::DOUBLE"
        return f"CAST(coalesce({amount}, 0) AS DOUBLE)"

    def _mapping(self, user: str | None, time: str | None, flags: dict, have: set) -> None:
        dot0 = " (trailing '.0' removed)"
        if user:
            self.mapping.append(("user_id", user + (dot0 if flags.get("dot0_u") else "")))
        if time:
            self.mapping.append(("timestamp", f"{time} ({self.time_how})"))
        if ev := self.col("event_col"):
            self.mapping.append(("event_type", ev + (" (mapped)" if self.det.event_map else "")))
        else:
            how = "'purchase' for every row (no event column)"
            inv, qty = self.col("invoice_col"), self.col("quantity_col")
            if inv and not flags.get("cancel_all"):
                how += f"; 'cancel' where {inv} starts with 'C'"
            elif qty and not inv:
                how += f"; 'cancel' where {qty} is negative"
            self.mapping.append(("event_type", how))
        amount_c, qty_c, price_c = (
            self.col(f) for f in ("amount_col", "quantity_col", "price_col")
        )
        if amount_c:
            self.mapping.append(("amount", amount_c))
        elif qty_c and price_c:
            self.mapping.append(("amount", f"{qty_c} × {price_c}"))
        elif price_c:
            how = price_c
            if self.col("event_col"):
                how += " on purchase events, 0 on other events"
            self.mapping.append(("amount", how))
        for fld, out, key in (
            ("item_col", "item_id", "item"),
            ("category_col", "category", "category"),
        ):
            if col := self.col(fld):
                how = col + (dot0 if flags.get(f"dot0_{key}") else "")
                if key == "category" and "category_backup" in have:
                    how += f", else {self.backup}"
                self.mapping.append((out, how))
        for key, col in (
            ("u", user),
            ("item", self.col("item_col")),
            ("category", self.col("category_col")),
        ):
            if flags.get(f"ctl_{key}"):
                self.notes.append(
                    f"{int(flags[f'ctl_{key}']):,} values in column {col} held control characters "
                    "(e.g. NUL); they were replaced with '\ufffd'. Check the export of that column."
                )

    def _metadata(self) -> dict:
        """Counts and bounds of ``events``; the population and time-range checks."""
        t = _q(self.table)
        n, n_users, lo, hi, any_amount, one_user = self.con.sql(
            "SELECT count(*), count(DISTINCT user_id), min(ts_us), max(ts_us), "
            f"coalesce(bool_or(amount <> 0), false), min(user_id) FROM {t}"
        ).fetchall()[0]
        rows = self.con.sql(f"SELECT DISTINCT event_type FROM {t} ORDER BY 1").fetchall()
        types = tuple(str(r[0]) for r in rows)
        self._number_notes()
        self._check_events(types)
        late = (pd.Timestamp.now() + pd.Timedelta(days=366)).value // 1000
        if n and (lo < pd.Timestamp("1990-01-01").value // 1000 or hi > late):
            self.notes.append(
                f"Timestamps in column {self.col('time_col')} run from "
                f"{pd.Timestamp(lo, unit='us')} to {pd.Timestamp(hi, unit='us')}, which looks "
                "wrong. Check --time-col and --time-format (e.g. epoch_s versus epoch_ms)."
            )
        if n == 0:
            reasons = "; ".join(f"{k:,} {r}" for r, k in self.dropped.items())
            self.problems.append(
                Problem(f"No usable rows remain ({reasons}).", fix="Check the column mapping.")
            )
        elif n_users == 1:
            self.problems.append(
                Problem(
                    f"Only one user ('{one_user}') is in the data; churn needs many users.",
                    "user_col",
                    fix="Check that --user-col names the customer column.",
                    app_fix="Check that the user id picked in the mapping box is the customer "
                    "column.",
                )
            )
        return {
            "has_amount": bool(any_amount) and any(m[0] == "amount" for m in self.mapping),
            "n_events": int(n),
            "n_users": int(n_users),
            "start_us": None if lo is None else int(lo),
            "end_us": None if hi is None else int(hi),
            "event_types": types,
        }

    def _number_notes(self) -> None:
        fields = {"amount": "amount_col", "quantity": "quantity_col", "price": "price_col"}
        for key, (n_bad, n_present) in self.numbers.items():
            if not n_bad:
                continue
            col = self.col(fields[key])
            shown = self._examples(
                f"x_{key}", f"{self.case} IS NULL AND p_{key} AND x_{key} IS NOT NULL"
            )
            if n_bad * 2 > n_present:
                self.problems.append(
                    Problem(
                        f"Column {col} is not numeric in {n_bad:,} of {n_present:,} rows ({shown}; "
                        "infinite values and values beyond ±1e12 count too).",
                        fields[key],
                        "choose",
                    )
                )
            else:
                self.notes.append(
                    f"{n_bad:,} non-numeric values in column {col} ({shown}; or infinite, or "
                    "beyond ±1e12) were read as 0."
                )

    def _check_events(self, names: tuple[str, ...]) -> None:
        col = self.col("event_col")
        if not col:
            return
        found = {n for n in names if n is not None}
        if found and all(n.lstrip("-").isdigit() for n in found) and not self.det.event_map:
            self.notes.append(
                f"Column {col} holds numeric codes ({', '.join(sorted(found)[:8])}). Name them "
                "with --event-map (e.g. --event-map 0=view 1=purchase) so purchases are recognised."
            )
        elif found and PURCHASE not in found:
            self.notes.append(
                f"No 'purchase' events in column {col} (values: {', '.join(sorted(found)[:8])}). "
                "Map the value that means a purchase with --event-map (e.g. buy=purchase)."
            )
