"""Out-of-time evidence: the backtest on the newest labelled cutoff, and whether the model
beats RFM + logistic regression fitted on the same rows."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from churn_core.config import EncoderConfig, ModelConfig
from churn_core.crossval import out_of_fold_scores
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
    build_pipeline,
    fit_pipeline,
    raw_scores,
    rfm_pipeline,
)
from churn_core.table import FeatureTable, Progress

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
