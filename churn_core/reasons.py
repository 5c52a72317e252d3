"""Plain-language reasons from SHAP contributions: every reason template lives here.

``top_reasons`` picks, per user, up to three factors with the largest risk-raising
(positive) contributions first, then the largest risk-lowering ones, skips factors that
would repeat the same story (``THEMES``: e.g. ``recency_days`` and ``overdue_ratio`` both
say "no recent activity"), and phrases each one from that user's own feature values, so
every number in a reason can be recomputed from the user's events.

Vectorised per factor: one pass over the chosen (user, factor) pairs, grouped by factor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np
import pandas as pd

from churn_core.features import NO_EVENT_DAYS, describe

N_REASONS = 3
REASON_COLUMNS = tuple(f"reason_{i + 1}" for i in range(N_REASONS))
SEQUENCE_FACTOR = "behaviour sequence (Transformer)"
RAISES, LOWERS = "raises risk", "lowers risk"
_CANDIDATES = 8  # factors looked at per user before de-duplicating themes
NEVER_REASONS = frozenset({"history_days"})  # same value for every user: no story to tell

# Factors that tell the same story share a theme; a user gets at most one reason per theme.
THEMES: dict[str, str] = {
    **dict.fromkeys(
        ["recency_days", "days_since_purchase", "overdue_ratio", "recency_over_max_gap"], "recency"
    ),
    **dict.fromkeys(["bgnbd_p_alive", "bgnbd_p_quiet"], "alive"),
    **dict.fromkeys(
        ["events_7d", "active_days_7d", "events_30d", "active_days_30d", "trend_30_90"], "act30"
    ),
    **dict.fromkeys(["decayed_days_30"], "act30"),
    **dict.fromkeys(["events_90d", "active_days_90d", "trend_90_180", "decayed_days_90"], "act90"),
    **dict.fromkeys(["events_180d", "active_days_180d"], "act90"),
    **dict.fromkeys(["n_orders", "n_purchase", "active_days", "n_events"], "history"),
    **dict.fromkeys(["monetary", "spend_90d", "avg_order_value"], "spend"),
    **dict.fromkeys(["mean_gap_days", "std_gap_days", "max_gap_days"], "gaps"),
    "tenure_over_history": "tenure_days",  # how long known, as a share of the log's history
}


def _days(x: float) -> str:
    d = int(np.floor(x))
    return f"{d} day" if d == 1 else f"{d} days"


def _n(x: float, one: str, many: str | None = None) -> str:
    k = int(round(x))
    return f"{k} {one}" if k == 1 else f"{k} {many or one + 's'}"


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _ratio(a: float, b: float) -> str:
    r = a / b
    return f"{r:.0f}" if r >= 10 else f"{r:.1f}".removesuffix(".0")


# --------------------------------------------------------------------------- templates
# Each template gets one user's feature values (a dict-like row) and returns a phrase.
Row = Mapping  # feature name -> value (a dict, or top_reasons' view on the columns)


def _recency(r: Row, name: str) -> str:
    purchase_view = name == "days_since_purchase" or (
        "days_since_purchase" in r and abs(r["recency_days"] - r["days_since_purchase"]) < 1e-9
    )
    days = r["days_since_purchase"] if purchase_view else r["recency_days"]
    what = "purchase" if purchase_view else "activity"
    if days >= NO_EVENT_DAYS:
        return "Never purchased" if purchase_view else "No activity yet"
    gap, active = r.get("mean_gap_days", np.nan), r.get("active_days", 0)
    if active < 2 or not np.isfinite(gap) or gap <= 0:
        return f"No {what} for {_days(days)} (only one active day so far)"
    if days >= 1.5 * gap:
        return (
            f"No {what} for {_days(days)} — about {_ratio(days, gap)}× this customer's "
            f"usual gap ({_days(gap)})"
        )
    return f"Last {what} {_days(days)} ago — within the usual gap of {_days(gap)}"


def _alive(r: Row, name: str) -> str:
    if name == "bgnbd_p_quiet":
        return f"Estimated chance of no activity in the coming horizon: {r[name]:.0%} (BG/NBD)"
    return f"Estimated chance still active: {r[name]:.0%} (BG/NBD)"


def _window_activity(r: Row, w: int, prev: int, lo: str) -> str:
    now = r.get(f"active_days_{w}d", np.nan)
    before = r.get(f"active_days_{w + prev}d", np.nan) - now if prev else np.nan
    if not np.isfinite(now):
        return describe(lo)
    text = f"Active on {_n(now, 'day')} in the last {w} days"
    if np.isfinite(before):
        text += f" ({int(round(before))} in the {prev} days before)"
    return text


def _act30(r: Row, name: str) -> str:
    if name.endswith("7d"):
        return _window_activity(r, 7, 0, name)
    return _window_activity(r, 30, 60, name)


def _act90(r: Row, name: str) -> str:
    if name.endswith("180d"):
        return _window_activity(r, 180, 0, name)
    return _window_activity(r, 90, 90, name)


def _history(r: Row, name: str) -> str:
    if name in ("n_orders", "n_purchase") and "n_orders" in r:
        k = r["n_orders"]
        return f"Only {_n(k, 'order')} so far" if k <= 3 else f"{_n(k, 'order')} so far"
    k = r.get("active_days", 0)
    return f"Only {_n(k, 'active day')} so far" if k <= 3 else f"{_n(k, 'active day')} so far"


def _spend(r: Row, name: str) -> str:
    if name == "avg_order_value":
        return f"Average order value: {_money(r['avg_order_value'])}"
    if name == "monetary":
        return f"Total spend so far: {_money(r['monetary'])}"
    usual = r["monetary"] * 90.0 / max(r.get("tenure_days", 0.0), 90.0)
    return f"Spend in the last 90 days: {_money(r['spend_90d'])} (usual: {_money(usual)})"


def _gaps(r: Row, name: str) -> str:
    if name == "max_gap_days":
        return f"Longest gap between active days: {_days(r['max_gap_days'])}"
    return f"Usual gap between active days: {_days(r['mean_gap_days'])}"


def _tenure(r: Row, name: str) -> str:
    if name == "tenure_over_history" and np.isfinite(r[name]):
        share = f"{r[name]:.0%} of the log's history"
        return f"First seen {_days(r['tenure_days'])} ago ({share})"
    return f"First seen {_days(r['tenure_days'])} ago"


def _cancels(r: Row, name: str) -> str:
    return _n(r["n_cancels"], "cancellation / return", "cancellations / returns")


def _cart(r: Row, name: str) -> str:
    if r["cart_to_purchase"] < 0:
        return "No cart events yet"
    carts = r["n_orders"] / r["cart_to_purchase"] if r["cart_to_purchase"] > 0 else np.nan
    if np.isfinite(carts):
        return f"{_n(r['n_orders'], 'purchase')} from {_n(carts, 'cart event')}"
    return "Cart events but no purchase yet"


def _per_day(r: Row, name: str) -> str:
    if name == "active_day_rate":
        return f"Active on {r['active_day_rate']:.0%} of days since first seen"
    return f"{r['events_per_active_day']:.1f} events per active day"


def _distinct(r: Row, name: str) -> str:
    what = "item" if name == "distinct_items" else "category"
    return _n(r[name], f"distinct {what}", "distinct items" if what == "item" else "categories")


def _type_recent(r: Row, name: str) -> str:
    t = name[2:-4]
    recent, total = r[name], r.get(f"n_{t}", np.nan)
    tenure = r.get("tenure_days", 0.0)
    before = total - recent
    if np.isfinite(total) and before > 0 and tenure > 60:
        expected = before * 30.0 / (tenure - 30.0)
        change = recent / expected - 1.0
        if change <= -0.2:
            return (
                f"{t.capitalize()} events fell {abs(change):.0%} in the last 30 days "
                f"({int(recent)} vs about {expected:.0f} per 30 days before)"
            )
    return f"{_n(recent, t + ' event')} in the last 30 days (of {int(total)} in total)"


def _type_days_since(r: Row, name: str) -> str:
    t = name.removeprefix("days_since_")
    if r[name] >= NO_EVENT_DAYS:
        return f"No {t} event yet"
    return f"Last {t} event {_days(r[name])} ago"


def _type_total(r: Row, name: str) -> str:
    return f"{_n(r[name], name[2:] + ' event')} in total"


def _sequence(r: Row, name: str) -> str:
    return "Pattern of recent events (sequence model)"


def _generic(r: Row, name: str) -> str:
    v = r.get(name, np.nan)
    return f"{describe(name).capitalize()}: {v:,.4g}" if np.isfinite(v) else describe(name)


TEMPLATES: dict[str, Callable[[Row, str], str]] = {
    "recency": _recency,
    "alive": _alive,
    "act30": _act30,
    "act90": _act90,
    "history": _history,
    "spend": _spend,
    "gaps": _gaps,
    "tenure_days": _tenure,
    "n_cancels": _cancels,
    "cart_to_purchase": _cart,
    "active_day_rate": _per_day,
    "events_per_active_day": _per_day,
    "distinct_items": _distinct,
    "distinct_categories": _distinct,
    SEQUENCE_FACTOR: _sequence,
}


def template_for(name: str) -> Callable[[Row, str], str]:
    """The phrase builder for a factor (theme first, then the factor, then by name shape)."""
    key = THEMES.get(name, name)
    if key in TEMPLATES:
        return TEMPLATES[key]
    if name == "n_purchase":
        return _history
    if name.startswith("n_") and name.endswith("_30d"):
        return _type_recent
    if name.startswith("days_since_"):
        return _type_days_since
    if name.startswith("n_"):
        return _type_total
    return _generic


def phrase(name: str, row: Row, contribution: float) -> str:
    """One signed reason, e.g. ``No purchase for 84 days — about 3× … (raises risk)``."""
    try:
        text = template_for(name)(row, name)
    except (KeyError, ValueError, ZeroDivisionError):
        text = describe(name)
    return f"{text} ({RAISES if contribution > 0 else LOWERS})"


def _theme(name: str) -> str:
    if name.startswith("n_") and name.endswith("_30d"):
        return f"type30:{name}"
    return THEMES.get(name, name)


def _choose(values: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (row, slot, factor column) of every chosen reason; see :func:`top_reasons`."""
    v = values.to_numpy(dtype=np.float64)
    names = list(values.columns)
    # positives (desc) before negatives (by |v| desc); zeros last and dropped below
    key = np.where(v > 0, 1e12 + v, np.where(v < 0, -v, -1.0))
    m = min(_CANDIDATES, v.shape[1])
    cand = np.argsort(-key, axis=1, kind="stable")[:, :m]
    theme_codes = pd.factorize(pd.Index([_theme(c) for c in names]))[0]
    themes = theme_codes[cand]
    usable = np.array([c not in NEVER_REASONS for c in names])
    nonzero = (np.take_along_axis(v, cand, axis=1) != 0) & usable[cand]
    # first occurrence of each theme per row
    dup = np.zeros_like(nonzero)
    for j in range(1, m):
        dup[:, j] = (themes[:, :j] == themes[:, j : j + 1]).any(axis=1)
    keep = nonzero & ~dup
    slot = np.cumsum(keep, axis=1) - 1
    chosen = keep & (slot < k)
    rows, cpos = np.nonzero(chosen)
    return rows, slot[rows, cpos], cand[rows, cpos]


def reason_factors(values: pd.DataFrame, k: int = N_REASONS) -> pd.DataFrame:
    """The factor behind each of :func:`top_reasons`' reasons (columns ``factor_1..k``),
    ``""`` where there is no reason or the factor lowers risk: what the campaign's action
    rules match on."""
    cols = [f"factor_{i + 1}" for i in range(k)]
    out = np.full((len(values), k), "", dtype=object)
    if len(values) and values.shape[1]:
        rows, slots, fidx = _choose(values, k)
        raises = values.to_numpy(dtype=np.float64)[rows, fidx] > 0
        names = np.asarray(values.columns, dtype=object)
        out[rows[raises], slots[raises]] = names[fidx[raises]]
    return pd.DataFrame(out, index=values.index, columns=cols)


def top_reasons(values: pd.DataFrame, features: pd.DataFrame, k: int = N_REASONS) -> pd.DataFrame:
    """Up to ``k`` signed reasons per user (columns ``reason_1..k``; ``""`` when none).

    ``values``: SHAP contributions per factor (index user_id). ``features``: the same users'
    aggregate feature values (index user_id; missing users give generic phrases). Order:
    risk-raising contributions, largest first, then risk-lowering ones by size; zero
    contributions never make a reason.
    """
    cols = [f"reason_{i + 1}" for i in range(k)]
    n = len(values)
    out = np.full((n, k), "", dtype=object)
    if n == 0 or values.shape[1] == 0:
        return pd.DataFrame(out, index=values.index, columns=cols)
    v = values.to_numpy(dtype=np.float64)
    names = list(values.columns)
    rows, slots, fidx = _choose(values, k)
    feats = features.reindex(values.index)
    columns = {c: feats[c].tolist() for c in feats.columns}  # plain Python values
    for f in np.unique(fidx):
        sel = fidx == f
        r_sel, s_sel = rows[sel], slots[sel]
        contrib = v[r_sel, f]
        name = names[f]
        out[r_sel, s_sel] = [
            phrase(name, _Row(columns, int(r)), c) for r, c in zip(r_sel, contrib, strict=True)
        ]
    return pd.DataFrame(out, index=values.index, columns=cols)


class _Row(Mapping):
    """One user's feature values, read-only, as the templates read them (``r["x"]``,
    ``r.get``, ``in``): a view on the column arrays, so no per-user dict is built."""

    __slots__ = ("_columns", "_i")

    def __init__(self, columns: dict[str, list], i: int):
        self._columns, self._i = columns, i

    def __getitem__(self, name: str):
        return self._columns[name][self._i]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)
