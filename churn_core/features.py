"""Per-user behaviour features at a cutoff: names, descriptions, event-type columns.

Every feature is computed from events strictly before the cutoff. Names are stable
across cutoffs and logs (event-type columns depend on the event types the model was
trained with, passed in explicitly). The definitions are SQL, shared by every engine
(:mod:`churn_core.engine.sql`), plus one pandas step (:mod:`churn_core.engine.derive`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from churn_core.events import CANCEL_EVENTS

if TYPE_CHECKING:
    from churn_core.engine.source import EventSource

WINDOWS = (7, 30, 90, 180)
MAX_TYPE_FEATURES = 6
NO_EVENT_DAYS = 10_000.0  # "days since" for an event type the user never had

# Plain-language descriptions, shared by explanations, the app and the README.
DESCRIPTIONS: dict[str, str] = {
    "recency_days": "days since the last event",
    "tenure_days": "days since the first event",
    "n_events": "events in the whole history",
    "active_days": "distinct active days",
    "events_per_active_day": "events per active day",
    "active_day_rate": "share of days active since the first event",
    "tenure_over_history": "days since the first event / days of log history before the cutoff",
    "mean_gap_days": "usual gap between active days (days)",
    "std_gap_days": "spread of the gaps between active days (days)",
    "max_gap_days": "longest gap between active days (days)",
    "overdue_ratio": "days since last activity / usual gap",
    "trend_30_90": "activity in the last 30 days vs the 60 days before",
    "trend_90_180": "activity in the last 90 days vs the 90 days before",
    "n_orders": "purchases (distinct order times)",
    "monetary": "total spend",
    "avg_order_value": "average spend per order",
    "spend_90d": "spend in the last 90 days",
    "days_since_purchase": "days since the last purchase",
    "n_cancels": "cancellations / returns",
    "distinct_items": "distinct items",
    "distinct_categories": "distinct categories",
    "cart_to_purchase": "purchases per cart event",
    "decayed_days_30": "active days, each weighted by 0.5 ** (age / 30 days)",
    "decayed_days_90": "active days, each weighted by 0.5 ** (age / 90 days)",
    "recency_over_max_gap": "days since last activity / longest gap seen before",
    "bgnbd_p_alive": "probability the customer is still active (BG/NBD model)",
    "bgnbd_p_quiet": "BG/NBD probability of no activity in the horizon",
    "history_days": "days of log history before the cutoff (same for every user)",
}
for _w in WINDOWS:
    DESCRIPTIONS[f"events_{_w}d"] = f"events in the last {_w} days"
    DESCRIPTIONS[f"active_days_{_w}d"] = f"active days in the last {_w} days"


def pick_event_types(frame: pd.DataFrame | EventSource) -> tuple[str, ...]:
    """The event types that get their own columns: the most frequent few, never cancels.

    ``frame``: a canonical event frame, or an event source (counted by its engine).
    """
    if isinstance(frame, pd.DataFrame):
        counts = frame["event_type"].value_counts()
    else:
        counts = frame.event_type_counts()
    counts = counts[~counts.index.isin(CANCEL_EVENTS)]
    return tuple(sorted(counts.index[:MAX_TYPE_FEATURES].tolist()))


def describe(name: str) -> str:
    """Plain-language description of a feature name."""
    if name in DESCRIPTIONS:
        return DESCRIPTIONS[name]
    if name.startswith("days_since_"):
        return f"days since the last {name.removeprefix('days_since_')} event"
    if name.startswith("n_") and name.endswith("_30d"):
        return f"{name[2:-4]} events in the last 30 days"
    if name.startswith("n_"):
        return f"{name[2:]} events in the whole history"
    return name.replace("_", " ")


def aggregate_features(
    events: pd.DataFrame,
    cutoff: pd.Timestamp,
    users: pd.Index,
    event_types: tuple[str, ...],
    log_start: pd.Timestamp | None = None,
    horizon_days: float = 90.0,
) -> pd.DataFrame:
    """One row per user in ``users`` (same order), numeric features as of ``cutoff``.

    ``events`` is a canonical event frame; rows at or after ``cutoff`` are ignored here,
    whatever the caller passed. Users without events before the cutoff get the
    "never seen" values (zero counts, large recencies). Runs the shared SQL definitions
    (:mod:`churn_core.engine.sql`) on an in-memory DuckDB; pipelines use
    :class:`churn_core.engine.source.EventSource` directly.
    """
    from churn_core.engine import derive, sql
    from churn_core.engine.duck import DuckEngine

    users = pd.Index(users)
    uniq = users.unique()
    engine = DuckEngine()
    try:
        engine.register_frame(events)
        pop = pd.DataFrame({"user_id": uniq.to_numpy(), "cutoff_us": sql.cutoff_us(cutoff)})
        engine.register("population", pop)
        raw = engine.frame(sql.aggregates_sql("population", event_types))
    finally:
        engine.close()
    X = derive.derive_features(raw, event_types, log_start, horizon_days)
    X.index = pd.Index(raw["user_id"].to_numpy())
    return X.reindex(users)
