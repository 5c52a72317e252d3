"""Recommended items: the contract, no leakage, and hit rate against the referee's baselines."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from churn_core.datasets import load_demo
from churn_core.errors import EventDataError
from churn_core.events import EventLog
from churn_core.recommend import ItemRecommender, RecommenderParams, recommend_items
from churn_core.recommend_check import (
    OWN,
    POPULAR,
    PROJECT,
    graded_users,
    hit_rate,
    recommendation_check,
)

RETAIL = (pd.Timestamp("2011-09-10"), 90)
TMALL = (pd.Timestamp("2013-07-16"), 31)
COLS = [f"recommended_item_{j}" for j in range(1, 6)]


def _log(rows: list[tuple]) -> EventLog:
    """EventLog from (user, 'YYYY-MM-DD', event_type, item) tuples."""
    frame = pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "item_id"])
    return EventLog.from_frame(frame)


def _only(**weights: float) -> RecommenderParams:
    """Own purchases plus only the named candidate sources."""
    zero = dict.fromkeys(
        ("weight_due", "weight_view", "weight_intent", "weight_co", "weight_category"), 0.0
    )
    return RecommenderParams(**{**zero, "weight_popular": 0.0, **weights})


@pytest.fixture(scope="module")
def retail():
    return load_demo()


@pytest.fixture(scope="module")
def retail_check(retail):
    return recommendation_check(retail, *RETAIL).set_index("recommender")


def test_contract_index_columns_order_and_none_where_fewer():
    log = _log(
        [
            ("1", "2023-01-01", "purchase", "A"),
            ("1", "2023-01-05", "purchase", "A"),
            ("1", "2023-01-06", "purchase", "B"),
            ("2", "2023-01-02", "purchase", "B"),
            ("2", "2023-01-03", "purchase", "C"),
        ]
    )
    out = recommend_items(log, pd.Timestamp("2023-02-01"), [2, "1", "new"], k=5)
    assert list(out.index) == ["2", "1", "new"] and all(isinstance(u, str) for u in out.index)
    assert list(out.columns) == COLS
    assert out.loc["1", "recommended_item_1"] == "A"  # bought twice
    # three items exist in all: the rest is None, never a repeated or invented item
    assert out.loc["1"].tolist()[3:] == [None, None]
    assert set(out.loc["1"].tolist()[:3]) == {"A", "B", "C"}
    # a user without history gets the popular items (B: bought by both users)
    assert out.loc["new", "recommended_item_1"] == "B"
    assert recommend_items(log, pd.Timestamp("2023-02-01"), ["1"], k=2).shape == (1, 2)
    nothing_yet = recommend_items(log, pd.Timestamp("2022-01-01"), ["1"])
    assert nothing_yet.loc["1"].tolist() == [None] * 5  # no item before as_of
    twice = recommend_items(log, pd.Timestamp("2023-02-01"), ["1", "2", "1"])
    assert list(twice.index) == ["1", "2", "1"] and twice.iloc[0].equals(twice.iloc[2])


def test_no_item_column_names_the_fix():
    frame = pd.DataFrame({"user_id": ["a", "b"], "timestamp": ["2023-01-01", "2023-01-02"]})
    with pytest.raises(EventDataError, match="--item-col"):
        recommend_items(EventLog.from_frame(frame), pd.Timestamp("2023-02-01"), ["a"])


def test_each_candidate_source_brings_its_item():
    """Viewed-not-bought, co-bought and due-again items reach the list when weighted."""
    log = _log(
        [
            ("u", "2023-01-01", "purchase", "milk"),
            ("u", "2023-01-11", "purchase", "milk"),
            ("u", "2023-01-21", "purchase", "milk"),
            ("u", "2023-01-28", "view", "cheese"),
            ("u", "2023-01-29", "purchase", "bread"),
            ("v", "2023-01-10", "purchase", "bread"),
            ("v", "2023-01-10", "purchase", "jam"),
            ("w", "2023-01-12", "purchase", "tea"),
            ("w", "2023-01-13", "purchase", "tea"),
            ("x", "2023-01-14", "purchase", "tea"),
        ]
    )
    t = pd.Timestamp("2023-01-31")
    out = ItemRecommender(_only()).recommend(log, t, ["u"], k=5).loc["u"].tolist()
    assert out[:2] == ["milk", "bread"] and out[2:] == [None] * 3
    views = ItemRecommender(_only(weight_view=0.1))
    assert "cheese" in views.recommend(log, t, ["u"], k=5).loc["u"].tolist()
    co = ItemRecommender(_only(weight_co=1.0))
    assert "jam" in co.recommend(log, t, ["u"], k=5).loc["u"].tolist()
    assert "tea" not in co.recommend(log, t, ["u"], k=5).loc["u"].tolist()
    # due: milk every 10 days, last 10 days ago -> due; bread bought once -> no bonus
    due = ItemRecommender(_only(weight_due=5.0))
    scores = due.recommend(log, t, ["u"], k=1).loc["u"].tolist()
    assert scores == ["milk"]


def test_category_candidates_need_a_category_column():
    frame = pd.DataFrame(
        {
            "user_id": ["u", "v", "v", "w"],
            "timestamp": ["2023-01-01", "2023-01-02", "2023-01-03", "2023-01-04"],
            "event_type": ["view", "purchase", "purchase", "purchase"],
            "item_id": ["shoe1", "shoe2", "shoe2", "hat"],
            "category": ["shoes", "shoes", "shoes", "hats"],
        }
    )
    log = EventLog.from_frame(frame)
    rec = ItemRecommender(_only(weight_category=1.0))
    assert rec.recommend(log, pd.Timestamp("2023-02-01"), ["u"], k=1).loc["u"].tolist() == ["shoe2"]


def test_planting_events_after_as_of_changes_nothing(retail):
    t = RETAIL[0]
    users = graded_users(retail, t, RETAIL[1])[:400].tolist() + ["never-seen"]
    before = recommend_items(retail, t, users)
    f = retail.frame
    rng = np.random.default_rng(0)
    late = f.sample(5000, random_state=0).assign(
        timestamp=t + pd.to_timedelta(rng.uniform(0, 30, 5000), unit="D"),
        item_id=rng.choice(["PLANTED1", "PLANTED2"], 5000),
    )
    late.loc[late.index[:50], "user_id"] = "never-seen"
    planted = EventLog(pd.concat([f, late], ignore_index=True), retail.report, retail.has_amount)
    after = recommend_items(planted, t, users)
    pd.testing.assert_frame_equal(before, after)
    # ... while the same events one day before the cutoff do change the lists
    early = EventLog(
        pd.concat([f, late.assign(timestamp=t - pd.Timedelta(days=1))], ignore_index=True),
        retail.report,
        retail.has_amount,
    )
    assert not recommend_items(early, t, users).equals(before)


def test_hit_rate_by_hand():
    recs = pd.DataFrame(
        [["A", "B"], ["C", None], [None, None]],
        index=pd.Index(["1", "2", "3"], name="user_id"),
        columns=COLS[:2],
    )
    bought = pd.DataFrame({"user_id": ["1", "1", "2", "3"], "item_id": ["B", "Z", "A", "C"]})
    assert hit_rate(recs, bought, pd.Index(["1", "2", "3"])) == pytest.approx(1 / 3)
    assert hit_rate(recs, bought, pd.Index(["1"])) == 1.0


def test_project_beats_both_baselines_on_bundled_retail(retail_check):
    r = retail_check["hit_rate_at_5"]
    assert retail_check.loc[PROJECT, "users"] == 1919  # the referee's population
    assert r[PROJECT] > r[OWN] + 0.04 and r[PROJECT] > r[POPULAR] + 0.2


@pytest.mark.parametrize("cutoff, horizon", [("2011-10-10", 60), ("2011-01-10", 60)])
def test_retail_win_holds_at_cutoffs_it_was_not_tuned_on(retail, cutoff, horizon):
    check = recommendation_check(retail, pd.Timestamp(cutoff), horizon).set_index("recommender")
    r = check["hit_rate_at_5"]
    assert check.loc[PROJECT, "users"] > 400
    assert r[PROJECT] > r[OWN] + 0.03 and r[PROJECT] > r[POPULAR]


def _recs_py(shared_data, spec: str, t: pd.Timestamp, h: int) -> dict[str, dict]:
    referee = shared_data.parent / "referee"
    if not (referee / "recs.py").exists():
        pytest.skip(f"referee recs.py not found at {referee}")
    proc = subprocess.run(
        [sys.executable, "recs.py", spec, str(t.date()), str(h)],
        cwd=referee,
        capture_output=True,
        text=True,
        check=True,
    )
    return {d["recommender"]: d for d in map(json.loads, proc.stdout.splitlines())}


@pytest.mark.slow
def test_baselines_equal_the_referee_on_retail(retail_check, shared_data):
    path = shared_data / "uci-online-retail" / "online_retail.csv.gz"
    ref = _recs_py(shared_data, f"retail={path}", *RETAIL)
    for ours, theirs in ((POPULAR, "popular_overall"), (OWN, "own_most_bought")):
        assert retail_check.loc[ours, "users"] == ref[theirs]["users"]
        assert round(retail_check.loc[ours, "hit_rate_at_5"], 4) == ref[theirs]["hit_rate_at_5"]


@pytest.mark.slow
def test_tmall_project_beats_both_baselines_and_baselines_match_the_referee(tmall_log, shared_data):
    check = recommendation_check(tmall_log, *TMALL).set_index("recommender")
    path = shared_data / "tmall-brand-rec-2014" / "tmall_brand_rec_2014.csv.gz"
    ref = _recs_py(shared_data, f"tmall={path}", *TMALL)
    for ours, theirs in ((POPULAR, "popular_overall"), (OWN, "own_most_bought")):
        assert check.loc[ours, "users"] == ref[theirs]["users"]
        assert round(check.loc[ours, "hit_rate_at_5"], 4) == ref[theirs]["hit_rate_at_5"]
    r = check["hit_rate_at_5"]
    assert r[PROJECT] > r[OWN] + 0.04 and r[PROJECT] > r[POPULAR]


def test_cli_evaluate_prints_the_recommendation_check(retail, tmp_path, monkeypatch, capsys):
    """The CLI adds the check (same numbers as the core call) to the table and to --json."""
    import churn_core.evaluation as evaluate_module
    from churn_core.cli import main

    churn_row = pd.DataFrame([{"model": "project", "n": 1, "roc_auc": 0.5}])
    monkeypatch.setattr(evaluate_module, "evaluate", lambda *a, **k: churn_row)
    path = tmp_path / "events.csv"
    cut = retail.frame[retail.frame["timestamp"] >= pd.Timestamp("2011-08-01")]
    cut.to_csv(path, index=False)
    t = "2011-10-10"
    args = ["-q", "evaluate", str(path), "--horizon-days", "60", "--cutoff", t]
    assert main([*args, "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"model": "project", "n": 1, "roc_auc": 0.5}  # churn rows unchanged
    recs = {d["recommender"]: d for d in lines[1:]}
    expected = recommendation_check(EventLog.from_frame(cut), pd.Timestamp(t), 60).set_index(
        "recommender"
    )
    assert set(recs) == set(expected.index)
    for name, d in recs.items():
        assert d["hit_rate_at_5"] == pytest.approx(expected.loc[name, "hit_rate_at_5"], abs=1e-4)
        assert d["users"] == expected.loc[name, "users"]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "hit_rate_at_5" in table and "baseline: own most bought" in table


def test_explain_text_lists_the_users_recommended_items():
    from churn_core.config import ChurnConfig
    from churn_core.datasets import synthetic_events
    from churn_core.explain_user import explain_user_text
    from churn_core.pipeline import train

    log = EventLog.from_frame(synthetic_events(n_users=300, seed=0))
    as_of = log.default_as_of()
    run = train(log, ChurnConfig().with_(label={"horizon_days": 30}), as_of)
    uid = str(run.scores["user_id"].iloc[0])
    text = explain_user_text(run.model, log, as_of, run.config, uid)
    items = recommend_items(log, as_of, [uid]).loc[uid].tolist()
    assert f"recommended items: {', '.join(items)}" in text.splitlines()


def test_evaluate_skips_the_check_without_items():
    from churn_core.evaluation import recommendation_check as evaluate_check

    frame = pd.DataFrame({"user_id": ["a", "b"], "timestamp": ["2023-01-01", "2023-03-02"]})
    assert evaluate_check(EventLog.from_frame(frame), pd.Timestamp("2023-02-01"), 60) is None
    with_items = _log([("a", "2023-01-01", "purchase", "A"), ("a", "2023-02-02", "purchase", "A")])
    check = evaluate_check(with_items, pd.Timestamp("2023-02-01"), 60).set_index("recommender")
    assert check.loc[PROJECT, "users"] == 1 and check.loc[PROJECT, "hit_rate_at_5"] == 1.0
