"""A retention campaign over an out-of-core log (DuckDB or Spark), in bounded memory.

``campaign.build_campaign`` scores every user, plans, then explains and recommends items for
the listed users only. Here the same plan comes from three bounded passes over an
:class:`~churn_core.engine.source.EventSource`:

1. **scores** of every user: ``pipeline.score_users`` in batches of users (DuckDB), or
   given by the caller (``score_spark`` on the Spark executors); one narrow row per user;
2. **reasons and actions** of the listed users: SHAP as in memory, batch by batch of users,
   against the background ``sample_background`` draws from the whole table (sampled in a pass
   of its own when there is more than one batch, ``scoring.explained_batches``), keeping
   only reasons and factors;
3. **recommended items** of the listed users: every item's recent popularity over the whole
   log (one SQL ``GROUP BY``), then, chunk by chunk of the list, those users' item events (an
   SQL join) through the same recommender as in memory (``ItemRecommender.recommend_from``).

Memory: every user's score (one narrow row), the listed users' reasons and items as
``category`` columns (few distinct texts: ``list_reasons.ListReasons``), the list itself, and one
batch of users at a time (``engine.batch_users``) for SHAP and recommendations; the CLI
writes the list in chunks of rows (``CampaignPlan.write``). At 50M events (1.9M listed
users): docs/sections/campaign-mem.md.

The plan equals the in-memory one, whatever the batch size: ``tests/core/test_engine_campaign.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from churn_core.campaign import (
    N_ITEMS,
    CampaignPlan,
    campaign_metadata,
    plan_campaign,
)
from churn_core.config import ChurnConfig
from churn_core.engine import sql
from churn_core.engine.scoring import explained_batches
from churn_core.engine.source import EventSource
from churn_core.errors import EventDataError
from churn_core.events import CANCEL_EVENTS, PURCHASE
from churn_core.explain import explain_model
from churn_core.list_reasons import ListReasons
from churn_core.recommend import ItemRecommender

logger = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
_LISTED = "campaign_listed_users"


def build_source_campaign(
    model,
    config: ChurnConfig,
    source: EventSource,
    as_of: pd.Timestamp,
    metadata: dict[str, str] | None = None,
    progress: Progress | None = None,
    scores: pd.DataFrame | None = None,
) -> CampaignPlan:
    """``campaign.build_campaign`` for an out-of-core ``source``; ``scores`` (``score_frame``
    columns, every user) when they were computed elsewhere, e.g. on Spark executors."""
    say = progress or (lambda stage, frac: None)
    as_of = pd.Timestamp(as_of)
    hist = source.before(as_of)
    if scores is None:
        from churn_core.pipeline import score_users

        say("scoring every user in batches", 0.2)
        scores, _ = score_users(model, hist, as_of, config)
    meta = campaign_metadata(config, as_of, metadata)
    listed = pd.Index(plan_campaign(scores, config.campaign, metadata=meta).users["user_id"])
    explanation = recs = None
    if len(listed):
        say(f"explaining the {len(listed):,} listed users (reasons, actions)", 0.5)
        explanation = explain_listed(model, hist, as_of, config, listed)
        if hist.has_items:
            say("recommending items", 0.8)
            recs = recommend_listed(hist, as_of, listed, config.engine.batch_users)
    plan = plan_campaign(
        scores, config.campaign, explanation=explanation, recommendations=recs, metadata=meta
    )
    say("done", 1.0)
    return plan


def explain_listed(
    model, source: EventSource, as_of: pd.Timestamp, config: ChurnConfig, listed: pd.Index
) -> ListReasons:
    """Reasons and the factors behind them for the ``listed`` users, batch by batch of users.

    The SHAP background is ``sample_background`` of the whole table, as in memory
    (``scoring.explained_batches``). Only reasons and factors are kept (no SHAP matrix, no
    feature rows); texts as ``category`` columns (``ListReasons``).
    """
    parts = []
    for users, X, background in explained_batches(model, source, as_of, config):
        keep = listed.get_indexer(users) >= 0
        if keep.any():
            ids = pd.Index(users[keep])
            part = explain_model(model, X.loc[keep].reset_index(drop=True), ids, background)
            parts.append(ListReasons.of(part))
    found = ListReasons.concat(parts) if parts else None
    missing = listed if found is None else listed.difference(found.reasons.index)
    if found is None or len(missing):
        raise EventDataError(
            [
                f"{len(missing):,} listed users (e.g. {missing[0]}) have no events before "
                f"{as_of:%Y-%m-%d}: the scores do not come from this log. Score and plan "
                "from the same event log."
            ]
        )
    return found


def recommend_listed(
    source: EventSource, as_of: pd.Timestamp, listed: pd.Index, chunk_users: int = 50_000
) -> pd.DataFrame:
    """Up to ``N_ITEMS`` items per listed user, as ``recommend.recommend_items`` gives them on
    the whole log in memory: every item's recent popularity (one ``GROUP BY``), then the
    listed users' own item events, ``chunk_users`` users at a time."""
    recommender = ItemRecommender()
    cutoff = sql.cutoff_us(as_of)
    half_life_us = recommender.params.popular_half_life_days * sql.US_PER_DAY
    weights = source.engine.frame(
        f"SELECT item_id, SUM(POWER(2.0, -CAST({cutoff} - ts_us AS DOUBLE) / {half_life_us})) "
        f"AS w FROM {source.events} WHERE item_id IS NOT NULL AND event_type = "
        f"{sql.quote(PURCHASE)} AND ts_us < {cutoff} GROUP BY item_id"
    )
    popularity = weights.set_index(weights["item_id"].astype(str))["w"]
    columns = ["user_id", "ts_us", "event_type", "item_id"]
    columns += ["category"] if source.has_categories else []
    parts = []
    for chunk in _chunks(listed, chunk_users):
        source.engine.register(_LISTED, pd.DataFrame({"user_id": chunk.to_numpy(dtype=object)}))
        try:
            ev = source.engine.frame(
                f"SELECT {', '.join('e.' + c for c in columns)} "
                f"FROM {source.events} e JOIN {_LISTED} l ON e.user_id = l.user_id "
                f"WHERE e.item_id IS NOT NULL AND NOT ({sql.is_cancel('e.event_type')}) "
                f"AND e.ts_us < {cutoff}"
            )
        finally:
            source.engine.unregister(_LISTED)
        ev.insert(1, "timestamp", pd.to_datetime(ev.pop("ts_us"), unit="us"))
        ev["user_id"] = ev["user_id"].astype(str)
        parts.append(recommender.recommend_from(ev, as_of, list(chunk), N_ITEMS, popularity))
    logger.info(
        "recommended items to %d listed users from %d items' popularity (cancellations %s "
        "excluded)",
        len(listed),
        len(popularity),
        sorted(CANCEL_EVENTS),
    )
    return pd.concat(parts)


def _chunks(index: pd.Index, size: int):
    for start in range(0, len(index), max(1, int(size))):
        yield index[start : start + size]
