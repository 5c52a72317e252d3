"""AppTest: the Campaign page (numbers reproducible from its download) and the Outcomes page
(a campaign planned on the demo log cut at a date, graded against the full log)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from churn_core.campaign_files import read_export_bytes  # noqa: E402
from churn_core.config import SchemaConfig  # noqa: E402
from churn_core.datasets import demo_path  # noqa: E402
from churn_core.ingest import load_events  # noqa: E402
from churn_core.outcome import outcome_report  # noqa: E402
from tests.ui.apptest import metric, open_app, train  # noqa: E402

CAMPAIGN_PAGE = "churn_app/pages/campaign.py"
OUTCOMES_PAGE = "churn_app/pages/outcomes.py"
CUT = "2011-09-01"  # the campaign is planned on the demo log's events before this day


@pytest.fixture(scope="module")
def trained() -> AppTest:
    """The demo log, trained as in test_app.py (2 folds, 60-day horizon)."""
    return train(open_app())


def _plan(at: AppTest):
    plan, _ = at.session_state["campaign"]
    return plan


def _recomputed(meta: dict[str, str], rows: pd.DataFrame) -> dict[str, str]:
    """The headline numbers from a campaign file alone, formatted as the page shows them."""
    treat = rows.loc[rows["group"] == "treat"]
    p = treat["churn_probability"].to_numpy(dtype=float)
    cost = float(meta["contact_cost"]) * len(treat)
    profit = float(treat["expected_profit"].sum())
    return {
        "List size": f"{len(rows):,}",
        "Expected churners reached": f"{p.sum():,.1f}",
        "Expected false alarms": f"{(1 - p).sum():,.1f}",
        "Contact cost": f"{cost:,.2f}",
        "Expected value saved": f"{profit + cost:,.2f}",
        "Expected profit": f"{profit:,.2f}",
    }


LABELS = (
    "List size",
    "Expected churners reached",
    "Expected false alarms",
    "Contact cost",
    "Expected value saved",
    "Expected profit",
)


def _shown(at: AppTest) -> dict[str, str]:
    return {label: metric(at, label) for label in LABELS}


def _check_against_download(at: AppTest) -> pd.DataFrame:
    """Every headline number equals the one recomputed from the CSV and the XLSX bytes the
    download buttons hand out (``CampaignPlan.to_bytes``, the buttons' own call)."""
    plan = _plan(at)
    shown = _shown(at)
    for fmt in ("csv", "xlsx"):
        meta, rows = read_export_bytes(plan.to_bytes(fmt), f"campaign.{fmt}")
        assert _recomputed(meta, rows) == shown, fmt
        assert meta["campaign_size"] == str(len(rows))
        assert f"{float(meta['expected_profit']):,.2f}" == shown["Expected profit"]
    table = at.dataframe[-1].value  # the list preview is the page's last table
    assert table["user_id"].tolist() == rows["user_id"].head(1000).tolist()
    assert table["group"].tolist() == rows["group"].head(1000).tolist()
    return rows


def _curve_figure(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def _values(xs) -> np.ndarray:
    """A plotly data array: plain list or typed ({dtype, bdata} base64)."""
    import base64

    if isinstance(xs, dict):
        return np.frombuffer(base64.b64decode(xs["bdata"]), dtype=np.dtype(xs["dtype"]))
    return np.asarray(xs, dtype=float)


def test_new_pages_explain_what_they_need():
    at = open_app()
    at.switch_page(CAMPAIGN_PAGE).run()
    assert not at.exception, at.exception
    assert any("No trained model yet" in i.value for i in at.info)
    at.switch_page(OUTCOMES_PAGE).run()
    assert not at.exception, at.exception
    assert any("No campaign yet" in i.value for i in at.info)


def test_campaign_numbers_come_from_the_download(trained):
    at = trained
    at.switch_page(CAMPAIGN_PAGE).run()
    assert not at.exception, at.exception
    plan = _plan(at)
    rows = _check_against_download(at)
    # the chosen point starts at the profit-maximising size; control users are ~10 % per tier
    assert at.slider(key="campaign_size").value == plan.suggested_size == len(rows)
    for tier, part in rows.groupby("risk_tier"):
        assert abs((part["group"] == "control").sum() - 0.1 * len(part)) <= 1, tier
    # the curve: its maximum sits at the dashed line, the marked point at the chosen size
    fig = _curve_figure(at)
    profit = fig["data"][0]
    x, y = _values(profit["x"]), _values(profit["y"])
    assert x[np.argmax(y)] == plan.suggested_size
    assert fig["layout"]["shapes"][0]["x0"] == plan.suggested_size
    marker = fig["data"][-1]
    assert _values(marker["x"])[0] == len(rows)
    assert f"{_values(marker['y'])[0]:,.2f}" == metric(at, "Expected profit")


def test_moving_the_chosen_point_and_the_inputs(trained):
    at = trained
    at.switch_page(CAMPAIGN_PAGE).run()
    suggested = _plan(at).suggested_size
    at.slider(key="campaign_size").set_value(250).run()
    assert not at.exception, at.exception
    assert metric(at, "List size") == "250"
    rows = _check_against_download(at)
    assert len(rows) == 250 and _plan(at).suggested_size == suggested
    # a size cap below the chosen point pulls it down to the cap
    at.number_input(key="campaign_size_cap").set_value(120).run()
    assert metric(at, "List size") == "120"
    assert at.slider(key="campaign_size").max == 120
    at.number_input(key="campaign_size_cap").set_value(0).run()
    # one flat value and a dearer contact: each user's profit is save_rate * p * V - c
    at.radio(key="campaign_value_mode").set_value("One flat value").run()
    at.number_input(key="campaign_value").set_value(50.0).run()
    at.number_input(key="campaign_cost").set_value(4.0).run()
    assert not at.exception, at.exception
    meta, rows = read_export_bytes(_plan(at).to_bytes("csv"), "c.csv")
    assert meta["value"].startswith("50 per saved churner") and meta["contact_cost"] == "4"
    p = rows["churn_probability"].to_numpy(dtype=float)
    assert np.allclose(rows["expected_profit"], 0.2 * p * 50 - 4)
    # with one flat value the most profitable list is the users with 0.2 * p * 50 > 4 (the
    # smallest maximiser stops before trailing control users: they add no profit)
    scored = at.session_state["run"].scores["churn_probability"]
    paying = int((0.2 * scored * 50 - 4 > 0).sum())
    assert (rows["expected_profit"] > 0).all() and paying - 2 <= len(rows) <= paying
    assert at.slider(key="campaign_size").value == len(rows)  # the slider followed
    _check_against_download(at)
    # a budget caps the treated users' contact cost
    at.number_input(key="campaign_budget").set_value(200.0).run()
    meta, rows = read_export_bytes(_plan(at).to_bytes("csv"), "c.csv")
    assert 4 * (rows["group"] == "treat").sum() <= 200 < 4 * ((rows["group"] == "treat").sum() + 1)
    _check_against_download(at)


def test_actions_follow_the_rule_table_in_the_config(trained):
    """The editor starts from the session's [campaign] rules; the list's actions follow them."""
    at = trained
    cfg = at.session_state["config"]
    rules = ({"action": "call them", "min_value_percentile": 50.0},)
    at.session_state["config"] = cfg.with_(campaign={"actions": rules, "size": None})
    del at.session_state["campaign_rules_base"]  # the editor starts again from the config
    at.switch_page(CAMPAIGN_PAGE).run()
    assert not at.exception, at.exception
    editor = at.data_editor(key="campaign_rules").value
    assert editor["action"].tolist() == ["call them"]
    rows = read_export_bytes(_plan(at).to_bytes("csv"), "c.csv")[1]
    pct = rows["value_at_risk"].rank(pct=True, method="max") * 100
    expected = np.where(pct >= 50, "call them", "standard retention email")
    assert rows["action"].tolist() == expected.tolist()


def _cut_demo_bytes() -> bytes:
    raw = pd.read_csv(demo_path(), dtype=str)
    return raw.loc[raw["InvoiceDate"] < CUT].to_csv(index=False).encode("utf-8")


@pytest.fixture(scope="module")
def cut_campaign() -> AppTest:
    """Demo log cut at CUT uploaded, trained (60-day horizon), campaign page visited."""
    at = open_app()
    at.file_uploader(key="upload").upload("retail_cut.csv", _cut_demo_bytes(), "text/csv").run()
    assert not at.exception, at.exception
    assert at.session_state["log"].end < pd.Timestamp(CUT)
    train(at)
    at.switch_page(CAMPAIGN_PAGE).run()
    assert not at.exception, at.exception
    return at


def test_outcome_of_the_session_campaign(cut_campaign):
    at = cut_campaign
    plan = _plan(at)
    assert plan.metadata["as_of"].startswith(CUT)
    at.switch_page(OUTCOMES_PAGE).run()
    # the current data (the cut log) cannot hold the window after the cut: a plain error
    assert not at.exception, at.exception
    assert at.error and "not complete" in at.error[0].value
    assert "Traceback" not in at.error[0].value
    # the later events: the full demo log
    full = demo_path().read_bytes()
    at.file_uploader(key="outcome_events").upload("online_retail.csv.gz", full, "application/gzip")
    at.run()
    assert not at.exception, at.exception
    assert not at.error, at.error[0].value
    # the page shows what the core reports for the file the download would hold
    meta, rows = read_export_bytes(plan.to_bytes("csv"), "campaign.csv")
    report = outcome_report(load_events(full, SchemaConfig(), name="x.csv.gz"), rows, meta)
    assert report.horizon_days == 60 and at.number_input(key="outcome_horizon").value == 60
    assert metric(at, "Listed users graded") == f"{len(report.users):,}"
    assert metric(at, "Realised ROC AUC") == f"{report.roc_auc:.3f}"
    assert metric(at, "Realised PR AUC") == f"{report.pr_auc:.3f}"
    assert metric(at, "Uplift (control − treated churn)") == f"{report.uplift[0]:+.1%}"
    assert metric(at, "Incremental value") == f"{report.incremental['value']:,.2f}"
    by_tier = at.dataframe[0].value  # per tier, per group, calibration
    pd.testing.assert_frame_equal(by_tier.reset_index(drop=True), report.by_tier, check_dtype=False)
    # a real forecast on real data: realised churn rises with the risk tier
    # (high starts halfway from medium to 1 when 2x the average is out of reach, so a shop
    # with ~45 % churn has all three tiers)
    rates = by_tier.set_index("risk_tier")["churn_rate"]
    present = [t for t in ("low", "medium", "high") if t in rates.index]
    assert len(present) == 3 and (rates[present].diff().dropna() > 0).all()
    assert 0.6 < report.roc_auc < 1.0
    assert len(at.get("plotly_chart")) == 3  # per tier, per group, calibration
    # the report's download (the buttons' own call) carries the same figures
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download outcome report CSV", "Download outcome report XLSX"]
    shown = at.session_state["outcome_report"]
    for fmt in ("csv", "xlsx"):
        meta, table = read_export_bytes(shown.to_bytes(fmt), f"outcome.{fmt}")
        assert f"{float(meta['roc_auc']):.3f}" == metric(at, "Realised ROC AUC")
        assert f"{float(meta['uplift']):+.1%}" == metric(at, "Uplift (control − treated churn)")
        tiers = table.loc[table["section"] == "risk_tier"].reset_index(drop=True)
        assert tiers["churned"].tolist() == report.by_tier["churned"].tolist()
    calib = at.dataframe[2].value
    assert len(calib) == 10 and calib["users"].sum() == len(report.users)


def test_outcome_of_an_uploaded_file_and_a_bad_file(cut_campaign):
    at = cut_campaign
    plan = _plan(at)
    at.switch_page(OUTCOMES_PAGE).run()
    full = demo_path().read_bytes()
    at.file_uploader(key="outcome_events").upload("online_retail.csv.gz", full, "application/gzip")
    at.run()
    session_auc = metric(at, "Realised ROC AUC")
    xlsx = plan.to_bytes("xlsx")
    at.file_uploader(key="outcome_campaign").upload("campaign.xlsx", xlsx, "application/zip")
    at.run()
    assert not at.exception, at.exception
    assert metric(at, "Realised ROC AUC") == session_auc
    assert any("campaign.xlsx" in c.value for c in at.caption)
    bad = b"user_id,churn_probability,risk_tier\n1,0.5,high\n"
    at.file_uploader(key="outcome_campaign").upload("other.csv", bad, "text/csv").run()
    assert not at.exception, at.exception
    assert at.error and "group" in at.error[0].value and "Traceback" not in at.error[0].value


def test_drill_down_and_campaign_show_the_recommended_items(trained):
    """The At-risk drill-down lists the user's recommended items (the demo log has items),
    the same ones the campaign file carries for that user."""
    recommend = pytest.importorskip("churn_core.recommend")
    at = trained
    at.switch_page("churn_app/pages/at_risk.py").run()
    at.radio(key="rule").set_value("top_k").run()
    at.number_input(key="top_k").set_value(20).run()
    assert not at.exception, at.exception
    uid = at.selectbox(key="drill_user").value
    run, log = at.session_state["run"], at.session_state["log"]
    expected = recommend.recommend_items(log.before(run.as_of), run.as_of, [uid]).iloc[0]
    expected = [str(v) for v in expected if v is not None and v == v]
    assert expected, "the demo log has items: every user gets some"
    shown = [m.value for m in at.markdown if m.value.startswith("**Recommended items:**")]
    assert shown == ["**Recommended items:** " + ", ".join(f"`{i}`" for i in expected)]
    at.switch_page(CAMPAIGN_PAGE).run()
    at.slider(key="campaign_size").set_value(_plan(at).max_size).run()  # everyone listed
    rows = read_export_bytes(_plan(at).to_bytes("csv"), "c.csv")[1].set_index("user_id")
    items = rows.loc[uid, [f"recommended_item_{i}" for i in range(1, 6)]]
    assert [str(v) for v in items if v is not None and v == v] == expected


def test_campaign_on_a_log_without_amounts_uses_one_flat_value():
    """No amounts: no per-user value to choose, a flat value (default 100) instead."""
    raw = pd.read_csv(demo_path(), dtype=str)
    raw = raw.loc[
        raw["InvoiceDate"] >= "2011-06-01", ["InvoiceNo", "StockCode", "InvoiceDate", "CustomerID"]
    ]
    at = open_app()
    data = raw.to_csv(index=False).encode("utf-8")
    at.file_uploader(key="upload").upload("no_amounts.csv", data, "text/csv").run()
    assert not at.exception, at.exception
    assert not at.session_state["log"].has_amount
    train(at)
    at.switch_page(CAMPAIGN_PAGE).run()
    assert not at.exception, at.exception
    assert not [r for r in at.radio if r.key == "campaign_value_mode"]
    assert at.number_input(key="campaign_value").value == 100.0
    meta, rows = read_export_bytes(_plan(at).to_bytes("csv"), "c.csv")
    assert meta["value"].startswith("100 per saved churner") and "value_at_risk" not in rows
    p = rows["churn_probability"].to_numpy(dtype=float)
    assert np.allclose(rows["expected_profit"], 0.2 * p * 100 - 1)
    _check_against_download(at)
