"""Plain-language reasons: coverage and numbers recomputed from the users' raw events."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from churn_core.config import ChurnConfig
from churn_core.reasons import LOWERS, RAISES, REASON_COLUMNS, phrase, top_reasons
from tests.conftest import DEMO

RETAIL = DEMO  # UCI Online Retail, bundled with the package
AS_OF = pd.Timestamp("2011-09-10")


def test_top_reasons_order_sign_and_themes() -> None:
    values = pd.DataFrame(
        {
            "recency_days": [2.0, -1.0, 0.0],
            "overdue_ratio": [1.5, 0.0, 0.0],  # same theme as recency: never both
            "n_orders": [0.5, 0.2, 0.0],
            "monetary": [-3.0, -0.1, 0.0],
        },
        index=pd.Index(["a", "b", "c"], name="user_id"),
    )
    feats = pd.DataFrame(
        {
            "recency_days": [84.4, 3.0, 10.0],
            "days_since_purchase": [84.4, 3.0, 10.0],
            "mean_gap_days": [28.0, 10.0, 5.0],
            "active_days": [4.0, 9.0, 2.0],
            "overdue_ratio": [2.9, 0.3, 2.0],
            "n_orders": [1.0, 9.0, 2.0],
            "monetary": [120.0, 900.0, 10.0],
        },
        index=values.index,
    )
    r = top_reasons(values, feats)
    assert list(r.columns) == list(REASON_COLUMNS)
    assert r.loc["a", "reason_1"].startswith("No purchase for 84 days — about 3×")
    assert r.loc["a", "reason_1"].endswith(f"({RAISES})")
    assert r.loc["a", "reason_2"] == f"Only 1 order so far ({RAISES})"
    assert r.loc["a", "reason_3"] == f"Total spend so far: 120 ({LOWERS})"
    assert r.loc["b", "reason_1"].startswith("9 orders so far")  # positive before negative
    assert r.loc["b", "reason_2"].endswith(f"({LOWERS})")
    assert (r.loc["c"] == "").all()  # no contribution, no reason


def test_phrase_never_fails_on_unknown_factor() -> None:
    assert phrase("something_new", {"something_new": 3.0}, 1.0).endswith(f"({RAISES})")
    assert "view" in phrase("n_view_30d", {"n_view_30d": 2.0, "n_view": 2.0}, -1.0)


@pytest.fixture(scope="module")
def retail():
    from churn_core.explain import explain_run
    from churn_core.ingest import load_events
    from churn_core.pipeline import train

    log = load_events(str(RETAIL))
    cfg = ChurnConfig().with_(label={"horizon_days": 90})
    run = train(log, cfg, as_of=AS_OF)
    return log, run, explain_run(run)


@pytest.mark.slow
def test_retail_reason_coverage(retail) -> None:
    _, run, expl = retail
    assert len(expl.reasons) == len(run.scores)
    assert (expl.reasons["reason_1"] != "").mean() >= 0.95


def _truth(log, as_of: pd.Timestamp) -> pd.DataFrame:
    ev = log.frame[log.frame["timestamp"] < as_of]
    buy = ev[ev["event_type"] == "purchase"]
    age = (as_of - buy["timestamp"]) / pd.Timedelta(days=1)
    act = ev[ev["event_type"] != "cancel"]
    day = np.floor((act["timestamp"] - as_of) / pd.Timedelta(days=1))
    out = pd.DataFrame(
        {
            "days_since_purchase": np.floor(age.groupby(buy["user_id"]).min()),
            "orders": buy.groupby("user_id")["timestamp"].nunique(),
            "spend_90d": buy[age < 90].groupby("user_id")["amount"].sum(),
            "cancels": ev[ev["event_type"] == "cancel"].groupby("user_id").size(),
        }
    )
    for w in (7, 30, 90, 180):
        out[f"active_{w}"] = act[day >= -w].assign(d=day).groupby("user_id")["d"].nunique()
    return out.fillna(0.0)


CHECKS = [
    (r"No purchase for (\d+) days?", "days_since_purchase", None),
    (r"Last purchase (\d+) days? ago", "days_since_purchase", None),
    (r"^(?:Only )?(\d+) orders? so far", "orders", None),
    (r"Spend in the last 90 days: ([\d,]+)", "spend_90d", None),
    (r"^(\d+) cancellations?", "cancels", None),
    (r"Active on (\d+) days? in the last (\d+) days", "active_", 2),
]


@pytest.mark.slow
def test_retail_reason_numbers_match_events(retail) -> None:
    log, _, expl = retail
    truth = _truth(log, AS_OF)
    checked = {pattern: 0 for pattern, _, _ in CHECKS}
    for uid, row in expl.reasons.head(400).iterrows():
        for text in row:
            for pattern, col, window_group in CHECKS:
                m = re.search(pattern, text)
                if not m:
                    continue
                got = float(m.group(1).replace(",", ""))
                name = col + m.group(window_group) if window_group else col
                want = truth.loc[uid, name]
                want = round(want) if col == "spend_90d" else want
                assert got == pytest.approx(want, abs=0.5 if col == "spend_90d" else 0), (
                    uid,
                    text,
                    want,
                )
                checked[pattern] += 1
    assert checked[CHECKS[0][0]] + checked[CHECKS[1][0]] >= 5, checked
    assert sum(checked.values()) >= 20, checked


def test_constant_history_is_never_a_reason() -> None:
    idx = pd.Index(["a"], name="user_id")
    values = pd.DataFrame({"history_days": [5.0], "n_orders": [1.0]}, index=idx)
    feats = pd.DataFrame({"history_days": [282.0], "n_orders": [2.0]}, index=idx)
    r = top_reasons(values, feats)
    assert r.loc["a", "reason_1"] == f"Only 2 orders so far ({RAISES})"
    assert r.loc["a", "reason_2"] == ""


def test_tenure_over_history_is_phrased_and_shares_the_tenure_theme() -> None:
    idx = pd.Index(["a"], name="user_id")
    values = pd.DataFrame(
        {
            "tenure_over_history": [2.0],
            "tenure_days": [1.0],  # same story (how long known): only the larger one speaks
            "n_orders": [0.5],
        },
        index=idx,
    )
    feats = pd.DataFrame(
        {"tenure_over_history": [0.25], "tenure_days": [30.2], "n_orders": [2.0]}, index=idx
    )
    r = top_reasons(values, feats)
    assert r.loc["a", "reason_1"] == f"First seen 30 days ago (25% of the log's history) ({RAISES})"
    assert r.loc["a", "reason_2"] == f"Only 2 orders so far ({RAISES})"
    assert r.loc["a", "reason_3"] == ""
