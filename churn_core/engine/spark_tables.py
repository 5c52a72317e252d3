"""The scoring side on Spark: the shared SQL aggregates as a Spark frame, left distributed.

(Training tables go through :class:`~churn_core.engine.source.EventSource` on a
:class:`~churn_core.engine.spark.SparkEngine`, as on every engine.) Population and aggregates
are :func:`churn_core.engine.sql.population_sql` / :func:`~churn_core.engine.sql.aggregates_sql`,
the very strings DuckDB runs; only BG/NBD's three inputs per user reach the driver.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from churn_core.config import LabelSpec
from churn_core.engine.derive import fit_bgnbd_params
from churn_core.engine.spark import collect
from churn_core.engine.sql import aggregates_sql, population_sql, sequences_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from churn_core.engine.spark import SparkEvents

log = logging.getLogger(__name__)

POPULATION_VIEW = "churn_population"
SEQUENCE_EVENTS = "sequence_events"  # a user's last encoder events, as an array of structs
SEQUENCE_FIELDS = ("ts_us", "event_type", "amount", "category")
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


def with_sequence_events(events: SparkEvents, raw: DataFrame, max_events: int) -> DataFrame:
    """``raw`` (from :func:`scoring_aggregates`, same population) with each user's last
    ``max_events + 1`` encoder events (:func:`~churn_core.engine.sql.sequences_sql`, the rows
    DuckDB selects) as one array column, so an executor builds the user's sequence from
    its own row (``spark_score.batch_sequences``)."""
    from pyspark.sql import functions as sf

    rows = events.sql(sequences_sql(POPULATION_VIEW, max_events, order=False))
    per_user = rows.groupBy("user_id").agg(
        sf.collect_list(sf.struct(*SEQUENCE_FIELDS)).alias(SEQUENCE_EVENTS)
    )
    return raw.join(per_user, "user_id", "left")


def scoring_bgnbd(raw: DataFrame, max_users: int | None = None, seed: int = 0) -> dict:
    """BG/NBD parameters per cutoff, fitted on the driver from three columns per user
    (all users, or a sample of about ``max_users`` of them).

    Rows are sorted by user id first: the fit's sums, hence its optimum to ~1e-4, depend on
    the row order, and the local engine fits users in that order."""
    small = raw.select(*BGNBD_COLUMNS)
    if max_users is not None:
        small = _sampled_users(small, max_users, small.count(), seed)
    rows = collect(small).sort_values(["cutoff_us", "user_id"], kind="stable")
    return fit_bgnbd_params(rows.reset_index(drop=True))
