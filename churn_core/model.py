"""The learning pipeline: preprocessing, optional sequence encoder, classifier, calibration.

``build_pipeline`` returns a plain scikit-learn ``Pipeline`` so cross-validation refits
every learned piece (scaler, Transformer encoder, classifier) inside each fold.
``ChurnModel`` pairs a fitted pipeline with a probability calibrator fitted on
out-of-fold scores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import SplineTransformer, StandardScaler

# bundles saved before the blend had a module of its own name its classes
# ``churn_core.model.*`` (FixedLogOdds among them): skops finds them here
from churn_core.blend import (  # noqa: F401
    BlendedLogistic,
    ClipToTraining,
    FixedLogOdds,
    LogOdds,
    SignedLog1p,
    Suffixed,
)
from churn_core.config import EncoderConfig, ModelConfig
from churn_core.errors import ConfigError
from churn_core.table import SEQUENCE_COLUMN, Progress

logger = logging.getLogger(__name__)

LINEAR = ("logreg", "svm")
# recency, frequency, monetary and their simplest companions: the referee-style baseline
RFM_COLUMNS = [
    "recency_days",
    "active_days",
    "n_events",
    "monetary",
    "tenure_days",
    "events_30d",
    "events_90d",
    "overdue_ratio",
]


# computed (and kept, so bundles saved before still score) but not fed to the model: a
# span-scaled tenure means something else for the same cohort at the training cutoffs and at
# the forecast, and it cost 0.012-0.023 ROC-AUC on shops with a sale week (docs/quality.md)
UNMODELLED = ("tenure_over_history",)

LINEAR_MEMBER_C = 0.1  # the blend's plain (spline-free) logistic regression
RFM_MEMBER_C = 1.0  # RFM + logistic regression, as the baseline fits it
BGNBD_FORECAST = "bgnbd_p_quiet"  # the "quarters" blend's fourth member, taken as it is


def blends(model_cfg: ModelConfig, columns: list[str]) -> bool:
    """Whether ``build_pipeline`` averages the model with simpler logistic regressions."""
    return (
        model_cfg.classifier == "logreg"
        and model_cfg.blend != "none"
        and set(RFM_COLUMNS) <= set(columns)
    )


def _scaled(suffix: str, clip: bool) -> Pipeline:
    """[Clip,] log, standardise and rename (``name + suffix``): one member's own copy of
    columns."""
    steps = [("log", SignedLog1p()), ("scale", StandardScaler()), ("tag", Suffixed(suffix))]
    return Pipeline([("clip", ClipToTraining()), *steps] if clip else steps)


def rfm_pipeline() -> Pipeline:
    """RFM + logistic regression, the simple baseline: ``RFM_COLUMNS`` log-scaled,
    standardised, plain (C = 1) logistic regression. Takes a full feature frame."""
    cols = ColumnTransformer([("rfm", "passthrough", RFM_COLUMNS)], remainder="drop")
    return Pipeline(
        [
            ("select", cols),
            ("log", SignedLog1p()),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    )


def make_classifier(cfg: ModelConfig) -> BaseEstimator:
    """The classifier named in the config, with its hyperparameters."""
    cw = cfg.class_weight
    if cfg.classifier == "logreg":
        return LogisticRegression(C=cfg.C, class_weight=cw, max_iter=2000, tol=1e-3)
    # imported when used: the default (logreg) run and `churn score` skip their import time
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.svm import LinearSVC

    if cfg.classifier == "svm":
        return LinearSVC(C=cfg.C, class_weight=cw, max_iter=5000, random_state=cfg.seed)
    if cfg.classifier == "hgb":
        return HistGradientBoostingClassifier(
            learning_rate=cfg.learning_rate,
            max_iter=cfg.n_estimators,
            max_depth=cfg.max_depth,
            min_samples_leaf=cfg.min_samples_leaf,
            l2_regularization=1.0,
            class_weight=cw,
            early_stopping=False,
            random_state=cfg.seed,
        )
    return RandomForestClassifier(
        n_estimators=cfg.n_estimators,
        max_depth=cfg.max_depth,
        min_samples_leaf=cfg.min_samples_leaf,
        class_weight=cw,
        n_jobs=2,
        random_state=cfg.seed,
    )


def make_encoder(cfg: EncoderConfig) -> BaseEstimator:
    """The sequence encoder for ``cfg.kind`` (transformer/hybrid share one; text is separate)."""
    if cfg.kind == "text":
        from churn_core.encoder.text import TextSequenceEncoder

        if not cfg.path:
            raise ConfigError(
                "The text encoder needs a local model folder: pass --encoder-path DIR."
            )
        return TextSequenceEncoder(path=cfg.path, max_events=min(cfg.max_events, 32))
    from churn_core.encoder.estimator import BehaviorEncoder

    return BehaviorEncoder(
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        num_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        max_events=cfg.max_events,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        max_train_users=cfg.max_train_users,
        objective=cfg.objective,
        pooling=cfg.pooling,
        finetune_epochs=cfg.finetune_epochs,
        seed=cfg.seed,
    )


def build_pipeline(
    model_cfg: ModelConfig, agg_columns: list[str], encoder_cfg: EncoderConfig | None = None
) -> Pipeline:
    """``Pipeline[prep, clf]``; prep scales aggregates and/or encodes the sequence column.

    encoder kind ``none``: aggregates only; ``transformer``/``text``: embedding only;
    ``hybrid``: both, concatenated. Columns in ``UNMODELLED`` are left out.
    """
    kind = encoder_cfg.kind if encoder_cfg else "none"
    agg_columns = [c for c in agg_columns if c not in UNMODELLED]
    parts = []
    if encoder_cfg is not None and kind in ("transformer", "text", "hybrid"):
        parts.append(("seq", make_encoder(encoder_cfg), [SEQUENCE_COLUMN]))
    if kind in ("none", "hybrid"):
        if model_cfg.classifier in LINEAR or kind == "hybrid":
            steps: list = [("log", SignedLog1p()), ("scale", StandardScaler())]
            if model_cfg.classifier in LINEAR and model_cfg.clip_to_training:
                steps.insert(0, ("clip", ClipToTraining()))
            if model_cfg.classifier in LINEAR and model_cfg.spline_knots:
                # GAM-style: risk may rise non-linearly (e.g. with recency); still additive
                steps.append(
                    ("spline", SplineTransformer(n_knots=model_cfg.spline_knots, degree=2))
                )
            agg = Pipeline(steps)
        else:
            agg = "passthrough"
        parts.append(("agg", agg, list(agg_columns)))
    clf = make_classifier(model_cfg)
    if kind == "none" and blends(model_cfg, list(agg_columns)):  # aggregates only (measured)
        # trailing blocks, read by BlendedLogistic: [linear copy of the aggregates,] RFM copy
        # [, BG/NBD's log-odds]
        clip = model_cfg.clip_to_training
        tail: list[int] = []
        Cs: list[float | None] = [model_cfg.C]
        if model_cfg.blend in ("thirds", "quarters"):
            parts.append(("lin", _scaled("_lin", clip), list(agg_columns)))
            tail.append(len(agg_columns))
            Cs.append(LINEAR_MEMBER_C)
        parts.append(("rfm", _scaled("_rfm", clip), list(RFM_COLUMNS)))
        tail.append(len(RFM_COLUMNS))
        Cs.append(RFM_MEMBER_C)
        if model_cfg.blend == "quarters" and BGNBD_FORECAST in agg_columns:
            # BG/NBD's probability of no activity in the horizon, fitted at the cutoff itself
            # and not learned from the training labels: it extrapolates in time when the
            # training cutoffs saw much less history than the forecast (docs/quality.md)
            parts.append(("odds", LogOdds(), [BGNBD_FORECAST]))
            tail.append(1)
            Cs.append(None)
        clf = BlendedLogistic(tuple(tail), tuple(Cs), model_cfg.class_weight)
    prep = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("prep", prep), ("clf", clf)])


def fit_pipeline(
    pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray, progress: Progress | None = None
) -> Pipeline:
    """``pipeline.fit(X, y)``; a sequence encoder inside reports its epochs and batches to
    ``progress`` while it trains, and forgets the callback afterwards (a fitted model must
    not call back into a finished progress bar)."""
    prep = pipeline.named_steps["prep"]
    if progress is None or "seq" not in {name for name, *_ in prep.transformers}:
        return pipeline.fit(X, y)
    done = 0.0

    def forward_only(stage: str, fraction: float) -> None:  # the embedding pass restarts at 0
        nonlocal done
        done = max(done, fraction)
        progress(stage, done)

    pipeline.set_params(prep__seq__progress=forward_only)
    try:
        pipeline.fit(X, y)
    finally:
        pipeline.set_params(prep__seq__progress=None)
        fitted = getattr(prep, "named_transformers_", {}).get("seq")
        if fitted is not None:
            fitted.set_params(progress=None)
    return pipeline


def raw_scores(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """The classifier's uncalibrated score: log-odds / margin, or logit of a probability."""
    clf = pipeline.named_steps["clf"]
    if hasattr(clf, "decision_function"):
        return np.asarray(pipeline.decision_function(X), dtype=np.float64)
    p = np.clip(pipeline.predict_proba(X)[:, 1], 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


_FLAT_SLOPE = 1e-6  # a calibration slope that keeps the order of the scores and little else


@dataclass(frozen=True)
class Calibrator:
    """Maps raw scores to probabilities: Platt (sigmoid), isotonic, or plain logistic."""

    method: str
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    @classmethod
    def fit(cls, scores: np.ndarray, y: np.ndarray, method: str) -> Calibrator:
        scores = np.asarray(scores, dtype=np.float64)
        if method == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, y)
            return cls(
                "isotonic",
                x=tuple(map(float, iso.X_thresholds_)),
                y=tuple(map(float, iso.y_thresholds_)),
            )
        if method == "sigmoid":
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(scores.reshape(-1, 1), y)
            a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
            if a <= 0:  # out of fold, higher scores churned less: calibration must not
                # reverse the model's ranking; keep it with the base rate as probability
                rate = float(np.clip(np.mean(y), 1e-6, 1 - 1e-6))
                a, b = _FLAT_SLOPE, float(np.log(rate / (1 - rate)) - _FLAT_SLOPE * scores.mean())
                logger.warning(
                    "the out-of-fold scores do not rank churners above the others (Platt "
                    "slope <= 0): probabilities are the base rate %.3f, the ranking is the "
                    "model's",
                    rate,
                )
            return cls("sigmoid", a=a, b=b)
        return cls("none")

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        if self.method == "isotonic":
            return np.interp(s, np.asarray(self.x), np.asarray(self.y))
        return 1.0 / (1.0 + np.exp(-(self.a * s + self.b)))


@dataclass(frozen=True, eq=False)
class ChurnModel:
    """A fitted pipeline plus its calibrator; ``predict_proba`` is calibrated churn probability."""

    pipeline: Pipeline
    calibrator: Calibrator
    feature_names: tuple[str, ...]
    event_types: tuple[str, ...]
    max_events: int | None  # sequence length fed to the encoder, None without one

    def raw(self, X: pd.DataFrame) -> np.ndarray:
        return raw_scores(self.pipeline, X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator(self.raw(X))
