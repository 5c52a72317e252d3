"""Distributed scoring with a saved bundle: ``mapInPandas`` over the shared SQL aggregates.

Each executor loads the bundle (the same files as locally: ``churn_core.bundle``) from its
path once per Python worker and, per Arrow batch, runs :func:`~churn_core.engine.derive.
derive_features` with the BG/NBD parameters fitted on the driver, ``model.predict_proba``
and, optionally, reasons that need no SHAP (see :func:`occlusion_contributions`).

Where the bundle goes: a path every executor can read (a shared file system, the same path
on every node), or shipped with ``spark-submit --files`` / ``SparkContext.addFile(dir,
recursive=True)``: when the path does not exist on an executor, its folder name is looked up
with ``SparkFiles.get``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churn_core.config import TargetingConfig
from churn_core.engine.derive import derive_features
from churn_core.engine.spark_tables import SEQUENCE_EVENTS, SEQUENCE_FIELDS
from churn_core.errors import ModelBundleError
from churn_core.reasons import NEVER_REASONS, REASON_COLUMNS, top_reasons
from churn_core.table import SEQUENCE_COLUMN
from churn_core.targets import score_frame

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from churn_core.model import ChurnModel

log = logging.getLogger(__name__)

# the features score_frame reads (days since last event, value at risk)
SCORE_FEATURES = ("recency_days", "monetary", "tenure_days")
_BUNDLES: dict[str, Any] = {}  # per Python worker: bundle path -> ChurnModel


def resolve_bundle(model_dir: str) -> Path:
    """The bundle folder on this machine: the path itself, the copy ``addFile`` shipped
    (``SparkFiles.get``), or the folder ``--archives x.zip#name`` unpacked in the working dir."""
    path = Path(model_dir)
    candidates = [path]
    try:
        from pyspark import SparkFiles

        candidates.append(Path(SparkFiles.get(path.name)))
    except Exception:  # no SparkContext on this process, or nothing shipped
        pass
    candidates.append(Path.cwd() / path.name)
    for candidate in candidates:
        if (candidate / "bundle.json").is_file():
            return candidate
    raise ModelBundleError(
        f"The model bundle {model_dir} is not readable on this machine ({os.uname().nodename}). "
        "Put it on a path every executor can read, or ship it with spark-submit --archives "
        f"{path.name}.zip#{path.name} (or SparkContext.addFile(dir, recursive=True))."
    )


def bundle_model(model_dir: str) -> ChurnModel:
    """The bundle's model, loaded once per Python worker process."""
    if model_dir not in _BUNDLES:
        from churn_core.bundle import load_model

        _BUNDLES[model_dir] = load_model(resolve_bundle(model_dir))[0]
    return _BUNDLES[model_dir]


def occlusion_contributions(
    model: ChurnModel, X: pd.DataFrame, reference: pd.Series
) -> pd.DataFrame:
    """Per user and feature: the raw score minus the raw score with that feature set to the
    ``reference`` value (a typical user). No SHAP, no background beyond one row, any model.

    For an additive score (the default blend: splines and linear terms per feature) this is
    exactly the SHAP value against a one-row background at ``reference``. Columns without a
    reference value (the event sequence of an encoder model) give no reason.
    """
    base = model.raw(X)
    out = {}
    for col in X.columns:
        if col in NEVER_REASONS or col not in reference.index:  # e.g. the event sequence
            continue
        moved = X.copy()
        moved[col] = reference[col]
        out[col] = base - model.raw(moved)
    return pd.DataFrame(out, index=X.index)


def batch_sequences(
    batch: pd.DataFrame, as_of: pd.Timestamp, max_events: int, with_category: bool
) -> np.ndarray:
    """The encoder's sequences of a batch's users from their ``SEQUENCE_EVENTS`` arrays,
    as ``EventSource.sequences`` builds them from the same rows on one machine."""
    from churn_core.sequences import build_sequences

    users = batch["user_id"].astype(str).to_numpy()
    lists = [[] if v is None else list(v) for v in batch[SEQUENCE_EVENTS]]
    ev = pd.DataFrame.from_records(
        [dict(e) for v in lists for e in v], columns=list(SEQUENCE_FIELDS)
    )
    ev.insert(0, "user_id", np.repeat(users, [len(v) for v in lists]))
    # the lines of one merged event in category order, as the SQL orders them for DuckDB
    ev = ev.sort_values(
        ["user_id", "ts_us", "event_type", "category"], na_position="last", kind="stable"
    )
    ev.insert(1, "timestamp", pd.to_datetime(ev.pop("ts_us"), unit="us"))
    seq = build_sequences(ev, as_of, pd.Index(users), max_events, with_category)
    return seq.to_numpy()


def _one_torch_thread_per_task() -> None:
    """An encoder on an executor uses the task's cores, not every core of the machine."""
    import torch
    from pyspark import TaskContext

    ctx = TaskContext.get()
    torch.set_num_threads(max(1, ctx.cpus() if ctx is not None else 1))


def score_partitions(
    raw: DataFrame,
    model_dir: str,
    event_types: tuple[str, ...],
    log_start: pd.Timestamp | None,
    horizon_days: float,
    bgnbd_params: Mapping[int, Any],
    reference: pd.Series | None = None,
    sequences: tuple[pd.Timestamp, int, bool] | None = None,
) -> DataFrame:
    """``raw`` aggregates -> (user_id, churn_probability, SCORE_FEATURES[, reason_1..3]),
    distributed: one ``mapInPandas`` task per partition, the bundle loaded on the executor.

    ``sequences`` (as-of time, max events, with categories) for a bundle with a sequence
    encoder: ``raw`` then carries ``SEQUENCE_EVENTS`` (``spark_tables.with_sequence_events``)
    and each executor embeds its users' sequences with the bundle's encoder.
    """
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    fields = [StructField("user_id", StringType()), StructField("churn_probability", DoubleType())]
    fields += [StructField(c, DoubleType()) for c in SCORE_FEATURES]
    if reference is not None:
        fields += [StructField(c, StringType()) for c in REASON_COLUMNS]
    params = dict(bgnbd_params)
    ref = None if reference is None else reference.copy()

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = bundle_model(model_dir)
        if sequences is not None:
            _one_torch_thread_per_task()
        for batch in batches:
            if batch.empty:
                continue
            aggregates = batch.drop(columns=[SEQUENCE_EVENTS], errors="ignore")
            X = derive_features(aggregates, event_types, log_start, horizon_days, params)
            X = X.reset_index(drop=True)
            if sequences is not None:
                X[SEQUENCE_COLUMN] = batch_sequences(batch, *sequences)
            out = pd.DataFrame(
                {
                    "user_id": batch["user_id"].astype(str).to_numpy(),
                    "churn_probability": model.predict_proba(X),
                }
            )
            for c in SCORE_FEATURES:
                out[c] = X[c].to_numpy()
            if ref is not None:
                values = occlusion_contributions(model, X, ref)
                reasons = top_reasons(values, X)
                for c in REASON_COLUMNS:
                    out[c] = reasons[c].to_numpy()
            yield out

    return raw.mapInPandas(score, StructType(fields))


def finish_scores(
    scored: pd.DataFrame, targeting: TargetingConfig, horizon_days: int, has_amount: bool
) -> pd.DataFrame:
    """Collected per-user scores -> ``targets.score_frame`` (tiers and percentiles need every
    user's probability), with the reason columns when present; riskiest first."""
    scored = scored.sort_values("user_id", kind="stable").reset_index(drop=True)
    out = score_frame(
        scored["user_id"].to_numpy(),
        scored["churn_probability"].to_numpy(),
        scored[list(SCORE_FEATURES)],
        targeting,
        horizon_days,
        has_amount,
    )
    reason_cols = [c for c in REASON_COLUMNS if c in scored]
    if reason_cols:
        out = out.merge(scored[["user_id", *reason_cols]], on="user_id", how="left")
    return out


def reference_row(X: pd.DataFrame) -> pd.Series:
    """The typical user the reasons compare with: the median of every feature."""
    return X.median(numeric_only=True).astype(np.float64)
