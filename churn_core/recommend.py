"""Recommended items per user from the events before the as-of time (vectorised, sparse).

Every (user, item) candidate gets one blended score from what the log shows before ``as_of``.
On by default (chosen by hit rate at 5 on training cutoffs, see ``docs/recommendations.md``):

* the user's own purchases of the item (counts; ``purchase_half_life_days`` can decay them,
  which measured worse),
* views (weight 0.5), carts and favourites (weight 2) of the item, decayed with a 7-day
  half-life, whether or not the item was bought already,
* recent global popularity (30-day half-life), added to every candidate, so the user's own
  items are ranked by what sells now, and offered to everyone, so short lists are filled.

Off by default (measured no better, kept as options): a repeat-purchase "due again" bonus,
co-bought items (item-item cosine co-occurrence), popular items in the user's favourite
categories.

The weights are in :class:`RecommenderParams`; the defaults were tuned on training cutoffs
earlier than every evaluation cutoff quoted in ``docs/recommendations.md``.
Items are the log's ``item_id`` (Tmall: brands; UCI retail: StockCode); purchases are
``event_type == "purchase"`` rows, so order-line logs count non-cancelled invoice lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from churn_core.errors import EventDataError
from churn_core.events import CANCEL_EVENTS, PURCHASE, EventLog

INTENT_EVENTS = frozenset({"cart", "favorite"})  # stronger than a view
DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class RecommenderParams:
    """Weights of the blended candidate score (see the module docstring)."""

    purchase_half_life_days: float = float("inf")  # measured: any decay lost on retail
    weight_due: float = 0.0
    weight_view: float = 0.5
    weight_intent: float = 2.0
    view_half_life_days: float = 7.0
    views_of_bought_items: bool = True  # also count views of items the user already bought
    purchase_days: bool = False  # count a user's purchases of an item once per day
    weight_co: float = 0.0
    co_neighbours: int = 20
    weight_category: float = 0.0
    weight_popular: float = 0.3
    popular_half_life_days: float = 30.0
    popular_on_candidates: bool = True  # also rank the user's own candidates by popularity


def item_columns(k: int) -> list[str]:
    """``recommended_item_1`` … ``recommended_item_k``."""
    return [f"recommended_item_{j}" for j in range(1, k + 1)]


def recommend_items(
    log: EventLog, as_of: pd.Timestamp, user_ids: Sequence[str], k: int = 5
) -> pd.DataFrame:
    """Up to ``k`` recommended items for each user, from events strictly before ``as_of``.

    Returns a frame indexed by ``user_id`` (str, in the order given) with columns
    ``recommended_item_1..k`` (item ids as str; None where fewer than ``k`` items exist).
    Users without history get the most popular recent items. Raises
    :class:`EventDataError` when the log has no item column.
    """
    return ItemRecommender().recommend(log, as_of, user_ids, k)


class ItemRecommender:
    """The blended recommender with explicit parameters (``recommend_items`` uses defaults)."""

    def __init__(self, params: RecommenderParams | None = None):
        self.params = params or RecommenderParams()

    def recommend(
        self, log: EventLog, as_of: pd.Timestamp, user_ids: Sequence[str], k: int = 5
    ) -> pd.DataFrame:
        """See :func:`recommend_items`."""
        return self.recommend_from(item_events(log, as_of), as_of, user_ids, k)

    def recommend_from(
        self,
        ev: pd.DataFrame,
        as_of: pd.Timestamp,
        user_ids: Sequence[str],
        k: int = 5,
        purchase_weights: pd.Series | None = None,
    ) -> pd.DataFrame:
        """:meth:`recommend` on ``item_events``' rows. ``purchase_weights`` (index: item id):
        every item's decayed purchases over the whole log, when ``ev`` holds only the listed
        users' events (see ``scores``)."""
        if k < 1:
            raise ValueError(f"k must be at least 1 (got {k}).")
        users = pd.Index(pd.Series(list(user_ids), dtype="object").astype(str), name="user_id")
        ids = ev["item_id"].to_numpy(dtype=str)
        if purchase_weights is not None:
            ids = np.concatenate([ids, purchase_weights.index.to_numpy(dtype=str)])
        items = pd.Index(np.unique(ids))
        if items.empty:
            grid = np.full((len(users), k), None, dtype=object)
            return pd.DataFrame(grid, index=users, columns=item_columns(k))
        weights = None
        if purchase_weights is not None:
            weights = purchase_weights.set_axis(purchase_weights.index.astype(str))
            weights = weights.reindex(items, fill_value=0.0).to_numpy(dtype=np.float64)
        unique = users.unique() if users.has_duplicates else users
        scores = self.scores(ev, pd.Timestamp(as_of), unique, items, k, weights)
        out = top_k_frame(scores, unique, items, k)
        return out.reindex(users) if users.has_duplicates else out

    def scores(
        self,
        ev: pd.DataFrame,
        as_of: pd.Timestamp,
        users: pd.Index,
        items: pd.Index,
        k: int = 5,
        purchase_weights: np.ndarray | None = None,
    ) -> sp.csr_matrix:
        """Blended candidate scores, users × items (sparse; absent = not a candidate).

        ``purchase_weights`` (aligned with ``items``): every item's decayed purchase count
        over the whole log (``popularity_weights``), when ``ev`` holds only some users'
        events (an out-of-core log: ``churn_core.engine.campaign``); by default it is
        computed from ``ev``."""
        p = self.params
        u = users.get_indexer(ev["user_id"])
        i = items.get_indexer(ev["item_id"])
        age = (np.datetime64(as_of) - ev["timestamp"].to_numpy()) / DAY
        etype = ev["event_type"].to_numpy()
        bought = etype == PURCHASE
        shape = (len(users), len(items))

        once = bought
        if p.purchase_days:
            day = np.floor(age)
            key = pd.DataFrame({"u": u, "i": i, "d": day, "b": bought})
            once = bought & ~key.duplicated().to_numpy()
        own = _decayed(u, i, age, once, p.purchase_half_life_days, shape)
        total = own.copy()
        if p.weight_due:
            total = total + p.weight_due * _due(u, i, age, bought, shape)
        if p.weight_view or p.weight_intent:
            w = np.where(np.isin(etype, list(INTENT_EVENTS)), p.weight_intent, p.weight_view)
            seen = _decayed(u, i, age, ~bought & (w > 0), p.view_half_life_days, shape, w)
            # interest not yet converted: drop items already bought
            if not p.views_of_bought_items:
                seen = seen - seen.multiply(own > 0)
            total = total + seen
        if p.weight_co:
            total = total + p.weight_co * _co_bought(ev, bought, items, own, p.co_neighbours)
        if p.weight_category and "category" in ev and ev["category"].notna().any():
            total = total + p.weight_category * _category_popular(ev, bought, u, i, age, shape)
        total = sp.csr_matrix(total)
        total.eliminate_zeros()
        if p.weight_popular:
            if purchase_weights is None:
                purchase_weights = popularity_weights(i, age, bought, shape[1], p)
            w = np.asarray(purchase_weights, dtype=np.float64)
            pop = w / w.max() if w.any() else w  # recent popularity, scaled to a maximum of 1
            fallback = _popular(pop, shape[0], k)  # more could never reach a top k
            if p.popular_on_candidates:  # recent popularity also ranks the user's own items
                fallback = fallback - fallback.multiply(total != 0)
                trend = total.copy()
                trend.data = pop[trend.indices]
                fallback = fallback + trend
            total = total + p.weight_popular * fallback
            total.eliminate_zeros()
        return total


def item_events(log: EventLog, as_of: pd.Timestamp) -> pd.DataFrame:
    """The log's events with an item, strictly before ``as_of``, without cancellations."""
    if not log.has_items:
        raise EventDataError(
            [
                "The event log has no item column, so items cannot be recommended. "
                "Name the item/product column with --item-col (or item_col in the [schema] "
                "table of the config)."
            ]
        )
    f = log.before(pd.Timestamp(as_of)).frame
    keep = f["item_id"].notna().to_numpy() & ~f["event_type"].isin(CANCEL_EVENTS).to_numpy()
    cols = ["user_id", "timestamp", "event_type", "item_id"]
    if "category" in f:
        cols.append("category")
    return f.loc[keep, cols]


def _decayed(
    u: np.ndarray,
    i: np.ndarray,
    age: np.ndarray,
    mask: np.ndarray,
    half_life: float,
    shape: tuple[int, int],
    weight: np.ndarray | None = None,
) -> sp.csr_matrix:
    """Sum over the masked events of ``weight · 2^(-age / half_life)``, per (user, item)."""
    m = mask & (u >= 0)
    w = np.exp2(-age[m] / half_life)
    if weight is not None:
        w = w * weight[m]
    return sp.csr_matrix((w, (u[m], i[m])), shape=shape)


def _due(
    u: np.ndarray, i: np.ndarray, age: np.ndarray, bought: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """Repeat-cycle bonus in (0, 1]: peaks when the time since the last purchase of an item
    equals the user's usual gap between purchase days of it (items bought on >= 2 days)."""
    m = bought & (u >= 0)
    if not m.any():
        return sp.csr_matrix(shape)
    d = pd.DataFrame({"u": u[m], "i": i[m], "day": np.floor(age[m])}).drop_duplicates()
    g = d.groupby(["u", "i"], sort=False)["day"].agg(["min", "max", "size"])
    g = g[g["size"] >= 2]
    gap = (g["max"] - g["min"]) / (g["size"] - 1)  # days between purchase days
    since = g["min"] + 0.5
    ratio = np.log((since + 1) / (gap + 1))
    bonus = np.exp(-np.abs(ratio.to_numpy()))
    idx = g.index.to_frame(index=False)
    return sp.csr_matrix((bonus, (idx["u"].to_numpy(), idx["i"].to_numpy())), shape=shape)


def _co_bought(
    ev: pd.DataFrame, bought: np.ndarray, items: pd.Index, own: sp.csr_matrix, neighbours: int
) -> sp.csr_matrix:
    """Items bought by the same customers as the user's own (cosine item-item, top
    ``neighbours`` per item), weighted by the user's share of decayed purchases."""
    buyers = pd.Index(pd.unique(ev["user_id"].to_numpy()[bought]))
    if buyers.empty:
        return sp.csr_matrix(own.shape)
    bu = buyers.get_indexer(ev["user_id"].to_numpy()[bought])
    bi = items.get_indexer(ev["item_id"].to_numpy()[bought])
    b = sp.csr_matrix((np.ones(len(bu)), (bu, bi)), shape=(len(buyers), len(items)))
    b.data[:] = 1.0  # who bought what, once
    co = (b.T @ b).tocsr()
    n = np.asarray(b.sum(axis=0)).ravel()
    co.setdiag(0)
    co.eliminate_zeros()
    co = sp.diags(1 / np.sqrt(np.maximum(n, 1))) @ co @ sp.diags(1 / np.sqrt(np.maximum(n, 1)))
    co = _top_per_row(sp.csr_matrix(co), neighbours)
    share = sp.diags(1 / np.maximum(np.asarray(own.sum(axis=1)).ravel(), 1e-12)) @ own
    return sp.csr_matrix(share @ co)


def _category_popular(
    ev: pd.DataFrame,
    bought: np.ndarray,
    u: np.ndarray,
    i: np.ndarray,
    age: np.ndarray,
    shape: tuple[int, int],
    per_category: int = 10,
    top_categories: int = 3,
) -> sp.csr_matrix:
    """Popular items (top ``per_category`` bought) in the user's ``top_categories`` most
    engaged categories, weighted by the user's share of events among them."""
    cat = ev["category"].to_numpy()
    has = pd.notna(cat)
    cats, c = np.unique(cat[has].astype(str), return_inverse=True)
    ci = np.full(len(cat), -1)
    ci[has] = c
    m = has & (u >= 0)
    uc = sp.csr_matrix((np.ones(m.sum()), (u[m], ci[m])), shape=(shape[0], len(cats)))
    uc = _top_per_row(uc, top_categories)  # the user's favourite categories only
    uc = sp.diags(1 / np.maximum(np.asarray(uc.sum(axis=1)).ravel(), 1e-12)) @ uc
    mb = has & bought
    item_cat = sp.csr_matrix((np.ones(mb.sum()), (ci[mb], i[mb])), shape=(len(cats), shape[1]))
    item_cat = _top_per_row(item_cat, per_category)
    top = np.asarray(item_cat.max(axis=1).todense()).ravel()
    item_cat = sp.diags(1 / np.maximum(top, 1e-12)) @ item_cat
    return sp.csr_matrix(uc @ item_cat)


def popularity_weights(
    i: np.ndarray, age: np.ndarray, bought: np.ndarray, n_items: int, params: RecommenderParams
) -> np.ndarray:
    """Every item's purchases, each weighted ``2^(-age / popular_half_life_days)``."""
    weights = np.exp2(-age[bought] / params.popular_half_life_days)
    return np.bincount(i[bought], weights=weights, minlength=n_items)


def _popular(pop: np.ndarray, n_users: int, n: int) -> sp.csr_matrix:
    """The ``n`` most popular items as candidates for every user (value: their popularity)."""
    top = np.argsort(-pop, kind="stable")[:n]
    top = top[pop[top] > 0]
    rows = np.repeat(np.arange(n_users), len(top))
    cols = np.tile(top, n_users)
    shape = (n_users, len(pop))
    return sp.csr_matrix((np.tile(pop[top], n_users), (rows, cols)), shape=shape)


def _top_per_row(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep the ``n`` largest entries of each row (ties: lower column first)."""
    coo = m.tocoo()
    order = np.lexsort((coo.col, -coo.data, coo.row))
    row, col, data = coo.row[order], coo.col[order], coo.data[order]
    rank = _rank_in_group(row)
    keep = rank < n
    return sp.csr_matrix((data[keep], (row[keep], col[keep])), shape=m.shape)


def _rank_in_group(sorted_keys: np.ndarray) -> np.ndarray:
    """0, 1, 2 … within runs of equal values of an already-sorted array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    idx = np.arange(len(sorted_keys))
    return idx - np.maximum.accumulate(np.where(start, idx, 0))


def top_k_frame(scores: sp.csr_matrix, users: pd.Index, items: pd.Index, k: int) -> pd.DataFrame:
    """The ``k`` best-scored items per user as ``recommended_item_1..k`` (None where fewer).

    Ties go to the lower item id (string order), like the referee's own-items baseline.
    """
    top = _top_per_row(scores, k).tocoo()
    order = np.lexsort((top.col, -top.data, top.row))
    row, col = top.row[order], top.col[order]
    rank = _rank_in_group(row)
    grid = np.full((len(users), k), None, dtype=object)
    grid[row, rank] = items.to_numpy(dtype=object)[col]
    out = pd.DataFrame(grid, index=users, columns=item_columns(k))
    out.index.name = "user_id"
    return out
