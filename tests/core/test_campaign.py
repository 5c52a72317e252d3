"""The campaign planner: hand-computed profit curves, caps, the control group, actions, and
every number of the plan recomputed from the exported file."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from churn_core.campaign import (
    ITEM_COLUMNS,
    assign_control,
    plan_campaign,
    recommended_items,
    rules_frame,
    rules_from_frame,
)
from churn_core.config import DEFAULT_ACTION_RULES, CampaignConfig, ChurnConfig
from churn_core.errors import EventDataError
from churn_core.explain import Explanation
from churn_core.export import read_export
from churn_core.list_reasons import ListReasons
from churn_core.targets import risk_tier
from tests.conftest import make_log


def _scores(p, var=None, tiers=None) -> pd.DataFrame:
    p = np.asarray(p, dtype=float)
    out = pd.DataFrame({"user_id": [f"u{i}" for i in range(len(p))], "churn_probability": p})
    out["risk_tier"] = tiers if tiers is not None else risk_tier(p, (p.mean(), 2 * p.mean()))
    if var is not None:
        out["value_at_risk"] = np.asarray(var, dtype=float)
    return out


def _random_scores(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 5, n)
    return _scores(p, p * rng.gamma(2.0, 60.0, n))


def test_profit_curve_by_hand():
    # p = .9 .5 .2 .1, value 100, save rate .2, cost 5: per-user profit 13, 5, -1, -3
    cfg = CampaignConfig(value=100, contact_cost=5, save_rate=0.2, control_share=0)
    plan = plan_campaign(_scores([0.5, 0.1, 0.9, 0.2]), cfg)
    c = plan.curve
    np.testing.assert_allclose(c["profit"], [0, 13, 18, 17, 14])
    np.testing.assert_allclose(c["churners_reached"], [0, 0.9, 1.4, 1.6, 1.7])
    np.testing.assert_allclose(c["false_alarms"], [0, 0.1, 0.6, 1.4, 2.3])
    np.testing.assert_allclose(c["cost"], [0, 5, 10, 15, 20])
    np.testing.assert_allclose(c["value_saved"], [0, 18, 28, 32, 34])
    assert plan.size == plan.suggested_size == 2
    assert list(plan.users["user_id"]) == ["u2", "u0"]  # riskiest first
    np.testing.assert_allclose(plan.users["expected_profit"], [13, 5])
    s = plan.summary()
    assert (s["size"], s["treated"], s["cost"], s["profit"]) == (2, 2, 10, pytest.approx(18))
    # nothing pays: the suggestion is an empty list, and the plan says why
    poor = plan_campaign(_scores([0.1, 0.2]), CampaignConfig(value=10, contact_cost=5))
    assert poor.size == 0 and any("no contact is expected to pay" in n for n in poor.notes)


def test_per_user_values_rank_by_expected_profit():
    # value_at_risk = p x V: V = 10 and 100; profit .2 x var - 1 = 0.8 and 9
    plan = plan_campaign(
        _scores([0.9, 0.5], var=[9.0, 50.0]), CampaignConfig(control_share=0, size=1)
    )
    assert list(plan.users["user_id"]) == ["u1"] and plan.metadata["ranked_by"] == "expected_profit"
    assert plan.users["expected_profit"].iloc[0] == pytest.approx(9.0)
    assert plan.summary()["value_saved"] == pytest.approx(10.0)
    # no amounts and no value: 100 per saved churner, said in the metadata, ranked by risk
    flat = plan_campaign(_scores([0.5, 0.9]), CampaignConfig(control_share=0, size=2))
    assert "100 per saved churner (default: the log has no amounts" in flat.metadata["value"]
    assert flat.metadata["ranked_by"] != "expected_profit"
    assert flat.summary()["value_saved"] == pytest.approx(0.2 * 100 * (0.5 + 0.9))


def test_control_users_are_not_contacted_and_caps_hold():
    sc = _random_scores(400, 0)
    plan = plan_campaign(sc, CampaignConfig(contact_cost=2, budget=300))
    c = plan.curve
    assert (c["cost"] == 2 * c["treated"]).all() and (
        c["treated"] + c["control"] == c["size"]
    ).all()
    s = plan.summary()
    assert s["cost"] <= 300 and plan.max_size < len(sc)
    assert c.loc[plan.max_size + 1, "cost"] > 300  # one more would break the budget
    assert plan.size == int(np.argmax(c["profit"].to_numpy()[: plan.max_size + 1]))
    fixed = plan.at_size(50)
    assert len(fixed.users) == 50 and fixed.summary()["size"] == 50
    cut = plan.at_size(10_000)
    assert cut.size == plan.max_size and any("cut to" in n for n in cut.notes)
    # control rows carry no cost and no saved value
    ctrl = fixed.users["group"] == "control"
    assert ctrl.sum() == fixed.summary()["control"] > 0
    assert fixed.summary()["churners_reached"] == pytest.approx(
        fixed.users.loc[~ctrl, "churn_probability"].sum()
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_control_group_is_balanced_across_tiers(seed):
    sc = _random_scores(5000, seed)
    plan = plan_campaign(sc, CampaignConfig(control_share=0.1, seed=seed, size=3000))
    table = pd.crosstab(plan.users["risk_tier"], plan.users["group"])
    assert chi2_contingency(table.to_numpy())[1] > 0.01
    # stratified: each tier's control count is its share to within one user
    for tier, row in table.iterrows():
        assert abs(row["control"] - 0.1 * row.sum()) <= 1, tier


def test_control_group_is_random_and_reproducible_from_the_file(tmp_path):
    sc = _random_scores(2000, 7)
    a = plan_campaign(sc, CampaignConfig(seed=1, size=1000))
    b = plan_campaign(sc, CampaignConfig(seed=2, size=1000))
    ca = set(a.users.loc[a.users["group"] == "control", "user_id"])
    cb = set(b.users.loc[b.users["group"] == "control", "user_id"])
    assert ca != cb and len(ca & cb) < 0.5 * len(ca)  # seeds give different splits
    meta, back = read_export(a.write(tmp_path / "list.csv"))
    key = back[meta["ranked_by"]].to_numpy()
    order = np.lexsort((back["user_id"].to_numpy(), -key))
    flags = assign_control(
        back["risk_tier"].to_numpy()[order], float(meta["control_share"]), int(meta["seed"])
    )
    np.testing.assert_array_equal(flags, (back["group"].to_numpy()[order] == "control"))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("value", [None, 80.0])
def test_every_number_of_the_plan_recomputes_from_the_export(tmp_path, fmt, value):
    cfg = CampaignConfig(value=value, contact_cost=1.5, save_rate=0.3, seed=4)
    plan = plan_campaign(_random_scores(1500, 3), cfg, metadata={"as_of": "2024-01-01"})
    meta, f = read_export(plan.write(tmp_path / f"list.{fmt}"))
    tol = 1e-9 if fmt == "csv" else 1e-6
    s, c, r = plan.summary(), float(meta["contact_cost"]), float(meta["save_rate"])
    treat = f.loc[f["group"] == "treat"]
    p = treat["churn_probability"]
    v = treat["value_at_risk"] / p if value is None else float(meta["value"].split()[0])
    got = {
        "size": len(f),
        "treated": len(treat),
        "control": int((f["group"] == "control").sum()),
        "churners_reached": p.sum(),
        "false_alarms": (1 - p).sum(),
        "cost": c * len(treat),
        "value_saved": r * (p * v).sum(),
        "profit": treat["expected_profit"].sum(),
    }
    for k, x in got.items():
        assert x == pytest.approx(s[k], rel=tol, abs=tol), k
        if k not in ("size",):
            key = {"churners_reached": "expected_churners_reached"}.get(k, k)
            key = {
                "false_alarms": "expected_false_alarms",
                "value_saved": "expected_value_saved",
            }.get(key, key)
            key = {"profit": "expected_profit"}.get(key, key)
            assert float(meta[key]) == pytest.approx(s[k], abs=1e-4), key
    v_all = f["value_at_risk"] / f["churn_probability"] if value is None else v
    np.testing.assert_allclose(
        f["expected_profit"], r * f["churn_probability"] * v_all - c, rtol=tol, atol=tol
    )
    assert int(meta["campaign_size"]) == plan.size == len(f)
    assert f["churn_probability"].is_monotonic_decreasing  # riskiest first


def _explanation(values: dict[str, list[float]], ids: list[str]) -> Explanation:
    v = pd.DataFrame(values, index=pd.Index(ids, name="user_id"))
    reasons = pd.DataFrame(
        {"reason_1": [f"reason of {u}" for u in ids], "reason_2": "", "reason_3": ""},
        index=v.index,
    )
    return Explanation(v, v.copy(), 0.0, "log-odds", reasons)


def test_actions_follow_the_rule_table():
    p = [0.9, 0.8, 0.7, 0.6, 0.5]
    var = [1000.0, 8.0, 7.0, 6.0, 5.0]  # u0 has by far the most value at risk
    expl = _explanation(
        {
            "recency_days": [0.1, 2.0, -1.0, 0.0, -0.5],
            "cart_to_purchase": [0.0, 0.5, 1.0, 0.0, -0.2],
            "n_view_30d": [0.0, 0.0, 0.2, 0.7, -0.1],
        },
        [f"u{i}" for i in range(5)],
    )
    cfg = CampaignConfig(value=None, control_share=0, size=5)
    plan = plan_campaign(_scores(p, var), cfg, explanation=expl)
    got = dict(zip(plan.users["user_id"], plan.users["action"]))
    assert got == {
        "u0": "personal contact",  # top 10 % value at risk (first rule)
        "u1": "win-back offer",  # recency raises risk
        "u2": "cart reminder",  # carts raise risk; recency lowers it (ignored)
        "u3": "re-engagement content",  # n_*_30d wildcard
        "u4": "standard retention email",  # nothing raises risk: the named default
    }
    assert plan.users.set_index("user_id").loc["u3", "reason_1"] == "reason of u3"
    # an edited table (via the page's frame) changes the actions
    table = rules_frame(DEFAULT_ACTION_RULES)
    table.loc[len(table)] = ["call", "*", None]
    rules = rules_from_frame(table.iloc[[4, 1]])
    plan = plan_campaign(_scores(p, var), CampaignConfig(size=5, actions=rules), explanation=expl)
    assert set(plan.users["action"]) == {"call", "standard retention email"}
    with pytest.raises(EventDataError, match="row 1"):
        rules_from_frame(
            pd.DataFrame({"action": ["x"], "factors": [""], "min_value_percentile": [120]})
        )


def test_campaign_toml_table(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(
        "[campaign]\nvalue = 50.0\ncontact_cost = 2.5\ncontrol_share = 0.2\n"
        'actions = [{ action = "call", min_value_percentile = 80 },'
        ' { action = "mail", factors = "recency_days n_*_30d" }]\n'
    )
    cfg = ChurnConfig.from_toml(toml).campaign
    assert (cfg.value, cfg.contact_cost, cfg.control_share) == (50.0, 2.5, 0.2)
    assert [r.action for r in cfg.actions] == ["call", "mail"]
    assert cfg.actions[1].factors == ("recency_days", "n_*_30d")
    with pytest.raises(ValueError, match="control_share"):
        CampaignConfig(control_share=1.5)
    with pytest.raises(ValueError, match="Unknown key"):
        CampaignConfig(actions=({"action": "x", "factor": "y"},))


def test_recommended_item_columns_only_with_items():
    sc = _random_scores(50, 1)
    recs = pd.DataFrame(
        {c: [f"item{i}_{j}" for i in range(50)] for j, c in enumerate(ITEM_COLUMNS)},
        index=sc["user_id"],
    )
    top = plan_campaign(sc, CampaignConfig(size=20)).users["user_id"].iloc[0]
    recs.loc[top, ["recommended_item_4", "recommended_item_5"]] = None  # fewer than five
    with_items = plan_campaign(sc, CampaignConfig(size=20), recommendations=recs)
    assert list(with_items.users.columns[-6:-1]) == list(ITEM_COLUMNS)
    row = with_items.users.set_index("user_id").loc[top]
    assert row["recommended_item_1"] == recs.loc[top, "recommended_item_1"]
    assert row["recommended_item_4"] is None
    assert not set(ITEM_COLUMNS) & set(plan_campaign(sc, CampaignConfig(size=20)).users)
    no_items = make_log(
        [("a", "2024-01-01", "purchase", 1.0), ("b", "2024-01-02", "purchase", 2.0)]
    )
    assert recommended_items(no_items, pd.Timestamp("2024-02-01"), ["a"]) is None


@pytest.mark.parametrize("raw", [False, True])
def test_the_list_written_in_chunks_is_the_file_written_whole(tmp_path, raw):
    """``CampaignPlan.write`` writes a CSV a few rows at a time: the same bytes as the list
    in one piece (BOM, metadata and header once; escaping, empty cells and numbers per row)."""
    sc = _random_scores(40, 5)
    ids = list(sc["user_id"])
    expl = _explanation({"recency_days": np.linspace(-1, 1, 40)}, ids)
    expl.reasons["reason_2"] = [f"=SUM({i}) — {i / 7}× gap" for i in range(40)]
    expl.reasons.loc[ids[::3], "reason_1"] = "-5 days (raises risk)"
    recs = pd.DataFrame({c: [f"+i{j}{u}" for u in ids] for j, c in enumerate(ITEM_COLUMNS)})
    recs.index = ids
    plan = plan_campaign(
        sc, CampaignConfig(size=30), explanation=expl, recommendations=recs, metadata={"m": "1"}
    )
    first = plan.users["user_id"].iloc[:4]
    recs.loc[first, "recommended_item_5"] = None  # one whole chunk without a fifth item
    plan = plan_campaign(
        sc, CampaignConfig(size=30), explanation=expl, recommendations=recs, metadata={"m": "1"}
    )
    whole = plan.to_bytes("csv", raw=raw)
    assert whole.count(b"recommended_item_5") == 1 and (b"'=SUM" in whole) != raw
    for rows in (4, 7, 30, 1000):
        path = plan.write(tmp_path / f"list_{rows}.csv", raw=raw, chunk_rows=rows)
        assert path.read_bytes() == whole, rows
    empty = plan.at_size(0)
    assert empty.write(tmp_path / "empty.csv", chunk_rows=4).read_bytes() == empty.to_bytes("csv")


def test_list_reasons_explained_in_chunks_are_compact_and_give_the_same_list():
    """Chunks of a list explained apart (``engine.campaign``) hold their texts as
    ``category`` columns whose categories differ per chunk; joined, they give the same
    reasons, factors and actions as the list explained whole."""
    sc = _random_scores(60, 2)
    ids = list(sc["user_id"])
    rng = np.random.default_rng(0)
    values = {f: rng.normal(size=60) for f in ("recency_days", "cart_to_purchase", "n_view_30d")}
    expl = _explanation(values, ids)
    expl.reasons["reason_2"] = [f"gap {i % 7} days" for i in range(60)]
    whole = ListReasons.of(expl)
    chunks = []
    for part in (slice(0, 25), slice(25, 26), slice(26, 60)):
        v = expl.values.iloc[part]
        chunks.append(ListReasons.of(Explanation(v, v.copy(), 0.0, "log-odds", expl.reasons[part])))
    joined = ListReasons.concat(chunks)
    assert chunks[0].reasons["reason_2"].cat.categories.size == 8  # 7 texts and ""
    for got, want in ((joined.reasons, expl.reasons), (joined.factors, whole.factors)):
        assert (got.dtypes == "category").all()
        pd.testing.assert_frame_equal(got.astype(str), want.astype(str))
    cfg = CampaignConfig(size=50, control_share=0)
    a = plan_campaign(sc, cfg, explanation=joined).users
    b = plan_campaign(sc, cfg, explanation=expl).users
    pd.testing.assert_frame_equal(a, b)
    assert a["action"].nunique() > 1 and (a["reason_1"] != "").all()
