"""A true forecast check: train on events before T, score as of T, grade against [T, T+H).

Mirrors the independent referee (``../shared/referee``): the model never sees events at
or after the cutoff; baselines are trained and graded the same way.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from churn_core.config import ChurnConfig, EncoderConfig, ModelConfig
from churn_core.crossval import cross_validate, fit_final
from churn_core.events import EventLog
from churn_core.features import pick_event_types
from churn_core.labels import build_labels, helper_cutoffs, summarise_labels, training_cutoffs
from churn_core.metrics import paired_differences, score_metrics
from churn_core.model import rfm_pipeline
from churn_core.pipeline import Progress, check_trainable, score_table
from churn_core.recommend_check import recommendation_check as _recommendation_check
from churn_core.table import FeatureTable, scoring_table, training_table

LADDER_FINETUNE_EPOCHS = 8  # the fine-tuned rung, when the config does not set its own
REPORT_COLUMNS = [
    "model",
    "n",
    "churn_rate",
    "roc_auc",
    "pr_auc",
    "brier",
    "lift_top_decile",
    "roc_auc_vs_project",
    "vs_project_se",
    "pr_auc_vs_project",
    "pr_vs_project_se",
    "seconds",
]


def evaluate(
    log_: EventLog,
    config: ChurnConfig,
    cutoff: pd.Timestamp,
    ladder: bool = False,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """One row per model (project first, then baselines) graded on what happened after ``cutoff``.

    ``ladder`` adds: aggregates + gradient boosting, Transformer embedding + logistic
    regression (self-supervised only, then also fine-tuned on the churn label), hybrid,
    and the text model (when ``config.encoder.path`` is set).
    ``seconds`` is each model's fit and scoring time; the feature tables are built once
    per sequence length and shared, so their cost is not in it. ``roc_auc_vs_project`` is
    each model's ROC-AUC minus the project's, with its paired-bootstrap standard error
    ``vs_project_se`` (500 resamples of the graded users); ``pr_auc_vs_project`` and
    ``pr_vs_project_se`` the same for PR-AUC.
    """
    say = progress or (lambda s, f: None)
    cutoff = pd.Timestamp(cutoff)
    hist = log_.before(cutoff)
    truth = build_labels(log_, config.label, cutoff)
    spec = config.label
    event_types = pick_event_types(hist.frame)
    cutoffs = training_cutoffs(hist, spec, cutoff)
    helpers = helper_cutoffs(hist, spec, cutoff, cutoffs)  # as ``train`` fits the project
    # training and scoring tables per sequence length, built once and shared by every rung
    tables: dict[int | None, tuple[FeatureTable, FeatureTable]] = {}

    def tables_for(max_events: int | None) -> tuple[FeatureTable, FeatureTable]:
        if max_events not in tables:
            tables[max_events] = (
                training_table(hist, spec, cutoffs, event_types, max_events, helpers=helpers),
                scoring_table(hist, cutoff, event_types, max_events, spec.horizon_days),
            )
        return tables[max_events]

    agg_tab = tables_for(None)[0].graded_only()  # the requested horizon's rows
    labels = summarise_labels(spec, cutoffs, agg_tab.cutoff, agg_tab.target())
    check_trainable(agg_tab, labels, spec.horizon_days)
    rows: list[dict[str, Any]] = []
    graded: dict[str, np.ndarray] = {}  # scores aligned with ``truth``, per model

    def grade(
        name: str, users: np.ndarray, score: np.ndarray, seconds: float, is_probability: bool = True
    ) -> None:
        s = pd.Series(score, index=pd.Index(users.astype(str))).reindex(truth.index)
        s = s.fillna(s.mean())
        if not is_probability:  # a ranking only: grade its order, not its scale
            s = s.rank(pct=True)
        graded[name] = s.to_numpy()
        m = score_metrics(truth.to_numpy(), s.to_numpy(), 0.5)
        if not is_probability:
            m["brier"] = float("nan")
        rows.append(
            {
                "model": name,
                "n": len(truth),
                "churn_rate": float(truth.mean()),
                **m,
                "seconds": seconds,
            }
        )

    rungs = [("project", config)]
    if ladder:
        rungs += [
            (
                "aggregates + hgb",
                config.with_(model={"classifier": "hgb"}, encoder={"kind": "none"}),
            ),
            (
                "transformer + logreg",
                config.with_(
                    model={"classifier": "logreg"},
                    encoder={"kind": "transformer", "finetune_epochs": 0},
                ),
            ),
            (
                "transformer fine-tuned + logreg",
                config.with_(
                    model={"classifier": "logreg"},
                    encoder={
                        "kind": "transformer",
                        "finetune_epochs": config.encoder.finetune_epochs or LADDER_FINETUNE_EPOCHS,
                    },
                ),
            ),
            ("hybrid", config.with_(encoder={"kind": "hybrid"})),
        ]
        if config.encoder.path:
            rungs.append(
                (
                    "text model + logreg",
                    config.with_(model={"classifier": "logreg"}, encoder={"kind": "text"}),
                )
            )
    for i, (name, cfg) in enumerate(rungs):
        say(f"training {name}", i / (len(rungs) + 1))
        t0 = time.perf_counter()
        enc = cfg.encoder
        train_tab, score_tab = tables_for(enc.max_events if enc.kind != "none" else None)

        def rung_progress(s: str, f: float, name=name, i=i) -> None:
            say(f"{name}: {s}", (i + f) / (len(rungs) + 1))

        users, score = _forecast(
            train_tab, score_tab, cfg, event_types, hist.has_amount, cutoff, rung_progress
        )
        label = (
            name
            if name != "project"
            else (f"project ({cfg.model.classifier}, encoder {cfg.encoder.kind})")
        )
        grade(label, users, score, time.perf_counter() - t0)

    t0 = time.perf_counter()
    tab, sc = agg_tab, tables_for(None)[1]  # the baselines fit the requested horizon only
    grade(
        "baseline: recency alone",
        sc.user_id,
        sc.X["recency_days"].to_numpy(),
        time.perf_counter() - t0,
        is_probability=False,
    )
    t0 = time.perf_counter()
    rfm = rfm_pipeline().fit(tab.X, tab.y)
    grade(
        "baseline: RFM + logistic regression",
        sc.user_id,
        rfm.predict_proba(sc.X)[:, 1],
        time.perf_counter() - t0,
    )
    say("paired bootstrap against the project model", 0.95)
    report = pd.DataFrame(rows)
    y, project = truth.to_numpy(), graded[rows[0]["model"]]
    diffs = [
        paired_differences(y, graded[r["model"]], project, seed=config.model.seed) for r in rows
    ]
    report["roc_auc_vs_project"] = [d["roc_auc"][0] for d in diffs]
    report["vs_project_se"] = [d["roc_auc"][1] for d in diffs]
    report["pr_auc_vs_project"] = [d["pr_auc"][0] for d in diffs]
    report["pr_vs_project_se"] = [d["pr_auc"][1] for d in diffs]
    report.loc[0, ["vs_project_se", "pr_vs_project_se"]] = float("nan")  # project vs itself
    say("done", 1.0)
    return report[REPORT_COLUMNS]


def recommendation_check(
    log_: EventLog, cutoff: pd.Timestamp, horizon_days: int, k: int = 5
) -> pd.DataFrame | None:
    """Hit rate at ``k`` of recommended items next to two baselines, graded on what users
    bought in ``[cutoff, cutoff + horizon_days)``; None when the log has no item column.

    One row per recommender: the project's, the k most bought items overall before the
    cutoff, and each user's own k most bought items (``churn_core.recommend_check``).
    """
    if not log_.has_items:
        return None
    return _recommendation_check(log_, pd.Timestamp(cutoff), horizon_days, k)


def _forecast(
    table: FeatureTable,
    scoring: FeatureTable,
    cfg: ChurnConfig,
    event_types: tuple[str, ...],
    has_amount: bool,
    cutoff: pd.Timestamp,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``cfg`` on ``table``, score ``scoring``: (user ids, churn probabilities)."""
    say = progress or (lambda s, f: None)
    enc: EncoderConfig = cfg.encoder
    model_cfg: ModelConfig = cfg.model
    _, calibrator = cross_validate(
        table, replace(model_cfg, cv_folds=3), enc, lambda s, f: say(s, 0.75 * f)
    )
    model = fit_final(
        table, model_cfg, enc, calibrator, event_types, lambda s, f: say(s, 0.75 + 0.25 * f)
    )
    scores, _ = score_table(model, scoring, cfg, has_amount, cutoff)
    return scores["user_id"].to_numpy(), scores["churn_probability"].to_numpy()
