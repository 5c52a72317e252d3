"""The outcome report: uplift arithmetic and its interval on a log with a planted treatment
effect, errors that name the fix, and a real split of the bundled retail log."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from churn_core.campaign import plan_campaign, plan_for_run
from churn_core.config import CampaignConfig, ChurnConfig, LabelSpec
from churn_core.datasets import SYNTH_START, Treatment, plant_treatment, synthetic_events
from churn_core.errors import EventDataError
from churn_core.events import EventLog
from churn_core.export import read_export
from churn_core.labels import build_labels
from churn_core.outcome import newcombe_difference, outcome_report, wilson_interval
from churn_core.recommend import recommend_items
from churn_core.targets import risk_tier

T = SYNTH_START + pd.Timedelta(days=190)
H = 30


def test_newcombe_interval_matches_the_published_examples():
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10
    for (k1, n1, k2, n2), (lo, hi) in [
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ]:
        d, a, b = newcombe_difference(k1, n1, k2, n2)
        assert d == pytest.approx(k1 / n1 - k2 / n2)
        assert (round(a, 4), round(b, 4)) == (lo, hi)
    assert wilson_interval(0, 10)[0] == 0.0 and np.isnan(newcombe_difference(1, 0, 1, 2)[0])


@pytest.fixture(scope="module")
def synthetic():
    """An untreated synthetic log and a campaign over everyone seen before T."""
    frame = synthetic_events(n_users=3000, seed=5, events_per_user=25.0)
    hist = frame.loc[frame["timestamp"] < T]
    last = hist.groupby("user_id")["timestamp"].max()
    recency = (T - last).dt.total_seconds().to_numpy() / 86_400.0
    p = recency / (recency + 15.0)
    scores = pd.DataFrame(
        {
            "user_id": last.index.astype(str),
            "churn_probability": p,
            "risk_tier": risk_tier(p, (p.mean(), 2 * p.mean())),
        }
    )
    return frame, scores


def _campaign(scores, seed, tmp_path):
    plan = plan_campaign(
        scores,
        CampaignConfig(value=100, control_share=0.3, seed=seed, size=len(scores)),
        metadata={"as_of": f"{T:%Y-%m-%d %H:%M}", "horizon_days": str(H)},
    )
    return read_export(plan.write(tmp_path / f"c{seed}.csv"))


def test_uplift_arithmetic_and_interval_with_a_planted_effect(synthetic, tmp_path):
    frame, scores = synthetic
    untreated = build_labels(EventLog.from_frame(frame), LabelSpec(horizon_days=H), T)
    save_rate, covered, covered_zero = 0.5, 0, 0
    seeds = range(20)
    for seed in seeds:
        meta, camp = _campaign(scores, seed, tmp_path)
        listed = camp["user_id"]
        planted = save_rate * untreated.reindex(listed).mean()  # the known effect
        treated = tuple(camp.loc[camp["group"] == "treat", "user_id"])
        for rate in (save_rate, 0.0):
            log, saved = plant_treatment(frame, Treatment(treated, T, H, rate, seed=seed))
            log = EventLog.from_frame(log)
            rep = outcome_report(log, camp, meta)
            est, lo, hi = rep.uplift
            if rate == 0.0:
                assert len(saved) == 0
                covered_zero += lo <= 0 <= hi
                continue
            covered += lo <= planted <= hi
            if seed == 0:  # the arithmetic, recomputed from labels built independently
                y = build_labels(log, LabelSpec(horizon_days=H), T).reindex(listed)
                g = camp.set_index("user_id")["group"]
                kc, nc = int(y[g == "control"].sum()), int((g == "control").sum())
                kt, nt = int(y[g == "treat"].sum()), int((g == "treat").sum())
                assert (est, lo, hi) == pytest.approx(newcombe_difference(kc, nc, kt, nt))
                grp = rep.by_group.set_index("group")
                assert grp.loc["control", "churn_rate"] == pytest.approx(kc / nc)
                assert rep.incremental["churners"] == pytest.approx(est * nt)
                assert rep.incremental["value"] == pytest.approx(est * 100 * nt)
                assert len(saved) > 0 and 0.1 < est < 0.4
    # 95 % intervals: 17+ of 20 cover (P(16 or fewer) is about 1.6 % for exact coverage)
    assert covered >= 17, covered
    assert covered_zero >= 17, covered_zero


def test_planted_treatment_changes_only_the_window():
    base = synthetic_events(n_users=600, seed=2, events_per_user=20.0)
    users = tuple(base["user_id"].unique()[::2])
    treat = Treatment(users, T, H, save_rate=1.0)
    frame, truth = synthetic_events(
        n_users=600, seed=2, events_per_user=20.0, treatment=treat, return_truth=True
    )
    before = frame.loc[frame["timestamp"] < T].reset_index(drop=True)
    pd.testing.assert_frame_equal(before, base.loc[base["timestamp"] < T].reset_index(drop=True))
    spec = LabelSpec(horizon_days=H)
    y0 = build_labels(EventLog.from_frame(base), spec, T)
    y1 = build_labels(EventLog.from_frame(frame), spec, T)
    treated = y0.index.isin(users)
    # save rate 1: every treated would-be churner stays; nobody else changes
    assert y0[treated].sum() > 0 and y1[treated].sum() == 0
    pd.testing.assert_series_equal(y1[~treated], y0[~treated])
    assert set(truth.loc[truth["saved_by_treatment"], "user_id"]) == set(
        y0[treated & (y0 == 1)].index
    )


def test_errors_name_the_fix(synthetic, tmp_path):
    frame, scores = synthetic
    log = EventLog.from_frame(frame)
    meta, camp = _campaign(scores, 0, tmp_path)
    with pytest.raises(EventDataError, match="not complete.*shorter --horizon-days"):
        outcome_report(log, camp, meta, horizon_days=60)  # the log ends at day 240
    early = EventLog.from_frame(frame.loc[frame["timestamp"] < T + pd.Timedelta(days=10)])
    with pytest.raises(EventDataError, match="Load events up to"):
        outcome_report(early, camp, meta)
    other = camp.assign(user_id=[f"x{i}" for i in range(len(camp))])
    with pytest.raises(EventDataError, match="another log"):
        outcome_report(log, other, meta)
    with pytest.raises(EventDataError, match="group"):
        outcome_report(log, camp.drop(columns=["group"]), meta)
    with pytest.raises(EventDataError, match="--as-of"):
        outcome_report(log, camp, {"horizon_days": "30"})
    # a few unknown ids are counted by reason, not silently dropped
    some = camp.copy()
    some.loc[:9, "user_id"] = [f"x{i}" for i in range(10)]
    rep = outcome_report(log, some, meta)
    assert sum(rep.excluded.values()) == 10 and len(rep.users) == len(camp) - 10


def test_outcome_on_a_real_split_of_the_bundled_retail_log(tmp_path):
    """Campaign at T from events before T; outcomes from after. Realised churn rises with
    tier and the realised ROC-AUC is the one ``evaluate`` reports for the same cutoff."""
    from churn_core.datasets import load_demo
    from churn_core.evaluation import evaluate
    from churn_core.pipeline import train

    log = load_demo()
    cutoff = pd.Timestamp("2011-09-10")
    cfg = ChurnConfig().with_(label={"horizon_days": 90})
    run = train(log.before(cutoff), cfg, cutoff)
    plan = plan_for_run(run, log, campaign=CampaignConfig(size=len(run.scores)))
    meta, camp = read_export(plan.write(tmp_path / "retail.csv"))
    assert camp["reason_1"].notna().mean() > 0.99 and camp["action"].nunique() >= 3
    # the log has items (StockCode): five recommended items per listed user, from before T
    items = [f"recommended_item_{i}" for i in range(1, 6)]
    assert list(camp.columns[-6:-1]) == items and camp[items[0]].notna().all()
    some = camp["user_id"].iloc[:50].tolist()
    expected = recommend_items(log.before(cutoff), cutoff, some)
    got = camp.set_index("user_id").loc[some, items]
    assert got.fillna("").astype(str).equals(expected[items].fillna("").astype(str))
    rep = outcome_report(log, camp, meta)
    report = evaluate(log, cfg, cutoff)
    assert rep.roc_auc == pytest.approx(report.loc[0, "roc_auc"], abs=1e-9)
    assert rep.pr_auc == pytest.approx(report.loc[0, "pr_auc"], abs=1e-9)
    assert len(rep.users) == report.loc[0, "n"]
    rates = rep.by_tier["churn_rate"].to_numpy()
    assert len(rates) == 3 and np.all(np.diff(rates) > 0)  # low < medium < high
    cal = rep.calibration
    assert len(cal) == 10 and spearmanr(cal["decile"], cal["churn_rate"])[0] > 0.9
    assert rep.to_dict()["roc_auc"] == pytest.approx(rep.roc_auc, abs=1e-6)
