"""The default blend (spline, linear and RFM logistic regressions and BG/NBD's own forecast)
and the run's comparison with RFM + logistic regression."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from churn_core.backtest import baseline_verdict, compare_with_baseline
from churn_core.blend import BlendedLogistic
from churn_core.config import ChurnConfig
from churn_core.datasets import synthetic_log
from churn_core.features import pick_event_types
from churn_core.ingest import load_events
from churn_core.labels import training_cutoffs
from churn_core.model import (
    BGNBD_FORECAST,
    RFM_COLUMNS,
    UNMODELLED,
    build_pipeline,
    rfm_pipeline,
)
from churn_core.pipeline import train
from churn_core.purchase_logs import START, purchase_log
from churn_core.table import training_table


@pytest.fixture(scope="module")
def table():
    log = synthetic_log(n_users=800, days=240, seed=3)
    spec = ChurnConfig().with_(label={"horizon_days": 30}).label
    as_of = log.default_as_of()
    hist = log.before(as_of)
    return training_table(
        hist, spec, training_cutoffs(hist, spec, as_of), pick_event_types(hist.frame)
    )


def test_blend_is_one_linear_score_with_the_baseline_and_bgnbd_among_its_members(table):
    cfg = ChurnConfig().model
    pipe = build_pipeline(cfg, table.feature_names).fit(table.X, table.y)
    clf = pipe.named_steps["clf"]
    assert isinstance(clf, BlendedLogistic) and len(clf.members_) == 4
    Z = pipe[:-1].transform(table.X)
    members = clf.member_scores(Z)
    # the blend is the plain average of its members' log-odds, and linear in the inputs
    np.testing.assert_allclose(pipe.decision_function(table.X), members.mean(axis=1), atol=1e-9)
    # its RFM member is RFM + logistic regression as the baseline fits it: the same
    # objective, solved by Newton steps instead of L-BFGS (equal up to the solvers' tolerance)
    rfm = rfm_pipeline().fit(table.X, table.y).decision_function(table.X)
    np.testing.assert_allclose(members[:, -2], rfm, atol=0.05)
    assert np.corrcoef(members[:, -2], rfm)[0, 1] > 0.9999
    # the last member learns nothing from the labels: BG/NBD's own log-odds of a quiet horizon
    p = table.X[BGNBD_FORECAST].to_numpy()
    np.testing.assert_allclose(members[:, -1], np.log(p / (1 - p)), rtol=1e-9)
    flipped = build_pipeline(cfg, table.feature_names).fit(table.X, 1 - table.y)
    np.testing.assert_allclose(flipped.named_steps["clf"].member_scores(Z)[:, -1], members[:, -1])
    names = list(pipe[:-1].get_feature_names_out())
    assert names[-len(RFM_COLUMNS) - 1 : -1] == [f"{c}_rfm" for c in RFM_COLUMNS]
    assert names[-1] == f"{BGNBD_FORECAST}_odds"
    # every aggregate but the ones left out of the model (a cohort's tenure share drifts)
    modelled = [c for c in table.feature_names if c not in UNMODELLED]
    assert [n[: -len("_lin")] for n in names if n.endswith("_lin")] == modelled
    assert "tenure_over_history" in table.feature_names and UNMODELLED == ("tenure_over_history",)
    assert not any(n.startswith("tenure_over_history") for n in names)


def test_blend_none_rfm_and_thirds_are_the_smaller_models(table):
    cfg = ChurnConfig().model
    plain = build_pipeline(replace(cfg, blend="none"), table.feature_names)
    assert type(plain.named_steps["clf"]) is LogisticRegression
    half = build_pipeline(replace(cfg, blend="rfm"), table.feature_names).fit(table.X, table.y)
    assert len(half.named_steps["clf"].members_) == 2
    thirds = build_pipeline(replace(cfg, blend="thirds"), table.feature_names)
    assert len(thirds.fit(table.X, table.y).named_steps["clf"].members_) == 3
    without_bgnbd = [c for c in table.feature_names if c != BGNBD_FORECAST]
    fallback = build_pipeline(cfg, without_bgnbd).fit(table.X[without_bgnbd], table.y)
    assert len(fallback.named_steps["clf"].members_) == 3  # no BG/NBD column: the thirds
    with pytest.raises(ValueError, match="blend must be one of"):
        replace(cfg, blend="average")


def test_comparison_with_the_baseline_says_which_is_better():
    rng = np.random.default_rng(1)
    n = 6000  # above the bootstrap sample size: the error is scaled from a sample
    y = (rng.random(n) < 0.4).astype(int)
    good, poor = y + rng.normal(0, 0.8, n), y + rng.normal(0, 1.6, n)
    table = compare_with_baseline(y, good, poor)
    assert table.loc["roc_auc", "verdict"] == "better"
    assert table.loc["roc_auc", "difference"] > 3 * table.loc["roc_auc", "se"] > 0
    assert "earn their keep" in baseline_verdict(table)
    swapped = compare_with_baseline(y, poor, good)
    assert (swapped["verdict"] == "worse").all()
    assert "ranks customers better" in baseline_verdict(swapped)
    same = compare_with_baseline(y, good, good + 1e-12 * rng.normal(size=n))
    assert (same["verdict"] == "level").all()
    assert "too few" in baseline_verdict(None)


def test_training_run_reports_the_comparison(table):
    from churn_core.backtest import backtest

    res = backtest(table, ChurnConfig().model, horizon_days=30)
    assert res is not None and isinstance(res.baseline, pd.DataFrame)
    assert res.baseline.loc["roc_auc", "model"] == pytest.approx(res.folds["roc_auc"].iloc[0])
    assert 0.5 < res.baseline.loc["roc_auc", "baseline"] < 1.0


def test_run_warns_when_training_saw_a_small_share_of_the_history(tmp_path):
    """Trained at 2020-03-09 with H = 56 on the open shop, the newest training cutoff has 7
    days of history and the forecast 63: the run says so; with H = 14 (49 of 63 days) not."""
    path = tmp_path / "open.csv"
    purchase_log("open", 0, users=6000).to_csv(path, index=False)
    log = load_events(path)
    as_of = START + pd.Timedelta(weeks=9)
    short = train(log, ChurnConfig().with_(label={"horizon_days": 56}), as_of, score_all=False)
    assert short.history_days == pytest.approx((7.0, 63.0), abs=0.01)  # log starts 00:01
    assert "7 days of log history; the forecast has 63 (11%)" in short.history_note()
    assert "leans on BG/NBD's forecast" in short.history_note()
    assert "noisier ranking" in short.history_note()
    # it also fitted rows labelled over half the 63 days; graded are the 56-day rows only
    assert short.helper_horizon == 31 and "labelled over 31 days" in short.history_note()
    assert len(short.cv.y_true) == short.labels["eligible"].sum()
    assert short.cv.y_true.sum() == short.labels["churned"].sum()
    cfg = ChurnConfig().with_(label={"horizon_days": 56}, model={"blend": "thirds"})
    thirds = train(log, cfg, as_of, score_all=False)
    assert "may not carry over" in thirds.history_note()  # no BG/NBD member to lean on
    fine = train(log, ChurnConfig().with_(label={"horizon_days": 14}), as_of, score_all=False)
    assert fine.history_days == pytest.approx((49.0, 63.0), abs=0.01)
    assert fine.history_note() is None and fine.helper_horizon is None


def test_run_warns_when_its_training_customers_had_not_come_back_yet(tmp_path):
    """The replenishment shop 44 days in, H = 30: the newest training cutoff sees 14 of 44
    days (32 %, not short), but few of its customers had come back yet. The run fits the
    helper rows over 22 days and its note gives the two shares of repeat customers."""
    path = tmp_path / "replenish.csv"
    purchase_log("replenish", 1, users=6000).to_csv(path, index=False)
    log = load_events(path)
    cfg = ChurnConfig().with_(label={"horizon_days": 30})
    run = train(log, cfg, START + pd.Timedelta(days=44), score_all=False)
    trained, forecast = run.history_days
    assert trained >= 0.25 * forecast and run.helper_horizon == 22
    then, now = run.repeat_shares
    assert then < 0.25 * now and now > 0.3
    note = run.history_note()
    assert f"{then:.0%} of the customers had been active on two days or more" in note
    assert f"at the forecast {now:.0%}" in note and "labelled over 22 days" in note
    # 49 days in with H = 14 the training customers had come back: no helpers, no note
    fine = train(
        log,
        ChurnConfig().with_(label={"horizon_days": 14}),
        START + pd.Timedelta(days=49),
        score_all=False,
    )
    assert fine.repeat_shares is None and fine.helper_horizon is None
    assert fine.history_note() is None
