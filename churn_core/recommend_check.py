"""Hit rate at k of recommended items against what users really bought in [T, T+H).

Graded like the independent referee (``../shared/referee/recs.py``): among users who buy an
item in the window and bought one before T, the share whose window purchases include at
least one of their k recommended items. Two baselines are computed the same way: the k most
bought items overall before T, and the user's own k most bought items before T (ties to the
lower item id, as the referee's sort does).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from churn_core.events import PURCHASE, EventLog
from churn_core.recommend import (
    ItemRecommender,
    RecommenderParams,
    item_columns,
    item_events,
)

Recommender = Callable[[EventLog, pd.Timestamp, pd.Index, int], pd.DataFrame]
PROJECT = "project"
POPULAR = "baseline: most bought overall"
OWN = "baseline: own most bought"


def purchases(log: EventLog, start: pd.Timestamp | None, end: pd.Timestamp) -> pd.DataFrame:
    """(user_id, item_id) of purchase events with an item in ``[start, end)``, one row each."""
    f = log.frame
    t = f["timestamp"].to_numpy()
    keep = (f["event_type"].to_numpy() == PURCHASE) & f["item_id"].notna().to_numpy()
    keep &= t < np.datetime64(end)
    if start is not None:
        keep &= t >= np.datetime64(start)
    return f.loc[keep, ["user_id", "item_id"]]


def popular_overall(log: EventLog, as_of: pd.Timestamp, users: pd.Index, k: int) -> pd.DataFrame:
    """Baseline: the ``k`` most bought items (purchase rows) before ``as_of``, for everyone."""
    item_events(log, as_of)  # the same "no item column" error as the recommender
    counts = purchases(log, None, as_of)["item_id"].value_counts()
    ranked = counts.rename("n").reset_index().sort_values(["n", "item_id"], ascending=[False, True])
    top = ranked["item_id"].head(k).tolist()
    top += [None] * (k - len(top))
    return pd.DataFrame([top] * len(users), index=users, columns=item_columns(k), dtype="object")


def own_most_bought(log: EventLog, as_of: pd.Timestamp, users: pd.Index, k: int) -> pd.DataFrame:
    """Baseline: each user's own ``k`` most bought items (purchase rows) before ``as_of``."""
    item_events(log, as_of)
    p = purchases(log, None, as_of)
    p = p[p["user_id"].isin(users)]
    n = p.groupby(["user_id", "item_id"]).size().rename("n").reset_index()
    n = n.sort_values(["user_id", "n", "item_id"], ascending=[True, False, True])
    n["rank"] = n.groupby("user_id").cumcount()
    n = n[n["rank"] < k]
    grid = n.pivot(index="user_id", columns="rank", values="item_id").reindex(
        index=users, columns=range(k)
    )
    grid.columns = item_columns(k)
    return grid.astype("object").where(grid.notna(), None)


def hit_rate(recs: pd.DataFrame, bought: pd.DataFrame, users: pd.Index) -> float:
    """Share of ``users`` with at least one recommended item among their ``bought`` pairs."""
    if len(users) == 0:
        return float("nan")
    rec = (
        recs.reindex(users)
        .rename_axis("user_id")
        .reset_index()
        .melt(id_vars="user_id", value_name="item_id")
    )
    rec = rec.dropna(subset=["item_id"])[["user_id", "item_id"]].drop_duplicates()
    hits = rec.merge(bought.drop_duplicates(), on=["user_id", "item_id"])["user_id"].nunique()
    return hits / len(users)


def graded_users(log: EventLog, cutoff: pd.Timestamp, horizon_days: int) -> pd.Index:
    """Users who buy an item in ``[cutoff, cutoff + H)`` and bought one before ``cutoff``."""
    end = cutoff + pd.Timedelta(days=horizon_days)
    window = purchases(log, cutoff, end)["user_id"].unique()
    before = purchases(log, None, cutoff)["user_id"].unique()
    return pd.Index(np.sort(np.intersect1d(window, before)).astype(str), name="user_id")


def recommendation_check(
    log: EventLog,
    cutoff: pd.Timestamp,
    horizon_days: int,
    k: int = 5,
    params: RecommenderParams | None = None,
) -> pd.DataFrame:
    """Hit rate at ``k`` of the project recommender and both baselines, graded on
    ``[cutoff, cutoff + horizon_days)``: one row per recommender (``recommender``, ``users``,
    ``hit_rate_at_k``, ``seconds``). Every recommender sees events before ``cutoff`` only."""
    cutoff = pd.Timestamp(cutoff)
    users = graded_users(log, cutoff, horizon_days)
    bought = purchases(log, cutoff, cutoff + pd.Timedelta(days=horizon_days))
    bought = bought[bought["user_id"].isin(users)]
    history = log.before(cutoff)  # nothing at or after the cutoff reaches a recommender
    recommenders: list[tuple[str, Recommender]] = [
        (PROJECT, ItemRecommender(params).recommend),
        (POPULAR, popular_overall),
        (OWN, own_most_bought),
    ]
    rows = []
    for name, rec in recommenders:
        t0 = time.perf_counter()
        recs = rec(history, cutoff, users, k)
        rows.append(
            {
                "recommender": name,
                "users": len(users),
                f"hit_rate_at_{k}": hit_rate(recs, bought, users),
                "seconds": time.perf_counter() - t0,
            }
        )
    return pd.DataFrame(rows)
