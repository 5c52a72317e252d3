"""``train`` and ``score`` with ``--engine spark``: Spark computes, scikit-learn fits on the driver.

Training: labels and features in Spark (the shared SQL), the training table (bounded by
``max_rows``, whole users) collected via Arrow, then the very cross-validation, backtest,
calibration and final fit of :mod:`churn_core.pipeline` (the functions of
:mod:`churn_core.crossval`). Scoring a saved bundle runs on the executors
(:mod:`churn_core.engine.spark_score`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pandas as pd

from churn_core.config import ChurnConfig
from churn_core.crossval import backtest, cross_validate, fit_final, search
from churn_core.engine.spark import SparkEvents
from churn_core.engine.spark_score import (
    SCORE_FEATURES,
    finish_scores,
    reference_row,
    score_partitions,
)
from churn_core.engine.spark_tables import (
    scoring_aggregates,
    scoring_bgnbd,
    scoring_features,
    training_table,
)
from churn_core.errors import EventDataError
from churn_core.features import MAX_TYPE_FEATURES
from churn_core.labels import summarise_labels, training_cutoffs
from churn_core.model import ChurnModel
from churn_core.pipeline import ChurnRun, check_trainable, score_table
from churn_core.table import FeatureTable, Progress

log = logging.getLogger(__name__)

DEFAULT_MAX_TRAIN_ROWS = 2_000_000  # user-cutoff rows collected to the driver for fitting
REFERENCE_ROWS = 5_000  # users whose median feature values are the reasons' reference


def _no_encoder(config: ChurnConfig) -> None:
    if config.encoder.kind != "none":
        raise EventDataError(
            [
                f"--engine spark computes aggregate features only; the {config.encoder.kind} "
                "encoder needs event sequences. Use --encoder none, or --engine local."
            ]
        )


def pick_event_types(events: SparkEvents) -> tuple[str, ...]:
    """``features.pick_event_types`` on Spark: the most frequent few types, never cancels."""
    from churn_core.events import CANCEL_EVENTS

    counts = events.event_type_counts()
    counts = counts[~counts.index.isin(CANCEL_EVENTS)]
    return tuple(sorted(counts.index[:MAX_TYPE_FEATURES].tolist()))


def train_spark(
    events: SparkEvents,
    config: ChurnConfig,
    as_of: pd.Timestamp | None = None,
    progress: Progress | None = None,
    max_rows: int | None = DEFAULT_MAX_TRAIN_ROWS,
) -> ChurnRun:
    """``pipeline.train`` with labels, features and scoring features computed by Spark."""
    _no_encoder(config)
    say = progress or (lambda stage, frac: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    as_of = pd.Timestamp(as_of) if as_of is not None else events.default_as_of()
    hist = events.before(as_of)
    spec = config.label
    cutoffs = training_cutoffs(hist, spec, as_of)  # type: ignore[arg-type]  # reads .start
    event_types = pick_event_types(hist)
    say("labels and features (Spark)", 0.0)
    table = training_table(
        hist, spec, cutoffs, event_types, hist.start, max_rows, config.model.seed
    )
    labels = summarise_labels(spec, cutoffs, table.cutoff, table.target())
    check_trainable(table, labels, spec.horizon_days)
    timings["features"] = time.perf_counter() - t0

    model_cfg, enc = config.model, config.encoder
    sample = table.sample_users(model_cfg.max_cv_rows, model_cfg.seed)
    search_results = None
    if model_cfg.search:
        say("hyperparameter search", 0.2)
        model_cfg, search_results = search(sample, model_cfg, enc)
        config = replace(config, model=model_cfg)
    t1 = time.perf_counter()
    cv, calibrator = cross_validate(
        sample, model_cfg, enc, progress=lambda s, f: say(s, 0.25 + 0.4 * f)
    )
    timings["cross_validation"] = time.perf_counter() - t1
    say("out-of-time backtest", 0.65)
    t1 = time.perf_counter()
    oot = backtest(sample, model_cfg, enc, spec.horizon_days)
    timings["backtest"] = time.perf_counter() - t1
    say("final model", 0.8)
    t1 = time.perf_counter()
    model = fit_final(table, model_cfg, enc, calibrator, event_types)
    timings["final_fit"] = time.perf_counter() - t1
    say("scoring (Spark features)", 0.9)
    t1 = time.perf_counter()
    X = scoring_features(hist, as_of, event_types, hist.start, spec.horizon_days)
    users = X.pop("user_id").to_numpy()
    scoring = FeatureTable(X, None, users, pd.Series(as_of, index=X.index).to_numpy())
    scores, feats = score_table(model, scoring, config, events.has_amount, as_of)
    timings["scoring"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t0
    say("done", 1.0)
    return ChurnRun(
        config,
        as_of,
        labels,
        cv,
        oot,
        model,
        scores,
        feats,
        cv.threshold,
        search_results,
        timings,
        events.has_amount,
    )


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
    if model.max_events:
        raise EventDataError(
            [
                "This bundle uses a sequence encoder; --engine spark scores aggregate-feature "
                "models only. Score it with --engine local."
            ]
        )
    hist = events.before(as_of)
    raw = scoring_aggregates(hist, as_of, model.event_types).persist()
    try:
        params = scoring_bgnbd(raw, max_bgnbd_users, config.model.seed)
        start, horizon = hist.start, config.label.horizon_days
        reference = None
        if reasons:
            from churn_core.engine.derive import derive_features

            some = raw.limit(REFERENCE_ROWS).toPandas()
            reference = reference_row(
                derive_features(some, model.event_types, start, horizon, params)
            )
        scored = score_partitions(
            raw, model_dir, model.event_types, start, horizon, params, reference
        ).toPandas()
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
