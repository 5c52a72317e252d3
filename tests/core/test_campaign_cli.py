"""CLI contract of ``campaign`` and ``outcome`` (and the safe ``score --out``), on a small
log whose user ids are spreadsheet formulas."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churn_core.cli import main
from churn_core.config import LabelSpec
from churn_core.events import EventLog
from churn_core.export import read_export, write_export
from churn_core.labels import build_labels
from tests.core.test_leakage import _base_log

REPO = Path(__file__).resolve().parents[2]
AS_OF = "2023-10-01"
HOSTILE = ['=HYPERLINK("http://evil.example","click")', "+SUM(1,2)", "@cmd", "-2+3"]
LIST_COLUMNS = [
    "user_id",
    "churn_probability",
    "risk_tier",
    "group",
    "action",
    "expected_profit",
    "reason_1",
    "reason_2",
    "reason_3",
    "value_at_risk",
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """(events csv, events csv without amounts, trained model dir) for a 250-user log."""
    d = tmp_path_factory.mktemp("shop")
    frame = _base_log(n_users=250).frame.copy()
    rename = {f"u{i}": h for i, h in enumerate(HOSTILE)}
    frame["user_id"] = frame["user_id"].replace(rename)
    events = d / "events.csv"
    frame.to_csv(events, index=False)
    no_amounts = d / "no_amounts.csv"
    frame.drop(columns=["amount"]).to_csv(no_amounts, index=False)
    model = d / "m"
    args = ["-q", "train", str(events), "--horizon-days", "30", "--model-dir", str(model)]
    assert main([*args, "--as-of", AS_OF]) == 0
    return events, no_amounts, model, frame


def _campaign(shop, out, *extra) -> int:
    events, _, model, _ = shop
    return main(
        ["-q", "campaign", str(events), "--model-dir", str(model), "--out", str(out)]
        + ["--as-of", AS_OF, *extra]
    )


def test_campaign_writes_the_list_and_prints_the_plan(shop, tmp_path, capsys):
    out = tmp_path / "list.csv"
    assert _campaign(shop, out, "--contact-cost", "0.5", "--seed", "3") == 0
    printed = capsys.readouterr().out
    assert "expected churners reached" in printed and "expected profit" in printed
    meta, f = read_export(out)
    assert list(f.columns) == LIST_COLUMNS  # no item column in this log
    assert (meta["as_of"], meta["seed"], meta["control_share"]) == ("2023-10-01 00:00", "3", "0.1")
    assert f["churn_probability"].is_monotonic_decreasing
    assert set(f["group"]) == {"treat", "control"} and f["action"].notna().all()
    assert int(meta["campaign_size"]) == len(f) == int(meta["suggested_size"])
    treat = f.loc[f["group"] == "treat"]
    assert float(meta["expected_profit"]) == pytest.approx(treat["expected_profit"].sum(), abs=1e-3)
    assert f"expected profit: {treat['expected_profit'].sum():,.2f}" in printed
    # the hostile ids come back as they were, and the raw file holds them escaped
    assert set(HOSTILE) & set(f["user_id"])
    text = out.read_text(encoding="utf-8-sig")
    assert "\n'@cmd," in text or "\n'-2+3," in text or "'=HYPERLINK" in text


def test_campaign_out_of_core_writes_the_same_list(shop, tmp_path, capsys):
    """``--engine duckdb`` (three bounded passes over the file) = the in-memory campaign."""
    events, _, model, _ = shop
    local, duck = tmp_path / "local.csv", tmp_path / "duck.csv"
    assert _campaign(shop, local) == 0
    args = ["campaign", str(events), "--model-dir", str(model), "--out", str(duck)]
    assert main([*args, "--as-of", AS_OF, "--engine", "duckdb"]) == 0
    progress = capsys.readouterr().err
    assert "out of core" in progress and "explaining the" in progress  # the source path ran
    (meta_l, ours), (meta_d, theirs) = read_export(local), read_export(duck)
    assert meta_l == meta_d
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-6)


def test_campaign_xlsx_and_score_xlsx_hold_no_formula(shop, tmp_path):
    events, _, model, _ = shop
    out = tmp_path / "list.xlsx"
    assert _campaign(shop, out, "--size", "240") == 0
    scores = tmp_path / "scores.xlsx"
    args = ["-q", "score", str(events), "--model-dir", str(model), "--out", str(scores)]
    assert main([*args, "--as-of", AS_OF]) == 0
    for path in (out, scores):
        wb = openpyxl.load_workbook(path)
        cells = [c for ws in wb for row in ws.iter_rows() for c in row]
        assert not [c.coordinate for c in cells if c.data_type == "f"], path.name
        ids = {c.value for c in wb.worksheets[0]["A"][1:]}
        assert '\'=HYPERLINK("http://evil.example","click")' in ids
        assert set(HOSTILE) <= set(read_export(path)[1]["user_id"])
    assert len(read_export(out)[1]) == 240


def test_outcome_json_matches_an_independent_grading(shop, tmp_path, capsys):
    events, _, _, frame = shop
    out = tmp_path / "list.csv"
    assert _campaign(shop, out, "--size", "1000") == 0
    capsys.readouterr()
    assert main(["-q", "outcome", str(events), "--campaign", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"roc_auc", "pr_auc", "by_tier", "by_group", "uplift"} <= set(report)
    _, f = read_export(out)
    y = build_labels(EventLog.from_frame(frame), LabelSpec(horizon_days=30), pd.Timestamp(AS_OF))
    y = y.reindex(f["user_id"])
    assert report["users"] == len(f) and not y.isna().any()
    expected = roc_auc_score(y.to_numpy(), np.clip(f["churn_probability"], 1e-6, 1 - 1e-6))
    assert report["roc_auc"] == pytest.approx(expected, abs=1e-6)
    treat = f["group"] == "treat"
    assert report["by_group"]["treat"]["churn_rate"] == pytest.approx(y[treat.to_numpy()].mean())
    rep = tmp_path / "report.csv"
    assert main(["-q", "outcome", str(events), "--campaign", str(out), "--out", str(rep)]) == 0
    assert "uplift (control churn - treated churn)" in capsys.readouterr().out
    meta, table = read_export(rep)  # the report goes through the same writer
    assert float(meta["roc_auc"]) == pytest.approx(report["roc_auc"], abs=1e-5)
    groups = table.loc[table["section"] == "group"].set_index("name")
    assert groups.loc["treat", "users"] == report["by_group"]["treat"]["users"]


def _subprocess_error(argv: list[str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "churn_core", "-q", *argv], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    return lines[0]


def _error(argv: list[str], capsys) -> str:
    capsys.readouterr()
    assert main(["-q", *argv]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    return lines[0]


def test_bad_combinations_exit_2_with_one_line(shop, tmp_path, capsys):
    events, no_amounts, model, frame = shop
    base = ["--model-dir", str(model), "--as-of", AS_OF]
    # no amounts and no --value: the default value of 100, stated in the plan and the file
    assert main(["-q", "campaign", str(no_amounts), *base, "--out", str(tmp_path / "b.csv")]) == 0
    assert "100 per saved churner (default" in capsys.readouterr().out
    msg = _subprocess_error(["campaign", str(events), *base, "--out", str(tmp_path / "a.txt")])
    assert ".csv or .xlsx" in msg
    msg = _error(
        ["campaign", str(events), *base, "--out", str(tmp_path / "a.csv"), "--control-share", "2"],
        capsys,
    )
    assert "control_share" in msg
    good = tmp_path / "list.csv"
    assert _campaign(shop, good) == 0
    msg = _error(["outcome", str(events), "--campaign", str(good), "--horizon-days", "365"], capsys)
    assert "not complete" in msg and "--horizon-days" in msg
    other = tmp_path / "other.csv"
    meta, f = read_export(good)
    write_export(f.assign(user_id=[f"z{i}" for i in range(len(f))]), other, meta)
    msg = _error(["outcome", str(events), "--campaign", str(other)], capsys)
    assert "another log" in msg
    write_export(f.drop(columns=["risk_tier"]), other, meta)
    assert "risk_tier" in _error(["outcome", str(events), "--campaign", str(other)], capsys)
