"""AppTest: every page runs; demo data -> train -> at-risk -> export; a bad upload is explained."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.ui.apptest import metric, open_app, train, wait_until  # noqa: E402

PAGES = [
    "churn_app/pages/data.py",
    "churn_app/pages/model.py",
    "churn_app/pages/at_risk.py",
    "churn_app/pages/explanations.py",
    "churn_app/pages/export.py",
]


@pytest.fixture(scope="module")
def trained() -> AppTest:
    return train(open_app())


def test_demo_loaded_on_first_start():
    at = open_app()
    log = at.session_state["log"]
    assert log.n_users > 1000
    assert metric(at, "Users") == f"{log.n_users:,}"
    assert len(at.get("plotly_chart")) == 2
    # the demo drops rows without a customer id: the table says how many, the count first
    # (a narrow column cut off the count when it came second)
    dropped = next(
        d.value for d in at.dataframe if "rows dropped" in getattr(d.value, "columns", [])
    )
    assert list(dropped.columns) == ["rows dropped", "reason"]
    assert dict(zip(dropped["reason"], dropped["rows dropped"], strict=True)) == dict(
        log.report.dropped
    )
    assert sum(dropped["rows dropped"]) > 0


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_a_run(page):
    at = open_app()
    at.switch_page(page).run()
    assert not at.exception, at.exception


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_after_training(trained, page):
    trained.switch_page(page).run()
    assert not trained.exception, trained.exception


def test_training_shows_results_and_runs_table(trained):
    trained.switch_page("churn_app/pages/model.py").run()
    run = trained.session_state["run"]
    assert run.config.label.horizon_days == 60 and run.config.model.cv_folds == 2
    assert float(metric(trained, "CV ROC AUC")) == pytest.approx(
        run.cv.summary.loc["roc_auc", "mean"], abs=1e-3
    )
    assert len(trained.get("plotly_chart")) >= 7
    runs = trained.dataframe[-1].value
    assert len(runs) == 1 and runs["horizon_days"].iloc[0] == 60


def test_at_risk_headline_matches_scores(trained):
    at = trained
    at.switch_page("churn_app/pages/at_risk.py").run()
    run = at.session_state["run"]
    at.radio(key="rule").set_value("probability").run()
    at.slider(key="threshold").set_value(0.7).run()
    assert not at.exception
    p = run.scores["churn_probability"]
    flagged = int((p >= 0.7).sum())
    assert 0 < flagged < len(p)
    assert metric(at, "Users flagged") == f"{flagged:,}"
    expected = p[p >= 0.7].sum()
    assert metric(at, "Expected churners among them") == f"{expected:,.0f}"
    table = at.dataframe[0].value
    assert len(table) == flagged
    assert table["churn_probability"].min() >= 0.7
    # top-K re-ranks from stored scores: the same run object, K rows
    at.radio(key="rule").set_value("top_k").run()
    at.number_input(key="top_k").set_value(25).run()
    assert at.session_state["run"] is run
    assert metric(at, "Users flagged") == "25"
    assert at.dataframe[0].value["user_id"].tolist() == run.scores["user_id"].head(25).tolist()


def test_export_shows_downloads_and_keeps_run(trained):
    at = trained
    at.switch_page("churn_app/pages/at_risk.py").run()
    at.radio(key="rule").set_value("top_k").run()
    at.number_input(key="top_k").set_value(40).run()
    at.switch_page("churn_app/pages/export.py").run()
    assert not at.exception
    buttons = at.get("download_button")
    labels = [b.proto.label for b in buttons]
    assert labels == ["Download CSV", "Download XLSX"]
    assert metric(at, "Users in the list") == "40"
    assert any("The first 40 of 40 rows" in c.value for c in at.caption)
    run = at.session_state["run"]
    at.run()  # a rerun (as after a download) keeps the trained run
    assert at.session_state["run"] is run
    at.multiselect(key="export_tiers").set_value([]).run()  # no tier: an empty list, said so
    assert metric(at, "Users in the list") == "0"
    assert any("No users in the list" in c.value for c in at.caption)


def test_bad_upload_lists_problems():
    at = open_app()
    before = at.session_state["log"]
    bad = b"customer,product\n1,a\n2,b\n3,c\n"
    at.file_uploader(key="upload").upload("no_time.csv", bad, "text/csv").run()
    assert not at.exception, at.exception
    assert at.error, "expected an error box listing the problems"
    text = at.error[0].value
    assert "cannot be used" in text and "- " in text
    assert "time" in text.lower()
    assert "Traceback" not in text
    assert at.session_state["log"] is before or at.session_state["log"].n_users == before.n_users


def test_thin_definition_warns():
    at = open_app()
    at.switch_page("churn_app/pages/model.py").run()
    at.slider(key="horizon").set_value(180).run()
    at.number_input(key="n_cutoffs").set_value(1).run()
    at.number_input(key="within").set_value(1).run()
    assert not at.exception
    assert at.warning or at.error


def _n_points(xs) -> int:
    """Length of a plotly data array, plain list or typed ({dtype, bdata} base64)."""
    if isinstance(xs, dict):
        return len(base64.b64decode(xs["bdata"])) // np.dtype(xs["dtype"]).itemsize
    return len(xs)


def test_explanations_then_drill_down(trained):
    at = trained
    at.switch_page("churn_app/pages/explanations.py").run()
    assert not at.exception, at.exception
    at.number_input(key="explain_users").set_value(300)
    next(b for b in at.button if b.label == "Compute explanations").click().run()
    assert not at.exception, at.exception
    wait_until(at, lambda a: a.session_state["explanation"] is not None)
    run, exp = at.session_state["explanation"]
    assert run is at.session_state["run"] and len(exp.values) == 300
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # drivers, drivers per tier, beeswarm
    swarm = json.loads(charts[2].proto.spec)["data"][0]
    assert _n_points(swarm["x"]) == 300 * min(10, exp.values.shape[1])  # a dot per user/factor
    drivers = at.dataframe[0].value
    assert drivers["mean_abs_shap"].is_monotonic_decreasing
    at.switch_page("churn_app/pages/at_risk.py").run()
    at.radio(key="rule").set_value("top_k").run()
    at.number_input(key="top_k").set_value(20).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert {"reason_1", "reason_2", "reason_3"} <= set(table.columns)
    assert table["reason_1"].notna().all()
    assert len(at.get("plotly_chart")) == 2  # user timeline + waterfall


def test_a_young_log_with_a_long_horizon_says_what_the_model_learned_from():
    """Nine weeks of a purchase-only shop, H = 56: the newest training cutoff sees a week.
    The model page warns, and names the helper rows (31-day labels) the run also fitted."""
    from churn_core.purchase_logs import START, purchase_log

    frame = purchase_log("open", 0, users=3000)
    young = frame[frame["timestamp"] < START + pd.Timedelta(days=63)]
    at = open_app()
    at.file_uploader(key="upload").upload(
        "young.csv", young.to_csv(index=False).encode(), "text/csv"
    )
    at.run()
    assert not at.exception, at.exception
    at.switch_page("churn_app/pages/model.py").run()
    at.slider(key="cv_folds").set_value(2)
    at.slider(key="horizon").set_value(56)
    next(b for b in at.button if b.label == "Train").click().run()
    at = wait_until(at, lambda a: a.session_state["run"] is not None)
    run = at.session_state["run"]
    assert run.helper_horizon == 31
    notes = [w.value for w in at.warning if "newest training cutoff" in w.value]
    assert notes and "labelled over 31 days" in notes[0], [w.value for w in at.warning]
