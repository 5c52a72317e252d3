"""Hyperparameter search: a small randomised grid per classifier, graded by the same
grouped cross-validation as the run."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import replace
from itertools import product

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from churn_core.config import EncoderConfig, ModelConfig
from churn_core.crossval import out_of_fold_scores
from churn_core.table import FeatureTable, Progress

log = logging.getLogger(__name__)

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
    grid = [dict(zip(space, vals, strict=True)) for vals in product(*space.values())]
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


def _plain(v):
    """numpy scalars / NaN from a DataFrame cell back to plain Python values."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v
