"""Scoring a saved model over an event source in batches of users, written incrementally.

Memory is bounded by the batch size, not by the log: each batch of users gets its
features (``EventSource.scoring_batches``), probabilities and reasons, and goes to a
Parquet part on disk; the engine then ranks every user (risk tiers and percentiles need
all probabilities) and the export is written chunk by chunk, riskiest first. The file is
the one ``churn score`` writes for an in-memory log: same columns, same order, same
formula-safe cells (``churn_core.export``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from churn_core.config import ChurnConfig
from churn_core.engine.source import EventSource
from churn_core.errors import EventDataError
from churn_core.export import write_export_chunks
from churn_core.targets import risk_tier, tier_cuts, user_scores

logger = logging.getLogger(__name__)

Progress = Callable[[str, float], None]


def score_to_file(
    model,
    source: EventSource,
    as_of: pd.Timestamp,
    config: ChurnConfig,
    path: str | Path,
    metadata: Mapping[str, object] | None = None,
    raw: bool = False,
    progress: Progress | None = None,
) -> tuple[Path, int]:
    """Score every user with an event before ``as_of``; write ``path`` (CSV, or XLSX).

    Reasons (``reason_1..``) are explained against the background ``explain.
    sample_background`` draws from the whole table, as in memory: with more than one batch
    of users it is sampled in a first pass (``BackgroundSample``). Returns the path and the
    number of users written.
    """
    say = progress or (lambda stage, frac: None)
    as_of = pd.Timestamp(as_of)
    where = config.engine.temp_directory
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
    spill = tempfile.mkdtemp(prefix="churn_scores_", dir=where)
    try:
        n = _score_parts(model, source, as_of, config, Path(spill), say)
        if n == 0:
            raise EventDataError([f"No events before {as_of:%Y-%m-%d}: there is nobody to score."])
        say("ranking every user", 0.9)
        chunks = _ranked(source, Path(spill), n, config)
        out = write_export_chunks(chunks, path, metadata, raw)
        logger.info("wrote %s", out)
        return out, n
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def _score_parts(
    model, source: EventSource, as_of: pd.Timestamp, config: ChurnConfig, spill: Path, say
) -> int:
    from churn_core.explain import explain_model

    horizon = config.label.horizon_days
    n = 0
    batches = explained_batches(model, source, as_of, config, say)
    for i, (users, X, background) in enumerate(batches):
        prob = model.predict_proba(X)
        part = user_scores(users, prob, X, horizon, source.has_amount)
        reasons = explain_model(model, X, pd.Index(users), background).reasons
        reasons.index = reasons.index.astype(str)
        part = part.join(reasons, on="user_id")
        part.to_parquet(spill / f"part-{i:06d}.parquet", index=False)
        n += len(part)
        say(f"scored {n:,} users", 0.1 + 0.8 * min(1.0, n / max(source.n_users, 1)))
    return n


def explained_batches(
    model,
    source: EventSource,
    as_of: pd.Timestamp,
    config: ChurnConfig,
    progress: Progress | None = None,
) -> Iterator[tuple[np.ndarray, pd.DataFrame, pd.DataFrame]]:
    """(user ids, model input, SHAP background) per batch of users, ids in order in a batch.

    The background is ``explain.sample_background`` of the whole table, as in memory: the
    first batch when it holds everyone, else drawn in a pass of its own over every batch
    (``explain.BackgroundSample``).
    """
    from churn_core.explain import BackgroundSample, sample_background

    background = None
    if source.n_users > config.engine.batch_users:  # several batches: sample everyone first
        if progress:
            progress("sampling the background of the reasons", 0.05)
        sample = BackgroundSample()
        for _, X in _user_batches(model, source, as_of, config):
            sample.add(X)
        background = sample.frame()
    for users, X in _user_batches(model, source, as_of, config):
        if background is None:  # one batch: it is the whole table
            background = sample_background(X)
        yield users, X, background


def _user_batches(model, source: EventSource, as_of: pd.Timestamp, config: ChurnConfig):
    batches = source.scoring_batches(
        as_of,
        model.event_types,
        config.label.horizon_days,
        rows=config.engine.batch_users,
        max_events=model.max_events,
    )
    for table in batches:
        order = np.argsort(table.user_id.astype(str), kind="stable")
        yield table.user_id.astype(str)[order], table.X.iloc[order].reset_index(drop=True)


def _ranked(source: EventSource, spill: Path, n: int, config: ChurnConfig):
    """Chunks of the final list, riskiest first: tiers and percentiles over every user."""
    parts = f"read_parquet('{spill.as_posix()}/part-*.parquet')"
    prob = source.engine.frame(f"SELECT churn_probability FROM {parts} ORDER BY user_id")
    cuts = tier_cuts(prob["churn_probability"].to_numpy(), config.targeting)
    del prob
    ranked = (
        f"SELECT *, COUNT(*) OVER (ORDER BY churn_probability) AS rank_max__ FROM {parts} "
        "ORDER BY churn_probability DESC, user_id"
    )
    for chunk in source.engine.batches(ranked, config.engine.batch_users):
        p = chunk["churn_probability"].to_numpy(dtype=float)
        out = pd.DataFrame({"user_id": chunk["user_id"].astype(str), "churn_probability": p})
        out["risk_tier"] = risk_tier(p, cuts)
        out["percentile"] = chunk["rank_max__"].to_numpy(dtype=float) / n * 100
        rest = [c for c in chunk.columns if c not in ("user_id", "churn_probability", "rank_max__")]
        for col in rest:
            out[col] = chunk[col].to_numpy()
        yield out
