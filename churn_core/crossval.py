"""Grouped cross-validation with cross-fitted calibration, and the final fit.

The out-of-time backtest lives in ``churn_core.backtest``, the hyperparameter search in
``churn_core.search``; both grade with the folds made here.
"""

from __future__ import annotations

from concurrent.futures import Executor

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from churn_core.config import EncoderConfig, ModelConfig
from churn_core.errors import EventDataError
from churn_core.fit_pool import submit
from churn_core.metrics import (
    Curves,
    CVResult,
    max_f1_threshold,
    score_metrics,
)
from churn_core.model import (
    Calibrator,
    ChurnModel,
    build_pipeline,
    fit_pipeline,
    raw_scores,
)
from churn_core.table import FeatureTable, Progress


def _folds(table: FeatureTable, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds grouped by user: a user's rows (all cutoffs) stay in one fold.

    Users are stratified by their share of churned rows and dealt round-robin into folds
    in a seeded random order within each stratum; vectorised, unlike StratifiedGroupKFold,
    whose per-group search takes seconds on tens of thousands of users.
    """
    n_pos = int(table.target().sum())
    codes, users = pd.factorize(table.user_id)
    k = max(2, min(n_folds, n_pos, len(table.target()) - n_pos, len(users)))  # no empty fold
    rate = np.bincount(codes, weights=table.target(), minlength=len(users)) / np.bincount(codes)
    shuffle = np.random.default_rng(seed).random(len(users))
    order = np.lexsort((shuffle, rate))  # by churn share, ties in random order
    fold_of_user = np.empty(len(users), dtype=np.int64)
    fold_of_user[order] = np.arange(len(users)) % k
    fold = fold_of_user[codes]
    return [(np.flatnonzero(fold != i), np.flatnonzero(fold == i)) for i in range(k)]


def out_of_fold_scores(
    table: FeatureTable,
    model_cfg: ModelConfig,
    encoder_cfg: EncoderConfig | None = None,
    progress: Progress | None = None,
    pool: Executor | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Raw scores for every row from a pipeline that never saw that row's user.

    With ``pool`` (``fit_pool``) the folds are fitted side by side; progress is then reported
    per finished fold, from the calling thread.
    """
    folds = _folds(table, model_cfg.cv_folds, model_cfg.seed)
    template = build_pipeline(model_cfg, table.feature_names, encoder_cfg)
    oof = np.zeros(len(table.target()))
    k = len(folds)
    for i, (tr, va) in enumerate(folds):
        if len(va) == 0 or len(np.unique(table.target()[tr])) < 2:
            raise EventDataError(
                [
                    f"Too few users for {k}-fold cross-validation: {len(np.unique(table.user_id))} "
                    "users, and the users left to train fold "
                    f"{i + 1} all churned or all stayed. Load a log with more users, or change "
                    "the horizon or the activity events."
                ]
            )
    if pool is not None:
        jobs = [submit(pool, _fold_scores, template, table, tr, va, None) for tr, va in folds]
        for i, ((_, va), job) in enumerate(zip(folds, jobs, strict=True)):
            oof[va] = job.result()
            if progress:
                progress(f"cross-validation fold {i + 1}/{k}", (i + 1) / k)
        return oof, [va for _, va in folds]
    for i, (tr, va) in enumerate(folds):
        stage = f"cross-validation fold {i + 1}/{k}"
        inner = None
        if progress:
            progress(stage, i / k)

            def inner(s: str, f: float, stage=stage, i=i) -> None:
                progress(f"{stage}: {s}", (i + f) / k)

        oof[va] = _fold_scores(template, table, tr, va, inner)
        if progress:
            progress(stage, (i + 1) / k)
    return oof, [va for _, va in folds]


def _fold_scores(
    template, table: FeatureTable, tr: np.ndarray, va: np.ndarray, progress: Progress | None
) -> np.ndarray:
    """Fit a fresh copy of ``template`` on rows ``tr``; its raw scores on rows ``va``."""
    pipe = fit_pipeline(clone(template), table.X.iloc[tr], table.target()[tr], progress)
    return raw_scores(pipe, table.X.iloc[va])


def cross_validate(
    table: FeatureTable,
    model_cfg: ModelConfig,
    encoder_cfg: EncoderConfig | None = None,
    progress: Progress | None = None,
    pool: Executor | None = None,
) -> tuple[CVResult, Calibrator]:
    """Grouped stratified k-fold; calibration is cross-fitted so no fold grades itself.

    Each fold's probabilities come from a calibrator fitted on the other folds'
    out-of-fold scores. Returns the result and the calibrator fitted on all of them.
    Helper rows (not ``table.graded``) are fitted on in every fold but neither graded nor
    calibrated on: the metrics and probabilities are for the requested horizon.
    ``pool`` (``fit_pool``): fit the folds side by side.
    """
    oof, val_sets = out_of_fold_scores(table, model_cfg, encoder_cfg, progress, pool)
    graded = table.graded_mask()  # helper rows (a shorter horizon) train the folds only
    at = np.cumsum(graded) - 1  # a graded row's position among the graded rows
    val_sets = [at[va[graded[va]]] for va in val_sets]
    val_sets = [va for va in val_sets if len(va)]
    oof, y = oof[graded], table.target()[graded]
    prob = np.zeros_like(oof)
    for va in val_sets:
        rest = np.setdiff1d(np.arange(len(y)), va)
        prob[va] = Calibrator.fit(oof[rest], y[rest], model_cfg.calibration)(oof[va])
    threshold = max_f1_threshold(y, prob)
    folds = pd.DataFrame([score_metrics(y[va], prob[va], threshold) for va in val_sets])
    folds.index = [f"fold {i + 1}" for i in range(len(val_sets))]
    result = CVResult(
        "cross-validation",
        folds,
        y,
        prob,
        threshold,
        Curves.from_scores(y, prob),
        notes=(
            f"{len(val_sets)} folds grouped by user; threshold chosen by max F1 on "
            "out-of-fold probabilities.",
        ),
    )
    return result, Calibrator.fit(oof, y, model_cfg.calibration)


def final_pipeline(
    table: FeatureTable,
    model_cfg: ModelConfig,
    encoder_cfg: EncoderConfig | None,
    progress: Progress | None = None,
) -> Pipeline:
    """The pipeline fitted on every training row (``fit_final`` without the calibrator)."""
    pipe = build_pipeline(model_cfg, table.feature_names, encoder_cfg)
    return fit_pipeline(pipe, table.X, table.target(), progress)


def final_model(
    pipe: Pipeline,
    feature_names: list[str],
    encoder_cfg: EncoderConfig | None,
    calibrator: Calibrator,
    event_types: tuple[str, ...],
) -> ChurnModel:
    """A fitted final pipeline and the cross-fitted calibrator, as one ``ChurnModel``."""
    max_events = encoder_cfg.max_events if encoder_cfg and encoder_cfg.kind != "none" else None
    return ChurnModel(pipe, calibrator, tuple(feature_names), event_types, max_events)


def fit_final(
    table: FeatureTable,
    model_cfg: ModelConfig,
    encoder_cfg: EncoderConfig | None,
    calibrator: Calibrator,
    event_types: tuple[str, ...],
    progress: Progress | None = None,
) -> ChurnModel:
    """Refit the pipeline on every training row and attach the cross-fitted calibrator."""
    pipe = final_pipeline(table, model_cfg, encoder_cfg, progress)
    return final_model(pipe, table.feature_names, encoder_cfg, calibrator, event_types)
