"""The pandas step every engine shares: raw SQL aggregates -> the model's feature columns.

Derived ratios, fill rules for users without some kind of event, BG/NBD and the exact
column names and order. Pure per row except BG/NBD, whose parameters are fitted per
cutoff (:func:`fit_bgnbd_params`) and then passed in, so that an engine can apply them
per partition (Spark ``mapInPandas``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churn_core.engine.sql import DECAY_HALF_LIVES, US_PER_DAY, WINDOWS, cutoff_us
from churn_core.features import NO_EVENT_DAYS

if TYPE_CHECKING:
    from churn_core.bgnbd import BgNbdParams

KEY_COLUMNS = ("user_id", "cutoff_us")


def feature_columns(event_types: Sequence[str]) -> list[str]:
    """The model's feature columns, in order, for the given event types."""
    cols = ["recency_days", "tenure_days", "n_events", "active_days"]
    for w in WINDOWS:
        cols += [f"events_{w}d", f"active_days_{w}d"]
    cols += ["mean_gap_days", "std_gap_days", "max_gap_days", "overdue_ratio"]
    cols += [f"decayed_days_{h}" for h in DECAY_HALF_LIVES]
    cols += ["recency_over_max_gap", "bgnbd_p_alive", "bgnbd_p_quiet"]
    cols += ["events_per_active_day", "active_day_rate", "tenure_over_history"]
    cols += ["trend_30_90", "trend_90_180"]
    cols += ["n_orders", "monetary", "avg_order_value", "spend_90d", "days_since_purchase"]
    cols += ["n_cancels", "distinct_items", "distinct_categories", "cart_to_purchase"]
    for t in event_types:
        cols += [f"n_{t}", f"n_{t}_30d", f"days_since_{t}"]
    # an event type named like a core feature ("orders") shares its column, as before
    return list(dict.fromkeys([*cols, "history_days"]))


def _col(raw: pd.DataFrame, name: str, empty: float) -> np.ndarray:
    """A raw aggregate as float64, NULL (no such event) replaced by ``empty``."""
    values = raw[name].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isnan(values), empty, values) if not np.isnan(empty) else values


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def bgnbd_inputs(raw: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(repeat active days, first-to-last active days, age in days) from raw aggregates."""
    recency = _col(raw, "recency_days", NO_EVENT_DAYS)
    tenure = _col(raw, "tenure_days", 0.0)
    active = _col(raw, "active_days", 0.0)
    return active - 1, tenure - recency, tenure


def fit_bgnbd_params(raw: pd.DataFrame) -> dict[int, BgNbdParams | None]:
    """BG/NBD parameters per cutoff (``cutoff_us`` -> params; None = neutral scores).

    Fitted on every (user, cutoff) row of that cutoff: the whole population, as the
    single-cutoff computation did. Needs only the three BG/NBD inputs per row.
    """
    from churn_core.bgnbd import fit_bgnbd  # scipy: only when features are built

    out: dict[int, BgNbdParams | None] = {}
    cut = raw["cutoff_us"].to_numpy()
    repeat, last, age = bgnbd_inputs(raw)
    for c in pd.unique(cut):
        m = cut == c
        out[int(c)] = fit_bgnbd(repeat[m], last[m], age[m])
    return out


def derive_features(
    raw: pd.DataFrame,
    event_types: Sequence[str],
    log_start: pd.Timestamp | None,
    horizon_days: float,
    bgnbd_params: Mapping[int, BgNbdParams | None] | None = None,
) -> pd.DataFrame:
    """Feature frame (float64, :func:`feature_columns` order, ``raw``'s row order and index).

    ``raw`` is the result of :func:`churn_core.engine.sql.aggregates_sql`. BG/NBD
    parameters default to a fit on ``raw`` itself, per cutoff.
    """
    if bgnbd_params is None:
        bgnbd_params = fit_bgnbd_params(raw)
    n = len(raw)
    f: dict[str, np.ndarray] = {}
    f["recency_days"] = recency = _col(raw, "recency_days", NO_EVENT_DAYS)
    f["tenure_days"] = tenure = _col(raw, "tenure_days", 0.0)
    f["n_events"] = _col(raw, "n_events", 0.0)
    f["active_days"] = active = _col(raw, "active_days", 0.0)
    for w in WINDOWS:
        f[f"events_{w}d"] = _col(raw, f"events_{w}d", 0.0)
        f[f"active_days_{w}d"] = _col(raw, f"active_days_{w}d", 0.0)
    n_gaps = _col(raw, "n_gaps", 0.0)
    mean_gap = np.divide(
        _col(raw, "sum_gap", 0.0), n_gaps, out=np.full(n, np.nan), where=n_gaps > 0
    )
    sq = np.divide(_col(raw, "sum_gap_sq", 0.0), n_gaps, out=np.full(n, np.nan), where=n_gaps > 0)
    max_gap = _col(raw, "max_gap", np.nan)
    f["mean_gap_days"] = np.where(np.isnan(mean_gap), tenure + 1.0, mean_gap)
    f["std_gap_days"] = np.nan_to_num(np.sqrt(np.maximum(sq - mean_gap**2, 0.0)))
    f["max_gap_days"] = np.where(np.isnan(max_gap), tenure, max_gap)
    f["overdue_ratio"] = recency / (np.where(np.isnan(mean_gap), tenure, mean_gap) + 1.0)
    for h in DECAY_HALF_LIVES:
        f[f"decayed_days_{h}"] = _col(raw, f"decayed_days_{h}", 0.0)
    f["recency_over_max_gap"] = recency / (np.nan_to_num(max_gap, nan=0.0) + 1)

    from churn_core.bgnbd import apply_bgnbd

    p_alive, p_quiet = np.empty(n), np.empty(n)
    repeat, last, age = active - 1, tenure - recency, tenure
    cut = raw["cutoff_us"].to_numpy()
    for c in pd.unique(cut):
        m = cut == c
        p_alive[m], p_quiet[m] = apply_bgnbd(
            bgnbd_params.get(int(c)), repeat[m], last[m], age[m], horizon_days
        )
    f["bgnbd_p_alive"], f["bgnbd_p_quiet"] = p_alive, p_quiet
    f["events_per_active_day"] = _ratio(f["n_events"], active)
    f["active_day_rate"] = _ratio(active, tenure + 1.0)
    # how long the user has been known, scaled to the log's span before the cutoff (issue 12)
    if log_start is None:
        f["tenure_over_history"] = np.full(n, np.nan)
    else:
        span = (cut.astype(np.int64) - cutoff_us(log_start)) / float(US_PER_DAY)
        f["tenure_over_history"] = _ratio(tenure, span)
    e30, e90, e180 = f["active_days_30d"], f["active_days_90d"], f["active_days_180d"]
    f["trend_30_90"] = (e30 / 30.0 + 0.01) / ((e90 - e30) / 60.0 + 0.01)
    f["trend_90_180"] = (e90 / 90.0 + 0.01) / ((e180 - e90) / 90.0 + 0.01)

    f["n_orders"] = n_orders = _col(raw, "n_orders", 0.0)
    f["monetary"] = _col(raw, "monetary", 0.0)
    f["avg_order_value"] = _ratio(f["monetary"], n_orders)
    f["spend_90d"] = _col(raw, "spend_90d", 0.0)
    f["days_since_purchase"] = _col(raw, "days_since_purchase", NO_EVENT_DAYS)
    f["n_cancels"] = _col(raw, "n_cancels", 0.0)
    f["distinct_items"] = _col(raw, "distinct_items", 0.0)
    f["distinct_categories"] = _col(raw, "distinct_categories", 0.0)
    n_cart = _col(raw, "n_cart", 0.0)
    f["cart_to_purchase"] = np.where(n_cart > 0, _ratio(n_orders, n_cart), -1.0)
    for i, t in enumerate(event_types):
        f[f"n_{t}"] = _col(raw, f"type{i}_n", 0.0)
        f[f"n_{t}_30d"] = _col(raw, f"type{i}_n_30d", 0.0)
        f[f"days_since_{t}"] = _col(raw, f"type{i}_days_since", NO_EVENT_DAYS)
    if log_start is None:
        f["history_days"] = np.full(n, np.nan)
    else:
        start_us = cutoff_us(log_start)
        f["history_days"] = ((cut.astype(np.int64) - start_us) // US_PER_DAY).astype(np.float64)
    out = pd.DataFrame(f, index=raw.index)
    return out[feature_columns(event_types)].astype(np.float64)
