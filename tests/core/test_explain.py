"""SHAP explanations: additivity per explainer type, factor grouping, the explain CLI text."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from churn_core.config import ChurnConfig
from churn_core.errors import EventDataError
from churn_core.events import EventLog
from churn_core.explain import (
    SEQUENCE_FACTOR,
    explain_model,
    explain_run,
    explained_output,
    sample_background,
)
from churn_core.explain_user import explain_user_text
from churn_core.pipeline import train
from tests.conftest import DEMO

RETAIL = DEMO  # UCI Online Retail, bundled with the package
AS_OF = pd.Timestamp("2024-07-01")


def small_log(n_users: int = 300, seed: int = 0) -> EventLog:
    """Purchases with amounts; half the users stop buying early (they churn)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        stops = u % 2 == 0
        end = pd.Timestamp("2024-03-01") if stops else AS_OF
        t = pd.Timestamp("2023-06-01") + pd.Timedelta(days=int(rng.integers(0, 60)))
        while t < end:
            rows.append((f"u{u}", t, "purchase", float(rng.gamma(2.0, 20.0))))
            if rng.random() < 0.3:
                rows.append((f"u{u}", t + pd.Timedelta(hours=1), "view", 0.0))
            t += pd.Timedelta(days=float(rng.exponential(12.0)) + 1.0)
    frame = pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "amount"])
    return EventLog.from_frame(frame)


@pytest.fixture(scope="module")
def log() -> EventLog:
    return small_log()


def _run(log: EventLog, classifier: str):
    cfg = ChurnConfig().with_(
        label={"horizon_days": 60}, model={"classifier": classifier, "n_estimators": 40}
    )
    return train(log, cfg, as_of=AS_OF)


@pytest.mark.parametrize(
    ("classifier", "units"),
    [("logreg", "log-odds"), ("svm", "margin"), ("hgb", "log-odds"), ("rf", "probability")],
)
def test_additivity_per_explainer(log: EventLog, classifier: str, units: str) -> None:
    run = _run(log, classifier)
    expl = explain_run(run)
    X = run.features.drop(columns=["user_id"])
    target = explained_output(run.model, X)
    np.testing.assert_allclose(expl.output.to_numpy(), target, atol=1e-6)
    assert expl.units == units
    assert list(expl.values.index) == run.scores["user_id"].tolist()
    assert expl.values.index.equals(expl.data.index)
    assert expl.values.index.equals(expl.reasons.index)
    if classifier != "rf":  # the raw score itself (log-odds / margin)
        np.testing.assert_allclose(expl.output.to_numpy(), run.model.raw(X), atol=1e-6)


@pytest.mark.slow
def test_model_agnostic_explainer_is_additive(log: EventLog) -> None:
    """A classifier without a dedicated explainer falls back to the permutation explainer."""
    from sklearn.naive_bayes import GaussianNB

    run = _run(log, "hgb")
    X = run.features.drop(columns=["user_id"])
    pipe = run.model.pipeline
    y = (run.scores["churn_probability"] > 0.5).astype(int).to_numpy()
    pipe.set_params(clf=GaussianNB()).fit(X, y)
    expl = explain_model(run.model, X.iloc[:5], run.features["user_id"][:5], X.iloc[:20])
    np.testing.assert_allclose(expl.output.to_numpy(), run.model.raw(X.iloc[:5]), atol=1e-6)


def test_waterfall_drivers_and_tiers(log: EventLog) -> None:
    run = _run(log, "logreg")
    expl = explain_run(run, max_users=100, max_background=50)
    assert len(expl.values) == 100
    uid = run.scores["user_id"][0]
    wf = expl.waterfall(uid)
    assert list(wf.columns) == ["factor", "value", "contribution"]
    assert (np.diff(wf["contribution"].abs().to_numpy()) <= 1e-12).all()
    assert wf.attrs["output"] == pytest.approx(wf.attrs["base_value"] + wf["contribution"].sum())
    g = expl.global_drivers()
    assert list(g.columns) == ["factor", "description", "mean_abs_shap", "direction"]
    assert g["mean_abs_shap"].is_monotonic_decreasing
    assert set(g["direction"]) <= {"raises risk", "lowers risk"}
    tiers = run.scores.set_index("user_id")["risk_tier"]
    by_tier = expl.drivers_by_tier(tiers)
    assert set(by_tier.index) <= {"low", "medium", "high"}
    assert list(by_tier.columns) == list(expl.values.columns)


def test_background_is_bounded_and_seeded(log: EventLog) -> None:
    X = pd.DataFrame({"a": np.arange(5000.0)})
    a, b = sample_background(X, 1000), sample_background(X, 1000)
    assert len(a) == 1000 and a.index.equals(b.index)
    assert len(sample_background(X.iloc[:10], 1000)) == 10
    assert a["a"].is_monotonic_increasing and a["a"].is_unique  # rows in table order


def test_background_of_batches_is_the_background_of_the_whole_table() -> None:
    from churn_core.explain import BackgroundSample

    X = pd.DataFrame({"a": np.arange(5000.0)})
    whole = sample_background(X, 300)
    streamed = BackgroundSample(300)
    for start in (0, 7, 1200, 1201, 4000):  # uneven batches, one of a single row
        streamed.add(X.iloc[start : {0: 7, 7: 1200, 1200: 1201, 1201: 4000}.get(start, 5000)])
    assert streamed.frame().index.equals(whole.index)
    # and it is a spread-out sample, not the first rows: every fifth of the table is in it
    assert (np.bincount((whole["a"].to_numpy() // 1000).astype(int), minlength=5) > 30).all()


def test_embedding_columns_become_one_factor() -> None:
    from churn_core.explain import _grouping

    factors, G = _grouping(["emb_0", "emb_1", "recency_days", "emb_2"])
    assert factors == [SEQUENCE_FACTOR, "recency_days"]
    assert G.sum(axis=0).tolist() == [3.0, 1.0]
    assert not any(f.startswith("emb_") for f in factors)


def test_explain_user_text_and_unknown_user(log: EventLog) -> None:
    run = _run(log, "hgb")
    uid = run.scores["user_id"][0]
    text = explain_user_text(run.model, log, AS_OF, run.config, uid)
    assert f"user {uid}" in text and "churn probability" in text and "reasons:" in text
    assert "contribution" in text
    with pytest.raises(EventDataError) as err:
        explain_user_text(run.model, log, AS_OF, run.config, "nobody")
    assert "user_id" in err.value.one_line() and "\n" not in err.value.one_line()


@pytest.mark.slow
def test_retail_global_drivers() -> None:
    from churn_core.ingest import load_events

    log = load_events(str(RETAIL))
    run = train(
        log,
        ChurnConfig().with_(label={"horizon_days": 90}, model={"classifier": "logreg"}),
        as_of=pd.Timestamp("2011-09-10"),
    )
    g = explain_run(run).global_drivers().set_index("factor")
    assert g["mean_abs_shap"].is_monotonic_decreasing
    assert g.loc["overdue_ratio", "direction"] == "raises risk"
    assert g.loc["decayed_days_90", "direction"] == "lowers risk"


@pytest.mark.skipif(
    importlib.util.find_spec("churn_core.datasets") is None,
    reason="TODO: churn_core.datasets (synthetic_events, PLANTED_DRIVER) is not written yet",
)
@pytest.mark.slow
def test_planted_driver_ranks_first() -> None:
    datasets = pytest.importorskip("churn_core.datasets")
    log = EventLog.from_frame(datasets.synthetic_events())
    cfg = ChurnConfig().with_(label={"horizon_days": 30}, model={"classifier": "hgb"})
    run = train(log, cfg)
    top = explain_run(run).global_drivers()["factor"].iloc[0]
    assert top == datasets.PLANTED_DRIVER
