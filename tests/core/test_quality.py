"""Forecast quality on real logs, graded like the independent referee (../shared/referee).

Train on events before T only, score as of T, grade against what happened in [T, T+H),
next to baselines trained the same way in the same run.
"""

import importlib.util

import pandas as pd
import pytest

from churn_core.config import ChurnConfig
from churn_core.evaluation import evaluate
from churn_core.pipeline import train

pytestmark = pytest.mark.slow

RETAIL = ("2011-09-10", 90)
TMALL = ("2013-07-16", 31)
# RFM + logistic regression under the referee's protocol (figures quoted in the issue)
PUBLISHED_RFM_LOGREG = {"retail": (0.741, 0.631)}


def _rows(report: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        "project": report.iloc[0],
        "recency": report.set_index("model").loc["baseline: recency alone"],
        "rfm": report.set_index("model").loc["baseline: RFM + logistic regression"],
    }


@pytest.fixture(scope="module")
def retail_report(retail_log):
    cfg = ChurnConfig().with_(label={"horizon_days": RETAIL[1]})
    return evaluate(retail_log, cfg, pd.Timestamp(RETAIL[0]))


def test_retail_forecast_beats_recency_and_the_published_rfm_baseline(retail_report):
    r = _rows(retail_report)
    assert r["project"]["n"] == 3370  # the referee's population: purchasers before T
    assert r["project"]["roc_auc"] > r["recency"]["roc_auc"] + 0.04
    roc, pr = PUBLISHED_RFM_LOGREG["retail"]
    assert r["project"]["roc_auc"] >= roc and r["project"]["pr_auc"] >= pr
    # never meaningfully worse than our own RFM + logreg trained on the same cutoffs
    assert r["project"]["roc_auc"] >= r["rfm"]["roc_auc"] - 0.005
    assert r["project"]["brier"] < 0.25 * 0.95  # well below an uninformed 0.5 forecast


def test_tmall_forecast_beats_the_baselines(tmall_log):
    # judged against baselines in the same run (the old absolute 0.88 bar was met by the
    # previous default at this one cutoff and lost elsewhere: see docs/quality.md)
    cfg = ChurnConfig().with_(label={"horizon_days": TMALL[1]})
    r = _rows(evaluate(tmall_log, cfg, pd.Timestamp(TMALL[0])))
    assert r["project"]["n"] == 860
    assert r["project"]["roc_auc"] > r["recency"]["roc_auc"] + 0.01
    assert r["project"]["roc_auc"] >= r["rfm"]["roc_auc"]
    assert r["project"]["pr_auc"] > 2 * r["project"]["churn_rate"]


def test_evaluate_agrees_with_the_referee(retail_log, retail_report, shared_data):
    """Grade the same scores with the referee's own code: the numbers must match."""
    path = shared_data.parent / "referee" / "reference.py"
    if not path.exists():
        pytest.skip("referee not found")
    spec = importlib.util.spec_from_file_location("reference", path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    t, h = pd.Timestamp(RETAIL[0]), pd.Timedelta(days=RETAIL[1])
    ev = ref.load(f"retail={shared_data / 'uci-online-retail' / 'online_retail.csv.gz'}")
    x_test = ref.features(ev, t)
    y_test = ref.labels(ev, x_test.index, t, t + h)
    run = train(retail_log.before(t), ChurnConfig().with_(label={"horizon_days": 90}), t)
    scores = run.scores.set_index("user_id")["churn_probability"]
    graded = ref.metrics(y_test, scores.reindex(y_test.index))
    ours = _rows(retail_report)["project"]
    assert graded["n"] == ours["n"]
    assert graded["roc_auc"] == pytest.approx(ours["roc_auc"], abs=1e-3)
    assert graded["pr_auc"] == pytest.approx(ours["pr_auc"], abs=1e-3)
    referee_recency = ref.metrics(y_test, x_test.recency)["roc_auc"]
    assert referee_recency == pytest.approx(_rows(retail_report)["recency"]["roc_auc"], abs=1e-3)


# The original design's pipeline (pretrained MiniLM pooled output + logistic regression),
# measured on the same Tmall split and quoted in the Transformer issue: ROC-AUC, PR-AUC.
MINILM_TMALL = (0.826, 0.249)


def test_ladder_on_tmall_transformer_beats_the_original_design(tmall_log):
    cfg = ChurnConfig().with_(label={"horizon_days": TMALL[1]})
    report = evaluate(tmall_log, cfg, pd.Timestamp(TMALL[0]), ladder=True).set_index("model")
    rungs = [
        "aggregates + hgb",
        "transformer + logreg",
        "transformer fine-tuned + logreg",
        "hybrid",
        "baseline: recency alone",
        "baseline: RFM + logistic regression",
    ]
    assert set(rungs) < set(report.index) and (report["n"] == 860).all()
    for name in ("transformer + logreg", "transformer fine-tuned + logreg"):
        assert report.loc[name, "roc_auc"] > MINILM_TMALL[0], name
        assert report.loc[name, "pr_auc"] > MINILM_TMALL[1], name
    # the embedding must not wreck the aggregates it is added to
    project = report.iloc[0]
    assert report.loc["hybrid", "roc_auc"] >= project["roc_auc"] - 0.01
    assert report.loc["hybrid", "roc_auc"] > report.loc["baseline: recency alone", "roc_auc"]
