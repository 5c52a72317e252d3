"""Test oracle: the numpy feature code and pandas label code the SQL engine replaced.

Kept verbatim (apart from names) from ``churn_core/features.py`` and ``churn_core/labels.py``
as they were before issue 13 (plus the span-scaled feature of issue 12), so that
``test_engine_parity.py`` checks the shared SQL definitions against an independent
implementation. Not used by the library.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn_core.bgnbd import bgnbd_scores
from churn_core.config import LabelSpec
from churn_core.events import CANCEL_EVENTS, PURCHASE, EventLog
from churn_core.features import NO_EVENT_DAYS, WINDOWS


def reference_activity_mask(frame: pd.DataFrame, spec: LabelSpec) -> np.ndarray:
    """Which events count as activity for the label (default: all but cancellations)."""
    types = frame["event_type"]
    if spec.activity_events is None:
        return ~types.isin(CANCEL_EVENTS).to_numpy()
    return types.isin(spec.activity_events).to_numpy()


def reference_eligible_users(log: EventLog, spec: LabelSpec, cutoff: pd.Timestamp) -> pd.Index:
    """Users active before ``cutoff`` (and, optionally, within the last L days)."""
    frame = log.frame
    hist = frame.loc[
        (frame["timestamp"] < cutoff).to_numpy() & reference_activity_mask(frame, spec)
    ]
    if spec.active_within_days is not None:
        hist = hist.loc[hist["timestamp"] >= cutoff - pd.Timedelta(days=spec.active_within_days)]
    return pd.Index(np.sort(hist["user_id"].unique()), name="user_id")


def reference_labels(log: EventLog, spec: LabelSpec, cutoff: pd.Timestamp) -> pd.Series:
    """1 = churned: eligible at ``cutoff`` and no qualifying activity in the label window."""
    cutoff = pd.Timestamp(cutoff)
    users = reference_eligible_users(log, spec, cutoff)
    start = cutoff + pd.Timedelta(days=spec.gap_days)
    end = start + pd.Timedelta(days=spec.horizon_days)
    frame = log.frame
    ts = frame["timestamp"]
    in_window = ((ts >= start) & (ts < end)).to_numpy() & reference_activity_mask(frame, spec)
    active = pd.Index(frame.loc[in_window, "user_id"].unique())
    churned = ~users.isin(active)
    return pd.Series(churned.astype(np.int8), index=users, name="churned")


def reference_features(
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
    "never seen" values (zero counts, large recencies).
    """
    cutoff = pd.Timestamp(cutoff)
    ts = events["timestamp"].to_numpy()
    keep = ts < np.datetime64(cutoff)
    ev = events.loc[keep]
    n = len(users)
    codes = users.get_indexer(ev["user_id"])
    inside = codes >= 0
    ev, codes = ev.loc[inside], codes[inside]
    ts = ev["timestamp"].to_numpy()
    age = (np.datetime64(cutoff) - ts) / np.timedelta64(1, "D")
    age = age.astype(np.float64)
    day = np.floor(-age).astype(np.int64)  # day index relative to the cutoff (-1 = last day)
    types = ev["event_type"].to_numpy()
    is_cancel = np.isin(types, list(CANCEL_EVENTS))
    amount = ev["amount"].to_numpy(dtype=np.float64)

    f: dict[str, np.ndarray] = {}
    act = ~is_cancel
    f["recency_days"] = _min(codes[act], age[act], n, NO_EVENT_DAYS)
    f["tenure_days"] = _max(codes[act], age[act], n, 0.0)
    f["n_events"] = _count(codes[act], n)

    # distinct active days per user and the gaps between them
    key = np.unique(codes[act].astype(np.int64) * 1_000_000 + (day[act] + 500_000))
    ucode = key // 1_000_000
    uday = key % 1_000_000 - 500_000
    f["active_days"] = _count(ucode, n)
    for w in WINDOWS:
        f[f"events_{w}d"] = _count(codes[act & (age < w)], n)
        f[f"active_days_{w}d"] = _count(ucode[uday >= -w], n)
    same = np.zeros(len(ucode), dtype=bool)  # not np.r_[False, ...]: that has 1 row when empty
    same[1:] = ucode[1:] == ucode[:-1]
    gaps = np.diff(uday, prepend=0)[same].astype(np.float64)
    gcode = ucode[same]
    n_gaps = _count(gcode, n)
    mean_gap = np.divide(_sum(gcode, gaps, n), n_gaps, out=np.full(n, np.nan), where=n_gaps > 0)
    sq = np.divide(_sum(gcode, gaps**2, n), n_gaps, out=np.full(n, np.nan), where=n_gaps > 0)
    f["mean_gap_days"] = mean_gap  # NaN until a second active day; filled with tenure below
    f["std_gap_days"] = np.nan_to_num(np.sqrt(np.maximum(sq - mean_gap**2, 0.0)))
    f["max_gap_days"] = _max(gcode, gaps, n, np.nan)
    f["overdue_ratio"] = f["recency_days"] / (np.nan_to_num(mean_gap, nan=f["tenure_days"]) + 1.0)  # type: ignore[call-overload]
    for half_life in (30, 90):
        f[f"decayed_days_{half_life}"] = _sum(ucode, 0.5 ** (-uday / half_life), n)
    f["recency_over_max_gap"] = f["recency_days"] / (np.nan_to_num(f["max_gap_days"], nan=0.0) + 1)
    p_alive, p_quiet = bgnbd_scores(
        f["active_days"] - 1, f["tenure_days"] - f["recency_days"], f["tenure_days"], horizon_days
    )
    f["bgnbd_p_alive"], f["bgnbd_p_quiet"] = p_alive, p_quiet
    f["events_per_active_day"] = _ratio(f["n_events"], f["active_days"])
    f["active_day_rate"] = _ratio(f["active_days"], f["tenure_days"] + 1.0)
    if log_start is None:
        f["tenure_over_history"] = np.full(n, np.nan)
    else:  # days since the user's first event / days since the log's first event
        span = (cutoff - pd.Timestamp(log_start)) / pd.Timedelta(days=1)
        f["tenure_over_history"] = f["tenure_days"] / span if span > 0 else np.zeros(n)
    e30, e90, e180 = f["active_days_30d"], f["active_days_90d"], f["active_days_180d"]
    f["trend_30_90"] = (e30 / 30.0 + 0.01) / ((e90 - e30) / 60.0 + 0.01)
    f["trend_90_180"] = (e90 / 90.0 + 0.01) / ((e180 - e90) / 90.0 + 0.01)

    is_buy = types == PURCHASE
    order_key = np.unique(
        codes[is_buy].astype(np.int64) * 10**12 + (age[is_buy] * 86400).astype(np.int64)
    )
    f["n_orders"] = _count(order_key // 10**12, n)
    f["monetary"] = _sum(codes[is_buy], amount[is_buy], n)
    f["avg_order_value"] = _ratio(f["monetary"], f["n_orders"])
    recent = is_buy & (age < 90)
    f["spend_90d"] = _sum(codes[recent], amount[recent], n)
    f["days_since_purchase"] = _min(codes[is_buy], age[is_buy], n, NO_EVENT_DAYS)
    f["n_cancels"] = _count(codes[is_cancel], n)
    for col in ("item_id", "category"):
        name = "distinct_items" if col == "item_id" else "distinct_categories"
        if col in ev and ev[col].notna().any():
            f[name] = _distinct(codes, ev[col].to_numpy(), n)
        else:
            f[name] = np.zeros(n)
    n_cart = _count(codes[types == "cart"], n)
    f["cart_to_purchase"] = np.where(n_cart > 0, _ratio(f["n_orders"], n_cart), -1.0)
    for t in event_types:
        m = types == t
        f[f"n_{t}"] = _count(codes[m], n)
        f[f"n_{t}_30d"] = _count(codes[m & (age < 30)], n)
        f[f"days_since_{t}"] = _min(codes[m], age[m], n, NO_EVENT_DAYS)
    start = pd.Timestamp(log_start) if log_start is not None else None
    f["history_days"] = np.full(n, (cutoff - start).days if start is not None else np.nan)
    out = pd.DataFrame(f, index=users)
    out["mean_gap_days"] = out["mean_gap_days"].fillna(out["tenure_days"] + 1.0)
    out["max_gap_days"] = out["max_gap_days"].fillna(out["tenure_days"])
    return out.astype(np.float64)


def _count(codes: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(codes, minlength=n).astype(np.float64)


def _sum(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(codes, weights=values, minlength=n)


def _min(codes: np.ndarray, values: np.ndarray, n: int, empty: float) -> np.ndarray:
    out = np.full(n, np.inf)
    np.minimum.at(out, codes, values)
    out[np.isinf(out)] = empty
    return out


def _max(codes: np.ndarray, values: np.ndarray, n: int, empty: float) -> np.ndarray:
    out = np.full(n, -np.inf)
    np.maximum.at(out, codes, values)
    out[np.isinf(out)] = empty
    return out


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def _distinct(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    valid = pd.notna(values)
    pairs = pd.DataFrame({"c": codes[valid], "v": values[valid]}).drop_duplicates()
    return _count(pairs["c"].to_numpy(), n)
