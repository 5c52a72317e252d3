"""THE feature and label definitions, as SQL text over the canonical relation ``events``.

Every engine (DuckDB in memory or over files, Spark) runs these same strings; nothing here
is engine-specific. The relation ``events`` has ``user_id`` (text), ``ts_us`` (BIGINT,
microseconds since 1970, tz-naive), ``event_type``, ``amount`` (DOUBLE, 0 where unknown),
``item_id`` and ``category`` (nullable text).

Only the SQL subset DuckDB 2.0 and Spark SQL 4 both accept is used: CASE WHEN,
COUNT(DISTINCT), LAG over a window, FLOOR, POWER, CAST(... AS DOUBLE), UNION ALL; no
QUALIFY, ``::`` casts, FILTER clauses or list/struct functions. Non-integer literals are
written as ``CAST('x' AS DOUBLE)`` because a bare ``1.5`` is a DECIMAL on both engines.
Time arithmetic uses only the ``ts_us`` integers: cutoffs are integer literals.

The per-(user, cutoff) aggregates are raw sums, counts, minima and maxima; the ratios,
fill rules and BG/NBD that turn them into model features live in
:mod:`churn_core.engine.derive` (pandas, shared by every engine).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from churn_core.config import LabelSpec
from churn_core.events import CANCEL_EVENTS, PURCHASE
from churn_core.features import WINDOWS

DECAY_HALF_LIVES = (30, 90)
US_PER_DAY = 86_400_000_000
EVENTS = "events"


def cutoff_us(t: pd.Timestamp) -> int:
    """A cutoff as the integer microseconds the SQL compares ``ts_us`` with."""
    return int(pd.Timestamp(t).value) // 1000  # .value is nanoseconds


def quote(text: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + str(text).replace("'", "''") + "'"


def _in_list(values: Iterable[str]) -> str:
    items = sorted(set(values))
    return "(" + ", ".join(quote(v) for v in items) + ")" if items else ""


def is_cancel(col: str = "event_type") -> str:
    """SQL: the event in ``col`` is a cancellation (return, refund, ...)."""
    return f"{col} IN {_in_list(CANCEL_EVENTS)}"


def activity_predicate(spec: LabelSpec, col: str = "event_type") -> str:
    """SQL condition: the event counts as activity for the label (default: all but cancels)."""
    if spec.activity_events is None:
        return f"NOT ({is_cancel(col)})"
    if not spec.activity_events:
        return "1 = 0"
    return f"{col} IN {_in_list(spec.activity_events)}"


def repeat_shares_sql(spec: LabelSpec, times: Sequence[pd.Timestamp], events: str = EVENTS) -> str:
    """One row: per time ``t_i``, ``n_i`` users active before it (the label's activity) and
    ``r_i`` of them active on two calendar days or more before it: the repeat customers."""
    day = f"FLOOR(CAST(ts_us AS DOUBLE) / {US_PER_DAY})"
    per_user = ",\n  ".join(
        f"COUNT(DISTINCT CASE WHEN ts_us < {cutoff_us(t)} THEN {day} END) AS d{i}"
        for i, t in enumerate(times)
    )
    sums = ",\n  ".join(
        f"SUM(CASE WHEN d{i} >= 1 THEN 1 ELSE 0 END) AS n{i}, "
        f"SUM(CASE WHEN d{i} >= 2 THEN 1 ELSE 0 END) AS r{i}"
        for i in range(len(times))
    )
    return f"""SELECT {sums}
FROM (SELECT user_id,
  {per_user}
FROM {events} WHERE {activity_predicate(spec)} GROUP BY user_id) u"""


def cutoffs_sql(cutoffs: Sequence[pd.Timestamp]) -> str:
    """A one-column relation ``cutoff_us`` with one row per cutoff (UNION ALL of literals)."""
    if not cutoffs:
        raise ValueError("At least one cutoff is needed.")
    rows = [f"SELECT CAST({cutoff_us(t)} AS BIGINT) AS cutoff_us" for t in cutoffs]
    return "\nUNION ALL ".join(rows)


def population_sql(spec: LabelSpec, cutoffs: Sequence[pd.Timestamp], events: str = EVENTS) -> str:
    """Eligible (user_id, cutoff_us) pairs: activity before the cutoff (within L days if set).

    "Activity" uses the label's event types, so a user whose only events are
    cancellations is not in the population.
    """
    if spec.active_within_days is None:  # active ever before: the first activity decides
        return f"""SELECT f.user_id, c.cutoff_us
FROM (SELECT user_id, MIN(ts_us) AS first_us FROM {events}
      WHERE {activity_predicate(spec)} GROUP BY user_id) f
JOIN ({cutoffs_sql(cutoffs)}) c ON f.first_us < c.cutoff_us"""
    since = int(spec.active_within_days) * US_PER_DAY
    return f"""SELECT DISTINCT a.user_id, c.cutoff_us
FROM (SELECT user_id, ts_us FROM {events} WHERE {activity_predicate(spec)}) a
JOIN ({cutoffs_sql(cutoffs)}) c ON a.ts_us < c.cutoff_us AND a.ts_us >= c.cutoff_us - {since}"""


def labels_sql(spec: LabelSpec, cutoffs: Sequence[pd.Timestamp], events: str = EVENTS) -> str:
    """Population and labels for every cutoff in one query.

    Columns ``user_id``, ``cutoff_us``, ``churned`` (1 = no qualifying activity in
    ``[cutoff + gap, cutoff + gap + horizon)``), ordered newest cutoff first, then user id.
    """
    start = int(spec.gap_days) * US_PER_DAY
    end = start + int(spec.horizon_days) * US_PER_DAY
    return f"""WITH population AS (
{population_sql(spec, cutoffs, events)}
),
retained AS (
SELECT DISTINCT a.user_id, c.cutoff_us
FROM (SELECT user_id, ts_us FROM {events} WHERE {activity_predicate(spec)}) a
JOIN ({cutoffs_sql(cutoffs)}) c
  ON a.ts_us >= c.cutoff_us + {start} AND a.ts_us < c.cutoff_us + {end}
)
SELECT p.user_id, p.cutoff_us, CASE WHEN r.user_id IS NULL THEN 1 ELSE 0 END AS churned
FROM population p
LEFT JOIN retained r ON p.user_id = r.user_id AND p.cutoff_us = r.cutoff_us
ORDER BY p.cutoff_us DESC, p.user_id"""


def aggregate_columns(event_types: Sequence[str]) -> list[str]:
    """The raw aggregate columns :func:`aggregates_sql` returns after user_id, cutoff_us."""
    cols = ["recency_days", "tenure_days", "n_events"]
    cols += [f"events_{w}d" for w in WINDOWS]
    cols += ["n_orders", "monetary", "spend_90d", "days_since_purchase", "n_cancels"]
    cols += ["distinct_items", "distinct_categories", "n_cart"]
    for i, _ in enumerate(event_types):
        cols += [f"type{i}_n", f"type{i}_n_30d", f"type{i}_days_since"]
    cols += ["active_days"] + [f"active_days_{w}d" for w in WINDOWS]
    cols += ["n_gaps", "sum_gap", "sum_gap_sq", "max_gap"]
    cols += [f"decayed_days_{h}" for h in DECAY_HALF_LIVES]
    return cols


def user_part(parts: int, part: int, col: str = "user_id") -> str:
    """SQL: the user in ``col`` falls in part ``part`` of ``parts`` (a hash of the id)."""
    return f"ABS(hash({col})) % {int(parts)} = {int(part)}"


def aggregates_sql(
    population: str, event_types: Sequence[str], events: str = EVENTS, order: bool = True
) -> str:
    """Raw per-(user, cutoff) aggregates for every pair in ``population``, in one query.

    ``population`` is a relation (a table or view name, or a parenthesised SELECT) with
    columns ``user_id`` and ``cutoff_us``. Only events with ``ts_us < cutoff_us`` enter.
    Pairs without any such event get NULL minima/maxima and zero counts (derive fills
    them). ``event_types`` get positional columns ``type{i}_*`` (so any event type name is
    safe); :func:`aggregate_columns` lists the columns in order.
    """
    day = f"CAST({US_PER_DAY} AS DOUBLE)"
    buy = "e.buy = 1"
    first_index = {t: i for i, t in reversed(list(enumerate(event_types)))}
    type_code = " ".join(
        f"WHEN e.event_type = {quote(t)} THEN {i}" for t, i in sorted(first_index.items())
    )
    type_code = f"CASE {type_code} ELSE -1 END" if first_index else "-1"
    type_cols = []
    for i, t in enumerate(event_types):
        is_t = f"e.tcode = {first_index[t]}"
        type_cols += [
            f"SUM(CASE WHEN {is_t} THEN 1 ELSE 0 END) AS type{i}_n",
            f"SUM(CASE WHEN {is_t} AND e.age < 30 THEN 1 ELSE 0 END) AS type{i}_n_30d",
            f"MIN(CASE WHEN {is_t} THEN e.age END) AS type{i}_days_since",
        ]
    windows = [
        f"SUM(CASE WHEN e.act = 1 AND e.age < {w} THEN 1 ELSE 0 END) AS events_{w}d"
        for w in WINDOWS
    ]
    active_windows = [
        f"SUM(CASE WHEN d.day_idx >= -{w} THEN 1 ELSE 0 END) AS active_days_{w}d" for w in WINDOWS
    ]
    decays = [
        f"SUM(POWER(CAST('0.5' AS DOUBLE), CAST(-d.day_idx AS DOUBLE) / {h})) AS decayed_days_{h}"
        for h in DECAY_HALF_LIVES
    ]
    per_event = ",\n  ".join(
        [
            "MIN(CASE WHEN e.act = 1 THEN e.age END) AS recency_days",
            "MAX(CASE WHEN e.act = 1 THEN e.age END) AS tenure_days",
            "SUM(e.act) AS n_events",
            *windows,
            f"COUNT(DISTINCT CASE WHEN {buy} THEN FLOOR(e.age * 86400) END) AS n_orders",
            f"SUM(CASE WHEN {buy} THEN e.amount ELSE CAST(0 AS DOUBLE) END) AS monetary",
            f"SUM(CASE WHEN {buy} AND e.age < 90 THEN e.amount ELSE CAST(0 AS DOUBLE) END)"
            " AS spend_90d",
            f"MIN(CASE WHEN {buy} THEN e.age END) AS days_since_purchase",
            "SUM(1 - e.act) AS n_cancels",
            "SUM(e.cart) AS n_cart",
            *type_cols,
        ]
    )
    per_day = ",\n  ".join(
        [
            "COUNT(*) AS active_days",
            *active_windows,
            "COUNT(d.gap) AS n_gaps",
            "SUM(d.gap) AS sum_gap",
            "SUM(d.gap * d.gap) AS sum_gap_sq",
            "MAX(d.gap) AS max_gap",
            *decays,
        ]
    )
    source = {"distinct_items": "i", "distinct_categories": "k"}
    all_cols = aggregate_columns(event_types)
    first_day_col = all_cols.index("active_days")
    cols = ",\n  ".join(
        f"CAST({source.get(c, 'a' if i < first_day_col else 'g')}.{c} AS DOUBLE) AS {c}"
        for i, c in enumerate(all_cols)
    )
    order_by = "\nORDER BY p.cutoff_us DESC, p.user_id" if order else ""
    return f"""WITH pop AS (SELECT user_id, cutoff_us FROM {population}),
ev AS (
SELECT e.user_id, p.cutoff_us, e.amount,
  CAST(p.cutoff_us - e.ts_us AS DOUBLE) / {day} AS age,
  CASE WHEN {is_cancel("e.event_type")} THEN 0 ELSE 1 END AS act,
  CASE WHEN e.event_type = {quote(PURCHASE)} THEN 1 ELSE 0 END AS buy,
  CASE WHEN e.event_type = {quote("cart")} THEN 1 ELSE 0 END AS cart,
  {type_code} AS tcode
FROM {events} e JOIN pop p ON e.user_id = p.user_id AND e.ts_us < p.cutoff_us
),
agg AS (
SELECT e.user_id, e.cutoff_us,
  {per_event}
FROM ev e GROUP BY e.user_id, e.cutoff_us
),
popd AS (
SELECT user_id, cutoff_us, cutoff_us % {US_PER_DAY} AS off,
  CAST((cutoff_us - cutoff_us % {US_PER_DAY}) / {US_PER_DAY} AS BIGINT) AS cday
FROM pop
),
gdays AS (
SELECT user_id, off, gday,
  gday - LAG(gday) OVER (PARTITION BY user_id, off ORDER BY gday) AS gap
FROM (
  SELECT DISTINCT e.user_id, o.off, FLOOR(CAST(e.ts_us - o.off AS DOUBLE) / {day}) AS gday
  FROM {events} e
  JOIN (SELECT user_id, off, MAX(cutoff_us) AS last_us FROM popd GROUP BY user_id, off) o
    ON e.user_id = o.user_id AND e.ts_us < o.last_us
  WHERE NOT ({is_cancel("e.event_type")})
) u
),
gaps AS (
SELECT d.user_id, d.cutoff_us,
  {per_day}
FROM (
  SELECT p.user_id, p.cutoff_us, g.gday - p.cday AS day_idx, g.gap
  FROM gdays g JOIN popd p ON g.user_id = p.user_id AND g.off = p.off AND g.gday < p.cday
) d
GROUP BY d.user_id, d.cutoff_us
),
{_distinct_before_cutoff("item_id", "distinct_items", events)},
{_distinct_before_cutoff("category", "distinct_categories", events)}
SELECT p.user_id, p.cutoff_us,
  {cols}
FROM pop p
LEFT JOIN agg a ON p.user_id = a.user_id AND p.cutoff_us = a.cutoff_us
LEFT JOIN gaps g ON p.user_id = g.user_id AND p.cutoff_us = g.cutoff_us
LEFT JOIN distinct_items i ON p.user_id = i.user_id AND p.cutoff_us = i.cutoff_us
LEFT JOIN distinct_categories k ON p.user_id = k.user_id AND p.cutoff_us = k.cutoff_us{order_by}"""


def _distinct_before_cutoff(col: str, name: str, events: str) -> str:
    """CTE ``name``: distinct non-null ``col`` values per (user, cutoff) before the cutoff.

    Counted as the values whose first occurrence for the user lies before the cutoff: one
    pass over the log for all cutoffs (much cheaper than COUNT(DISTINCT) per cutoff).
    """
    return f"""{name} AS (
SELECT p.user_id, p.cutoff_us, COUNT(*) AS {name}
FROM (SELECT user_id, {col}, MIN(ts_us) AS first_us FROM {events}
      WHERE {col} IS NOT NULL GROUP BY user_id, {col}) f
JOIN pop p ON f.user_id = p.user_id AND f.first_us < p.cutoff_us
GROUP BY p.user_id, p.cutoff_us
)"""


def sequences_sql(
    population: str, max_events: int, events: str = EVENTS, order: bool = True
) -> str:
    """The raw rows the encoder's sequences need, per (user, cutoff) of ``population``.

    An encoder event is one (timestamp, event type) of a user (order lines merged); its
    sequence keeps the last ``max_events`` of them before the cutoff, and the gap of the
    oldest kept one needs the event before it. So: the rows of each pair's last
    ``max_events + 1`` events, ordered by cutoff, user, time, type and then category
    (which line of a merged event comes first). Feed them to ``sequences.build_sequences``.
    ``order=False`` leaves the rows unordered (Spark groups them per user and sorts there).
    """
    order_by = (
        "\nORDER BY ev.cutoff_us DESC, ev.user_id, ev.ts_us, ev.event_type, ev.category NULLS LAST"
        if order
        else ""
    )
    keep = int(max_events) + 1
    return f"""WITH pop AS (SELECT user_id, cutoff_us FROM {population}),
ev AS (
SELECT e.user_id, p.cutoff_us, e.ts_us, e.event_type, e.amount, e.category
FROM {events} e JOIN pop p ON e.user_id = p.user_id AND e.ts_us < p.cutoff_us
),
ranked AS (
SELECT user_id, cutoff_us, ts_us, event_type,
  ROW_NUMBER() OVER (PARTITION BY user_id, cutoff_us ORDER BY ts_us DESC, event_type DESC)
    AS back
FROM (SELECT DISTINCT user_id, cutoff_us, ts_us, event_type FROM ev) g
)
SELECT ev.user_id, ev.cutoff_us, ev.ts_us, ev.event_type, ev.amount, ev.category
FROM ev JOIN ranked r
  ON ev.user_id = r.user_id AND ev.cutoff_us = r.cutoff_us AND ev.ts_us = r.ts_us
  AND ev.event_type = r.event_type
WHERE r.back <= {keep}{order_by}"""
