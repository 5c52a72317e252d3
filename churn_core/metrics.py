"""Forecast quality: threshold metrics, ranking metrics, calibration, and the curves behind them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

METRIC_NAMES = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "lift_top_decile",
    "f1",
    "precision",
    "recall",
    "accuracy",
)


def auc_difference(
    y: np.ndarray,
    score: np.ndarray,
    reference: np.ndarray,
    n_boot: int = 500,
    seed: int = 0,
    chunk: int = 50,
) -> tuple[float, float]:
    """ROC-AUC of ``score`` minus that of ``reference`` on the same rows, and the paired
    bootstrap standard error of that difference (users resampled with replacement).

    Both scores are graded on the same resamples, so what the two models share (which
    users happen to be easy) cancels out: a difference smaller than about twice its
    standard error is within the noise of the test sample.
    """
    return paired_differences(y, score, reference, n_boot, seed, chunk, pr_auc=False)["roc_auc"]


def paired_differences(
    y: np.ndarray,
    score: np.ndarray,
    reference: np.ndarray,
    n_boot: int = 500,
    seed: int = 0,
    chunk: int = 50,
    pr_auc: bool = True,
) -> dict[str, tuple[float, float]]:
    """``{"roc_auc": (diff, se), "pr_auc": (diff, se)}``: ``score`` minus ``reference``.

    Differences are exact (scikit-learn); their standard errors come from one paired
    bootstrap (the same ``n_boot`` resamples of the rows grade both scores). In a resample
    the PR-AUC is the average precision with ties broken by row order (duplicated rows
    are tied), close enough for an error bar.
    """
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=np.float64)
    score, reference = np.asarray(score, float), np.asarray(reference, float)
    out = {"roc_auc": float(roc_auc_score(y, score) - roc_auc_score(y, reference))}
    if pr_auc:
        out["pr_auc"] = float(
            average_precision_score(y, score) - average_precision_score(y, reference)
        )
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {k: [] for k in out}
    for start in range(0, n_boot, chunk):  # bounded memory on big logs
        idx = rng.integers(0, len(y), (min(chunk, n_boot - start), len(y)))
        yb = y[idx]
        n1 = yb.sum(axis=1)
        ok = (n1 > 0) & (n1 < len(y))  # resamples with both classes
        yb, idx, n1 = yb[ok], idx[ok], n1[ok]
        pairs = n1 * (len(y) - n1)
        # Mann-Whitney: AUC = (rank sum of positives - n1 (n1 + 1) / 2) / (n1 n0); ties averaged
        auc = [
            ((rankdata(s[idx], axis=1) * yb).sum(axis=1) - n1 * (n1 + 1) / 2) / pairs
            for s in (score, reference)
        ]
        draws["roc_auc"].append(auc[0] - auc[1])
        if pr_auc:
            ap = []
            for s in (score, reference):
                hits = np.take_along_axis(yb, np.argsort(-s[idx], axis=1, kind="stable"), axis=1)
                precision = np.cumsum(hits, axis=1) / np.arange(1, len(y) + 1)
                ap.append((precision * hits).sum(axis=1) / n1)
            draws["pr_auc"].append(ap[0] - ap[1])
    result = {}
    for k, diff in out.items():
        d = np.concatenate(draws[k])
        result[k] = (diff, float(d.std(ddof=1)) if len(d) > 1 else float("nan"))
    return result


def top_decile_lift(y: np.ndarray, p: np.ndarray) -> float:
    """Churn rate among the 10 % highest scores divided by the overall churn rate."""
    y = np.asarray(y, dtype=float)
    if y.mean() == 0:
        return float("nan")
    order = np.argsort(-np.asarray(p), kind="stable")
    top = y[order][: max(1, len(y) // 10)]
    return float(top.mean() / y.mean())


def max_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability threshold that maximises F1 on (y, p)."""
    prec, rec, thr = precision_recall_curve(y, p)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(prec), where=(prec + rec) > 0)
    if len(thr) == 0:
        return 0.5
    return float(thr[int(np.argmax(f1[:-1]))])


def score_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Every metric for one set of calibrated probabilities."""
    y = np.asarray(y).astype(int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    two_classes = len(np.unique(y)) == 2
    pred = (p >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if two_classes else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "lift_top_decile": top_decile_lift(y, p),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y, pred)),
    }


@dataclass(frozen=True, eq=False)
class Curves:
    """Data for ROC, PR, reliability and cumulative-gain charts."""

    roc: pd.DataFrame  # fpr, tpr
    pr: pd.DataFrame  # recall, precision
    calibration: pd.DataFrame  # mean_predicted, observed_rate
    gain: pd.DataFrame  # share_targeted, share_of_churners, lift

    @classmethod
    def from_scores(cls, y: np.ndarray, p: np.ndarray) -> Curves:
        y = np.asarray(y).astype(int)
        p = np.asarray(p, dtype=float)
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        obs, pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
        order = np.argsort(-p, kind="stable")
        hits = np.cumsum(y[order])
        grid = np.unique(np.linspace(1, len(y), num=min(len(y), 100)).astype(int)) - 1
        share = (grid + 1) / len(y)
        captured = hits[grid] / max(1, y.sum())
        gain = pd.DataFrame(
            {"share_targeted": share, "share_of_churners": captured, "lift": captured / share}
        )
        return cls(
            roc=pd.DataFrame({"fpr": fpr, "tpr": tpr}),
            pr=pd.DataFrame({"recall": rec, "precision": prec}),
            calibration=pd.DataFrame({"mean_predicted": pred, "observed_rate": obs}),
            gain=gain,
        )


@dataclass(frozen=True, eq=False)
class CVResult:
    """Per-fold metrics, their mean and spread, pooled predictions and curves."""

    name: str  # "cross-validation" or "out-of-time"
    folds: pd.DataFrame  # one row per fold, METRIC_NAMES columns
    y_true: np.ndarray
    y_prob: np.ndarray
    threshold: float
    curves: Curves
    notes: tuple[str, ...] = field(default=())
    baseline: pd.DataFrame | None = None  # vs RFM + logistic regression on the same rows

    @property
    def summary(self) -> pd.DataFrame:
        """mean and std of every metric across folds (std is 0 for a single split)."""
        cols = [c for c in METRIC_NAMES if c in self.folds]
        return pd.DataFrame({"mean": self.folds[cols].mean(), "std": self.folds[cols].std(ddof=0)})

    def confusion(self, threshold: float | None = None) -> pd.DataFrame:
        """2x2 counts at ``threshold`` (default: the chosen one)."""
        t = self.threshold if threshold is None else threshold
        pred = self.y_prob >= t
        y = self.y_true.astype(bool)
        return pd.DataFrame(
            [
                [int((~y & ~pred).sum()), int((~y & pred).sum())],
                [int((y & ~pred).sum()), int((y & pred).sum())],
            ],
            index=["actual: stays", "actual: churns"],
            columns=["predicted: stays", "predicted: churns"],
        )
