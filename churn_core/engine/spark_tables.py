"""Training and scoring tables on Spark: the shared SQL text run with ``spark.sql``.

Labels come from :func:`churn_core.engine.sql.labels_sql`, the per-(user, cutoff) aggregates
from :func:`churn_core.engine.sql.aggregates_sql` — the very strings DuckDB runs — and the
model's feature columns from :func:`churn_core.engine.derive.derive_features`. Only the
training table is collected to the driver (via Arrow), bounded by ``max_rows``: beyond it a
deterministic sample of whole users (a hash of the user id) is kept.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churn_core.config import LabelSpec
from churn_core.engine.derive import derive_features, fit_bgnbd_params
from churn_core.engine.sql import aggregates_sql, labels_sql, population_sql
from churn_core.table import FeatureTable

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from churn_core.engine.spark import SparkEvents

log = logging.getLogger(__name__)

LABELS_VIEW = "churn_labels"
POPULATION_VIEW = "churn_population"
SAMPLE_BUCKETS = 1_000_000  # user sample resolution: xxhash64(user_id, seed) mod this
BGNBD_COLUMNS = ("user_id", "cutoff_us", "recency_days", "tenure_days", "active_days")


def _sampled_users(frame: DataFrame, max_rows: int | None, n_rows: int, seed: int) -> DataFrame:
    """``frame`` (one row per user-cutoff) with whole users kept so that about ``max_rows``
    rows remain; unchanged when it is small enough."""
    from pyspark.sql import functions as sf

    if max_rows is None or n_rows <= max_rows:
        return frame
    keep = int(SAMPLE_BUCKETS * max_rows / n_rows)
    bucket = sf.pmod(sf.xxhash64(sf.col("user_id"), sf.lit(seed)), sf.lit(SAMPLE_BUCKETS))
    log.info("training table: %d rows, keeping whole users for about %d", n_rows, max_rows)
    return frame.where(bucket < keep)


def labels_frame(events: SparkEvents, spec: LabelSpec, cutoffs: list[pd.Timestamp]) -> DataFrame:
    """(user_id, cutoff_us, churned) for every cutoff: ``labels_sql`` on Spark."""
    return events.sql(labels_sql(spec, cutoffs))


def training_table(
    events: SparkEvents,
    spec: LabelSpec,
    cutoffs: list[pd.Timestamp],
    event_types: tuple[str, ...],
    log_start: pd.Timestamp | None,
    max_rows: int | None = None,
    seed: int = 0,
) -> FeatureTable:
    """Labelled feature rows of every cutoff (newest first, users in order), on the driver.

    The same rows, order and values as the local ``table.training_table`` when nothing is
    sampled (``max_rows`` None or not reached).
    """
    if not cutoffs:
        return FeatureTable(pd.DataFrame(), np.array([], dtype=np.int8), np.array([]), np.array([]))
    labels = labels_frame(events, spec, cutoffs)
    labels = _sampled_users(labels, max_rows, labels.count() if max_rows else 0, seed)
    labels.createOrReplaceTempView(LABELS_VIEW)
    raw = events.sql(aggregates_sql(LABELS_VIEW, event_types, order=False))
    joined = raw.join(labels, ["user_id", "cutoff_us"]).orderBy(
        raw["cutoff_us"].desc(), raw["user_id"]
    )
    pdf = joined.toPandas()
    if pdf.empty:
        return FeatureTable(pd.DataFrame(), np.array([], dtype=np.int8), np.array([]), np.array([]))
    X = derive_features(pdf, event_types, log_start, spec.horizon_days)
    return FeatureTable(
        X.reset_index(drop=True),
        pdf["churned"].to_numpy(dtype=np.int8),
        pdf["user_id"].to_numpy(dtype=object),
        _cutoffs(pdf["cutoff_us"]),
    )


def _cutoffs(us: pd.Series) -> np.ndarray:
    return pd.to_datetime(us.to_numpy(dtype=np.int64), unit="us").to_numpy()


def scoring_aggregates(
    events: SparkEvents, as_of: pd.Timestamp, event_types: tuple[str, ...]
) -> DataFrame:
    """Raw aggregates (not derived yet) of every user active before ``as_of``: a Spark frame.

    ``events`` must already end before ``as_of`` (``SparkEvents.before``); the population
    is ``table.scoring_table``'s: anyone with a non-cancel event before ``as_of``.
    """
    pop = events.sql(population_sql(LabelSpec(), [as_of]))
    pop.createOrReplaceTempView(POPULATION_VIEW)
    return events.sql(aggregates_sql(POPULATION_VIEW, event_types, order=False))


def scoring_bgnbd(raw: DataFrame, max_users: int | None = None, seed: int = 0) -> dict:
    """BG/NBD parameters per cutoff, fitted on the driver from three columns per user
    (all users, or a sample of about ``max_users`` of them).

    Rows are sorted by user id first: the fit's sums, hence its optimum to ~1e-4, depend on
    the row order, and the local engine fits users in that order."""
    small = raw.select(*BGNBD_COLUMNS)
    if max_users is not None:
        small = _sampled_users(small, max_users, small.count(), seed)
    rows = small.toPandas().sort_values(["cutoff_us", "user_id"], kind="stable")
    return fit_bgnbd_params(rows.reset_index(drop=True))


def scoring_features(
    events: SparkEvents,
    as_of: pd.Timestamp,
    event_types: tuple[str, ...],
    log_start: pd.Timestamp | None,
    horizon_days: float,
) -> pd.DataFrame:
    """The scoring features of every user (sorted by user id), collected: tests, small logs."""
    raw = scoring_aggregates(events, as_of, event_types).orderBy("user_id").toPandas()
    X = derive_features(raw, event_types, log_start, horizon_days)
    X.insert(0, "user_id", raw["user_id"].to_numpy())
    return X.reset_index(drop=True)
