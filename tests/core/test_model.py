"""Pipeline, calibration, validation and search on small synthetic data with a known signal."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from churn_core.backtest import backtest
from churn_core.blend import ClipToTraining
from churn_core.config import ChurnConfig, ModelConfig
from churn_core.crossval import cross_validate
from churn_core.errors import EventDataError
from churn_core.labels import label_summary
from churn_core.metrics import auc_difference, max_f1_threshold, score_metrics, top_decile_lift
from churn_core.model import Calibrator, build_pipeline
from churn_core.pipeline import check_trainable, train
from churn_core.search import search
from churn_core.table import FeatureTable
from tests.core.test_leakage import _base_log


def _table(n=1500, seed=0) -> FeatureTable:
    """Churn depends on recency (strongly) and spend (weakly); noise features add nothing."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "recency_days": rng.exponential(30, n),
            "monetary": rng.gamma(2, 50, n),
            "noise_a": rng.normal(size=n),
            "noise_b": rng.normal(size=n),
        }
    )
    logit = 0.06 * (X["recency_days"] - 30) - 0.004 * (X["monetary"] - 100)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    users = np.array([f"u{i % (n // 2)}" for i in range(n)])  # each user at two cutoffs
    cut = np.where(np.arange(n) < n // 2, np.datetime64("2024-01-01"), np.datetime64("2024-02-01"))
    return FeatureTable(X, y.astype(np.int8), users, cut)


@pytest.mark.parametrize("classifier", ["logreg", "svm", "hgb", "rf"])
def test_every_classifier_learns_the_signal_and_is_calibrated(classifier):
    table = _table()
    cfg = ModelConfig(classifier=classifier, n_estimators=100, cv_folds=3)
    result, _ = cross_validate(table, cfg)
    auc = result.summary.loc["roc_auc", "mean"]
    X = table.X  # the true churn logit gives the best ROC-AUC any model can reach here
    oracle = roc_auc_score(table.y, 0.06 * X["recency_days"] - 0.004 * X["monetary"])
    assert auc > oracle - 0.03, (auc, oracle)
    # calibrated: Brier beats the constant "base rate" forecast by a wide margin
    base = np.mean((table.y - table.y.mean()) ** 2)
    assert result.summary.loc["brier", "mean"] < 0.8 * base
    assert len(result.folds) == 3


def test_folds_never_split_a_user():
    from churn_core.crossval import _folds

    table = _table()
    for tr, va in _folds(table, 5, 0):
        assert not set(table.user_id[tr]) & set(table.user_id[va])


def test_pipeline_clones_and_is_seeded():
    table = _table()
    pipe = build_pipeline(ModelConfig(classifier="hgb", n_estimators=50), table.feature_names)
    a = clone(pipe).fit(table.X, table.y).predict_proba(table.X)
    b = clone(pipe).fit(table.X, table.y).predict_proba(table.X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrator_fixes_a_miscalibrated_score(method):
    rng = np.random.default_rng(0)
    p_true = rng.uniform(0.05, 0.95, 20000)
    y = (rng.random(20000) < p_true).astype(int)
    raw = 3 * np.log(p_true / (1 - p_true)) + 1  # overconfident and shifted
    cal = Calibrator.fit(raw, y, method)
    naive = 1 / (1 + np.exp(-raw))
    assert np.mean((cal(raw) - y) ** 2) < np.mean((naive - y) ** 2) - 0.005
    assert abs(cal(raw).mean() - y.mean()) < 0.01


def test_sigmoid_calibration_never_reverses_the_ranking():
    """Out-of-fold scores that rank churners *below* the others (a model fitted on noise)
    must not be turned upside down by a negative Platt slope: the ranking stays the model's
    and the probability is the base rate."""
    rng = np.random.default_rng(1)
    y = (rng.random(5000) < 0.3).astype(int)
    raw = -1.5 * y + rng.normal(0, 1, 5000)  # anti-correlated
    cal = Calibrator.fit(raw, y, "sigmoid")
    p = cal(raw)
    assert np.all(np.diff(p[np.argsort(raw)]) >= 0)  # monotone increasing in the raw score
    assert abs(p.mean() - y.mean()) < 0.01 and p.std() < 0.01
    honest = Calibrator.fit(-raw, y, "sigmoid")  # the same scores, the right way round
    assert honest.a > 0.5


def test_linear_members_do_not_extrapolate_beyond_the_training_range():
    """A user scored with twice the largest training spend gets the score of the largest
    (``ClipToTraining``); without clipping the learned slope carries on."""
    table = _table()
    cfg = ModelConfig(spline_knots=0)  # a plain linear model: the spline basis is flat anyway
    top = table.X.loc[[table.X["monetary"].idxmax()]]
    far = top.assign(monetary=top["monetary"] * 2)
    clipped = build_pipeline(cfg, table.feature_names).fit(table.X, table.y)
    assert clipped.decision_function(far)[0] == pytest.approx(clipped.decision_function(top)[0])
    free = build_pipeline(replace(cfg, clip_to_training=False), table.feature_names)
    free.fit(table.X, table.y)
    assert free.decision_function(far)[0] < free.decision_function(top)[0] - 0.1
    clip = ClipToTraining().fit(np.array([[1.0, np.nan], [3.0, np.nan]]))
    np.testing.assert_array_equal(
        clip.transform(np.array([[0.0, 5.0], [9.0, np.nan]])), [[1.0, 5.0], [3.0, np.nan]]
    )


def test_metrics_against_hand_computed_values():
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.1, 0.6, 0.2, 0.3, 0.1, 0.2, 0.1])
    m = score_metrics(y, p, threshold=0.5)
    assert m["precision"] == pytest.approx(3 / 4) and m["recall"] == 1.0
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert top_decile_lift(y, p) == pytest.approx(1 / 0.3)
    assert max_f1_threshold(y, p) == pytest.approx(0.6)


def test_backtest_trains_only_on_closed_windows():
    table = _table()
    cut = np.where(
        np.arange(len(table.y)) < 750, np.datetime64("2023-10-01"), np.datetime64("2024-02-01")
    )
    table = FeatureTable(table.X, table.y, table.user_id, cut)
    res = backtest(table, ModelConfig(cv_folds=3), horizon_days=90)
    assert res is not None and len(res.y_true) == (cut == cut.max()).sum()
    assert "overlap" not in " ".join(res.notes)
    assert res.folds.loc["out-of-time", "roc_auc"] > 0.8


def test_search_reports_every_setting_and_returns_the_best():
    table = _table()
    best, tried = search(table, ModelConfig(classifier="logreg", cv_folds=3, search_iter=8))
    assert len(tried) == 8 and tried["roc_auc"].is_monotonic_decreasing
    assert tried.iloc[0]["C"] == best.C


def test_thin_data_gives_a_clear_error():
    table = FeatureTable(
        pd.DataFrame({"a": [1.0] * 10}),
        np.array([0] * 9 + [1], np.int8),
        np.arange(10).astype(str),
        np.zeros(10),
    )
    with pytest.raises(EventDataError, match="Too few examples.*1 churned"):
        check_trainable(table, pd.DataFrame({"cutoff": [1]}), 30)


def test_train_on_a_log_too_short_for_the_horizon_says_so():
    log = _base_log(n_users=20)
    cfg = ChurnConfig().with_(label={"horizon_days": 365})
    with pytest.raises(EventDataError, match="too short for a 365-day horizon"):
        train(log, cfg, pd.Timestamp("2023-06-01"))


def test_train_scores_every_user_seen_before_as_of():
    log = _base_log(n_users=200)
    as_of = pd.Timestamp("2023-10-01")
    run = train(log, ChurnConfig().with_(label={"horizon_days": 30}), as_of)
    seen = set(log.frame.loc[log.frame["timestamp"] < as_of, "user_id"])
    assert set(run.scores["user_id"]) == seen
    assert run.scores["churn_probability"].is_monotonic_decreasing
    assert list(run.scores.columns[:2]) == ["user_id", "churn_probability"]
    # the run's label summary (counted from its training table) equals the standalone one
    spec = run.config.label
    pd.testing.assert_frame_equal(run.labels, label_summary(log.before(as_of), spec, as_of))
    flagged = run.targets("top_k", top_k=10)
    assert len(flagged.users) == 10
    assert flagged.headline()["expected_churners"] == pytest.approx(
        run.scores["churn_probability"].head(10).sum()
    )


def test_sample_users_keeps_whole_users_and_caps_rows():
    table = _table(n=2000)
    small = table.sample_users(500, seed=0)
    assert 300 <= len(small.y) <= 700
    kept = set(small.user_id)
    assert np.isin(table.user_id, list(kept)).sum() == len(small.y)  # every row of a kept user
    assert table.sample_users(5000) is table


def test_auc_difference_and_its_paired_bootstrap_error() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    y = (rng.random(n) < 0.3).astype(int)
    signal = y + rng.normal(0, 1.0, n)
    better, worse = signal + rng.normal(0, 0.3, n), signal + rng.normal(0, 1.5, n)
    diff, se = auc_difference(y, better, worse)
    assert diff == pytest.approx(roc_auc_score(y, better) - roc_auc_score(y, worse), abs=1e-12)
    assert diff > 3 * se > 0  # a real improvement stands clear of the noise
    same, se_same = auc_difference(y, better, better)
    assert same == 0.0 and se_same == 0.0
    # the error shrinks like 1 / sqrt(n): a quarter of the users, about twice the error
    _, se_small = auc_difference(y[:500], better[:500], worse[:500])
    assert 1.5 < se_small / se < 2.8  # ~ sqrt(2000 / 500) = 2
