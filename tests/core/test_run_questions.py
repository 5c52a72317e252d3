"""Decisions the pages used to make, now asked of the core: thin data, tier legend, one user's
row, reasons joined to the target list."""

from __future__ import annotations

import pandas as pd
import pytest

from churn_core.config import ChurnConfig
from churn_core.datasets import synthetic_log
from churn_core.labels import THIN_CLASS, THIN_ROWS, label_summary, thin_data_warning
from churn_core.pipeline import train
from churn_core.targets import join_reasons, tier_legend


def _labels(eligible: int, churned: int) -> pd.DataFrame:
    return pd.DataFrame({"eligible": [eligible], "churned": [churned]})


@pytest.mark.parametrize(
    ("eligible", "churned", "thin"),
    [
        (10_000, 2_000, False),
        (THIN_ROWS - 1, 90, True),  # too few rows in all
        (10_000, THIN_CLASS - 1, True),  # too few churned
        (10_000, 10_000 - THIN_CLASS + 1, True),  # too few stayed
        (THIN_ROWS, THIN_CLASS, False),  # exactly at the limits
    ],
)
def test_thin_data_rule(eligible, churned, thin):
    text = thin_data_warning(_labels(eligible, churned))
    assert (text is not None) is thin
    if thin:
        assert f"{churned} churned, {eligible - churned} stayed" in text


def test_no_cutoff_is_not_called_thin():
    assert thin_data_warning(_labels(0, 0).iloc[:0]) is None


@pytest.fixture(scope="module")
def run():
    log = synthetic_log(n_users=300, days=200, seed=1)
    return log, train(log, ChurnConfig().with_(label={"horizon_days": 30}))


def test_thin_rule_on_a_real_label_table(run):
    log, r = run
    labels = label_summary(log, r.config.label, log.default_as_of())
    rows, pos = int(labels["eligible"].sum()), int(labels["churned"].sum())
    expect_thin = rows < THIN_ROWS or min(pos, rows - pos) < THIN_CLASS
    assert (thin_data_warning(labels) is not None) is expect_thin


def test_run_tier_legend_and_one_users_row(run):
    _, r = run
    prob = r.scores["churn_probability"].to_numpy()
    assert r.tier_legend() == tier_legend(prob, r.config.targeting)
    top = r.scores.iloc[0]
    row = r.user_row(top["user_id"])
    assert row["churn_probability"] == pytest.approx(prob.max())
    text = r.describe_user(top["user_id"])
    assert f"**{top['user_id']}**" in text and f"{prob.max():.3f}" in text
    assert f"({top['risk_tier']} risk)" in text
    with pytest.raises(KeyError, match="nobody"):
        r.user_row("nobody")


def test_targets_with_reasons(run):
    _, r = run
    users = r.scores["user_id"].iloc[:3].tolist()
    reasons = pd.DataFrame(
        {"reason_1": ["a", "b", "c"], "reason_2": ["d", "e", "f"]}, index=pd.Index(users)
    )
    plain = r.targets("top_k", top_k=5)
    joined = r.targets("top_k", top_k=5, reasons=reasons)
    assert list(joined.users["user_id"]) == list(plain.users["user_id"])  # same users, order
    assert list(joined.users["reason_1"].iloc[:3]) == ["a", "b", "c"]
    assert joined.users["reason_1"].iloc[3:].isna().all()  # not explained: empty, not dropped
    assert joined.metadata == plain.metadata
    # already carrying reasons (e.g. scores from `churn score`): unchanged
    again = joined.with_reasons(reasons.assign(reason_1="x"))
    assert again is joined
    assert plain.with_reasons(None) is plain


def test_join_reasons_matches_numeric_user_ids():
    scores = pd.DataFrame({"user_id": ["17850", "12347"], "churn_probability": [0.9, 0.1]})
    reasons = pd.DataFrame({"reason_1": ["late", "fine"]}, index=pd.Index([12347, 17850]))
    out = join_reasons(scores, reasons)
    # matched by id (the explanation's integer ids vs the scores' strings), score order kept
    assert list(out["reason_1"]) == ["fine", "late"]
    assert list(out["user_id"]) == ["17850", "12347"]
