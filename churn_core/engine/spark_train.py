"""``train`` and ``score`` with ``--engine spark``: Spark computes, scikit-learn fits on the driver.

Training is :func:`churn_core.pipeline.train` on the Spark log's
:class:`~churn_core.engine.source.EventSource`: labels and features run the shared SQL on
Spark, the training rows (bounded: a hash sample of whole users) are collected via Arrow and
fitted exactly as locally. Scoring a saved bundle runs on the executors
(:mod:`churn_core.engine.spark_score`).
"""

from __future__ import annotations

import logging

import pandas as pd

from churn_core.config import ChurnConfig
from churn_core.engine.spark import SparkEvents, collect
from churn_core.engine.spark_score import (
    SCORE_FEATURES,
    finish_scores,
    reference_row,
    score_partitions,
)
from churn_core.engine.spark_tables import (
    scoring_aggregates,
    scoring_bgnbd,
    with_sequence_events,
)
from churn_core.errors import EventDataError
from churn_core.model import ChurnModel
from churn_core.pipeline import ChurnRun, train
from churn_core.table import Progress

log = logging.getLogger(__name__)

REFERENCE_ROWS = 5_000  # users whose median feature values are the reasons' reference


def _no_encoder(config: ChurnConfig) -> None:
    if config.encoder.kind != "none":
        raise EventDataError(
            [
                f"--engine spark computes aggregate features only; the {config.encoder.kind} "
                "encoder needs event sequences. Use --encoder none, or --engine local."
            ]
        )


def train_spark(
    events: SparkEvents,
    config: ChurnConfig,
    as_of: pd.Timestamp | None = None,
    progress: Progress | None = None,
    score_all: bool = True,
) -> ChurnRun:
    """``pipeline.train`` on the Spark engine: labels, features and the scoring features run
    the shared SQL on Spark (through :class:`~churn_core.engine.source.EventSource`); the
    training rows (a hash sample of whole users beyond ``[engine] train_rows`` events) are
    collected via Arrow and fitted with scikit-learn on the driver, as locally."""
    _no_encoder(config)
    return train(events.source(), config, as_of, progress, score_all)


def score_spark(
    events: SparkEvents,
    model_dir: str,
    model: ChurnModel,
    config: ChurnConfig,
    as_of: pd.Timestamp,
    reasons: bool = True,
    max_bgnbd_users: int | None = None,
) -> pd.DataFrame:
    """Scores of every user seen before ``as_of`` with the bundle in ``model_dir``, computed
    on the executors (``mapInPandas``); riskiest first, as ``pipeline.score_users`` orders them.

    Collected to the driver: one row per user (probability, tier, percentile, days since the
    last event, value at risk, ``reason_1..3`` when ``reasons``).
    """
    hist = events.before(as_of)
    raw = scoring_aggregates(hist, as_of, model.event_types).persist()
    try:
        params = scoring_bgnbd(raw, max_bgnbd_users, config.model.seed)
        start, horizon = hist.start, config.label.horizon_days
        reference = None
        if reasons:
            from churn_core.engine.derive import derive_features

            some = collect(raw.limit(REFERENCE_ROWS))
            reference = reference_row(
                derive_features(some, model.event_types, start, horizon, params)
            )
        sequences = None
        scored_raw = raw
        if model.max_events:  # a sequence encoder: each executor embeds its own users
            scored_raw = with_sequence_events(hist, raw, model.max_events)
            sequences = (pd.Timestamp(as_of), model.max_events, hist.has_categories)
        scored = collect(
            score_partitions(
                scored_raw,
                model_dir,
                model.event_types,
                start,
                horizon,
                params,
                reference,
                sequences,
            )
        )
    finally:
        raw.unpersist()
    if scored.empty:
        raise EventDataError([f"No events before {as_of:%Y-%m-%d}: there is nobody to score."])
    log.info("scored %d users on Spark (%s)", len(scored), ", ".join(SCORE_FEATURES))
    return finish_scores(scored, config.targeting, config.label.horizon_days, events.has_amount)


def open_events(path: str, config: ChurnConfig, say: Progress, pseudonymize: str | None = None):
    """The CLI's ``--engine spark`` reader: a session (``[engine] threads`` cores and
    ``memory_limit`` driver memory in local mode) and the canonical events of ``path``."""
    from churn_core.engine.spark import read_events, spark_session

    if pseudonymize:
        raise EventDataError(
            [
                "--pseudonymize is not supported with --engine spark yet: pseudonymise the "
                "user ids upstream, or use --engine local."
            ]
        )
    eng = config.engine
    memory = (eng.memory_limit or "1g").lower().removesuffix("b")
    say("starting Spark", 0.0)
    spark = spark_session(cores=eng.threads, driver_memory=memory)
    say(f"reading {path} (Spark)", 0.0)
    events = read_events(spark, path, config.schema)
    for line in events.report.lines():
        say(line, 0.0)
    return events
