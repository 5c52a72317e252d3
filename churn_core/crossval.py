"""Honest evidence: grouped cross-validation, out-of-time backtest, hyperparameter search."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline

from churn_core.config import EncoderConfig, ModelConfig
from churn_core.errors import EventDataError
from churn_core.fit_pool import submit
from churn_core.metrics import (
    Curves,
    CVResult,
    max_f1_threshold,
    paired_differences,
    score_metrics,
)
from churn_core.model import (
    RFM_COLUMNS,
    Calibrator,
    ChurnModel,
    build_pipeline,
    fit_pipeline,
    raw_scores,
    rfm_pipeline,
)
from churn_core.table import FeatureTable, Progress

log = logging.getLogger(__name__)


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


BASELINE_NAME = "RFM + logistic regression"
BACKTEST_BOOTSTRAP = 100  # paired resamples of the backtest's users for the error bars
BOOTSTRAP_ROWS = 3_000  # on bigger backtests the errors come from a sample this big


def backtest(
    table: FeatureTable,
    model_cfg: ModelConfig,
    encoder_cfg: EncoderConfig | None = None,
    horizon_days: int = 90,
    progress: Progress | None = None,
    pool: Executor | None = None,
) -> CVResult | None:
    """Train on earlier cutoffs, test on the latest labelled one (out of time).

    Training rows are those whose label window closed before the test cutoff; when no
    such cutoff exists, every earlier cutoff is used and the result says so. ``result.baseline``
    compares the model with RFM + logistic regression fitted on the same rows: ROC-AUC
    and PR-AUC of both, their difference and its paired-bootstrap standard error.
    ``pool`` (``fit_pool``): the inner folds, the refit and the baseline side by side.
    """
    cuts = np.unique(table.cutoff)
    if len(cuts) < 2:
        return None
    test_cut = cuts[-1]
    closed = table.cutoff + np.timedelta64(horizon_days, "D") <= test_cut
    notes = [f"tested at cutoff {pd.Timestamp(test_cut):%Y-%m-%d}"]
    if not closed.any():
        closed = table.cutoff < test_cut
        notes.append("training label windows overlap the test period (log too short)")
    tr, te = np.flatnonzero(closed), np.flatnonzero(table.cutoff == test_cut)
    if len(np.unique(table.target()[tr])) < 2 or len(np.unique(table.target()[te])) < 2:
        return None
    train = table.take(tr)
    inner = replace(model_cfg, cv_folds=min(model_cfg.cv_folds, 3))
    say = progress or (lambda s, f: None)
    y = table.target()[te]
    X_test = table.X.iloc[te]
    pipe = build_pipeline(model_cfg, table.feature_names, encoder_cfg)
    refit_progress = None if pool else (lambda s, f: say(f"refit: {s}", 0.75 + 0.25 * f))
    has_rfm = set(RFM_COLUMNS) <= set(table.feature_names)

    def start_refits() -> list:  # the model on every training row, and the RFM baseline
        jobs = [submit(pool, _refit_scores, pipe, train, X_test, refit_progress)]
        if has_rfm:
            jobs.append(submit(pool, _refit_scores, rfm_pipeline(), train, X_test, None))
        return jobs

    jobs = start_refits() if pool is not None else []  # in a pool: alongside the folds
    try:
        oof, _ = out_of_fold_scores(train, inner, encoder_cfg, lambda s, f: say(s, 0.75 * f), pool)
    except EventDataError:  # too few users before the test cutoff: no backtest, like above
        for job in jobs:
            job.cancel()
        return None
    jobs = jobs or start_refits()
    cal = Calibrator.fit(oof, train.target(), model_cfg.calibration)
    prob = cal(jobs[0].result())
    threshold = max_f1_threshold(train.target(), cal(oof))
    folds = pd.DataFrame([score_metrics(y, prob, threshold)], index=["out-of-time"])
    baseline = None
    if has_rfm:
        baseline = compare_with_baseline(y, prob, jobs[1].result(), model_cfg.seed)
    return CVResult(
        "out-of-time",
        folds,
        y,
        prob,
        threshold,
        Curves.from_scores(y, prob),
        tuple(notes),
        baseline=baseline,
    )


def _refit_scores(
    pipe, train: FeatureTable, X_test: pd.DataFrame, progress: Progress | None
) -> np.ndarray:
    """Fit ``pipe`` on every row of ``train``; its raw scores on ``X_test``."""
    if progress is None:
        return raw_scores(pipe.fit(train.X, train.target()), X_test)
    return raw_scores(fit_pipeline(pipe, train.X, train.target(), progress), X_test)


def compare_with_baseline(
    y: np.ndarray, score: np.ndarray, baseline: np.ndarray, seed: int = 0
) -> pd.DataFrame:
    """Rows ``roc_auc``, ``pr_auc``; columns ``model``, ``baseline``, ``difference``, ``se``
    (paired bootstrap over the graded users) and ``verdict`` (better / level / worse: a
    difference within one standard error is level).

    Above ``BOOTSTRAP_ROWS`` users the standard error is bootstrapped on a random sample of
    that many and scaled by sqrt(sample / users), which keeps big logs fast.
    """
    y, score, baseline = np.asarray(y), np.asarray(score), np.asarray(baseline)
    sub = np.arange(len(y))
    if len(y) > BOOTSTRAP_ROWS:  # errors from a user sample, scaled to the full count
        sub = np.sort(np.random.default_rng(seed).choice(len(y), BOOTSTRAP_ROWS, replace=False))
        if len(np.unique(y[sub])) < 2:
            sub = np.arange(len(y))
    d = paired_differences(y[sub], score[sub], baseline[sub], BACKTEST_BOOTSTRAP, seed)
    scale = np.sqrt(len(sub) / len(y))  # a standard error shrinks like 1 / sqrt(n)
    rows = {}
    for metric, fn in (("roc_auc", roc_auc_score), ("pr_auc", average_precision_score)):
        diff = float(fn(y, score) - fn(y, baseline))
        se = d[metric][1] * scale
        verdict = "better" if diff > se else "worse" if diff < -se else "level"
        rows[metric] = {
            "model": float(fn(y, score)),
            "baseline": float(fn(y, baseline)),
            "difference": diff,
            "se": se,
            "verdict": verdict,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def baseline_verdict(comparison: pd.DataFrame | None) -> str:
    """One plain sentence on whether the model beats RFM + logistic regression out of time."""
    if comparison is None:
        return (
            f"No out-of-time comparison with {BASELINE_NAME}: the log has too few "
            "training cutoffs for a backtest."
        )
    roc, pr = comparison.loc["roc_auc"], comparison.loc["pr_auc"]
    figures = (
        f"ROC-AUC {roc['model']:.3f} vs {roc['baseline']:.3f} "
        f"({roc['difference']:+.3f} ± {roc['se']:.3f}), PR-AUC {pr['model']:.3f} vs "
        f"{pr['baseline']:.3f} ({pr['difference']:+.3f} ± {pr['se']:.3f})"
    )
    verdicts = {roc["verdict"], pr["verdict"]}
    if verdicts == {"better"} or verdicts == {"better", "level"}:
        meaning = "the extra features earn their keep on this log"
    elif "worse" in verdicts:
        meaning = f"on this log the simple {BASELINE_NAME} ranks customers better"
    else:
        meaning = "level within the noise: the extra features add little on this log"
    return (
        f"Out-of-time backtest against {BASELINE_NAME} fitted on the same rows: "
        f"{figures}; ± one paired-bootstrap standard error. Verdict: {meaning}."
    )


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


SEARCH_SPACE: dict[str, dict[str, list]] = {
    "logreg": {"C": [0.01, 0.1, 1.0, 10.0], "class_weight": [None, "balanced"]},
    "svm": {"C": [0.01, 0.1, 1.0], "class_weight": [None, "balanced"]},
    "hgb": {
        "learning_rate": [0.03, 0.1],
        "max_depth": [3, 5],
        "n_estimators": [150, 400],
        "min_samples_leaf": [20, 80],
    },
    "rf": {"max_depth": [6, 12], "n_estimators": [200, 400], "min_samples_leaf": [5, 40]},
}


def search(
    table: FeatureTable,
    model_cfg: ModelConfig,
    encoder_cfg: EncoderConfig | None = None,
    progress: Progress | None = None,
    pool: Executor | None = None,
) -> tuple[ModelConfig, pd.DataFrame]:
    """Randomised search over ``SEARCH_SPACE`` with the same grouped CV; best by ROC-AUC.

    Returns the best config and the table of every setting tried, best first. ``pool``
    (``fit_pool``): each setting's folds side by side.
    """
    space = SEARCH_SPACE[model_cfg.classifier]
    grid = [dict(zip(space, vals)) for vals in _product(list(space.values()))]
    rng = np.random.default_rng(model_cfg.seed)
    tried = (
        grid
        if len(grid) <= model_cfg.search_iter
        else [grid[i] for i in rng.choice(len(grid), model_cfg.search_iter, replace=False)]
    )
    rows = []
    graded = table.graded_mask()  # graded like cross_validate: the requested horizon only
    for i, params in enumerate(tried):
        cfg = replace(model_cfg, **params)
        oof, _ = out_of_fold_scores(table, cfg, encoder_cfg, pool=pool)
        oof, y = oof[graded], table.target()[graded]
        p = 1 / (1 + np.exp(-np.clip(oof, -30, 30)))
        rows.append(
            {
                **params,
                "roc_auc": roc_auc_score(y, oof),
                "log_loss_uncalibrated": log_loss(y, np.clip(p, 1e-6, 1 - 1e-6)),
            }
        )
        if progress:
            progress(f"search {i + 1}/{len(tried)}", (i + 1) / len(tried))
    results = pd.DataFrame(rows).sort_values("roc_auc", ascending=False, ignore_index=True)
    best = {k: _plain(results.iloc[0][k]) for k in space}
    log.info("search: best %s (ROC-AUC %.4f)", best, results.iloc[0]["roc_auc"])
    return replace(model_cfg, **best), results


def _product(lists: list[list]) -> list[tuple]:
    out: list[tuple] = [()]
    for values in lists:
        out = [prev + (v,) for prev in out for v in values]
    return out


def _plain(v):
    """numpy scalars / NaN from a DataFrame cell back to plain Python values."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v
