"""Real-browser passes on the bundled demo log: train, at-risk users, explanations, export,
campaign; then the closed loop: a campaign on the log cut at a date, downloaded, and the
outcome of that file read against the full log. Screenshots of every page."""

from __future__ import annotations

import csv
import gzip
import io
import os
import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e.support import ARGS, REPO

pytestmark = pytest.mark.browser

DEMO = REPO / "churn_core" / "data" / "online_retail.csv.gz"
# The campaign is planned as of this date on the demo log cut just before it; the outcome page
# then reads what happened in the 90 days after it from the full log (which ends 2011-12-09).
CUT = "2011-09-01"
# Refresh the README's pictures with CHURN_SCREENSHOTS_DIR=docs/screenshots; by default a
# test run writes them to a temporary folder and leaves the working tree clean.
SHOTS = Path(
    os.environ.get("CHURN_SCREENSHOTS_DIR", Path(tempfile.gettempdir()) / "churn-screenshots")
)


def _shot(page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(800)  # let plotly finish drawing
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def _wait_for_metric_change(page, label: str, old: str, timeout_s: float = 60) -> None:
    """Wait until the app reran and the metric ``label`` shows something other than ``old``."""
    deadline = time.monotonic() + timeout_s
    while _metric(page, label) == old:
        if time.monotonic() > deadline:
            pytest.fail(f"metric {label!r} still shows {old!r} after {timeout_s:.0f} s")
        page.wait_for_timeout(250)


def _go(page, title: str, marker: str) -> None:
    page.get_by_role("link", name=title).first.click()
    page.get_by_text(marker).first.wait_for(timeout=60_000)


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("−", "-"))


def _upload(page, path: Path, index: int = 0) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(index).set_input_files(
        str(path)
    )


def _train(page) -> None:
    _go(page, "Churn & model", "What churn means")
    page.get_by_role("button", name="Train").click()
    page.get_by_text("Runs this session").wait_for(timeout=180_000)
    page.locator(".js-plotly-plot").nth(3).wait_for(timeout=30_000)


def _download(page, label: str, path: Path) -> Path:
    with page.expect_download() as info:
        page.get_by_role("button", name=label).click()
    info.value.save_as(path)
    return path


def _read_campaign(path: Path):
    """The campaign file's rows, read back by the core's own reader."""
    from churn_core.export import read_export

    return read_export(path)[1]


def _cut_demo(path: Path, before: str) -> Path:
    """The demo log's lines with an invoice date before ``before`` (ISO dates sort as text)."""
    with gzip.open(DEMO, "rt", encoding="utf-8", newline="") as src:
        rows = csv.reader(src)
        header = next(rows)
        at = header.index("InvoiceDate")
        with gzip.open(path, "wt", encoding="utf-8", newline="") as dst:
            out = csv.writer(dst)
            out.writerow(header)
            out.writerows(r for r in rows if r[at] < before)
    return path


@pytest.fixture(scope="module")
def browser(chromium):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        yield browser
        browser.close()


def _new_page(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1700}, accept_downloads=True)
    page.goto(server)
    page.get_by_text("Profile: demo").wait_for(timeout=90_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    return page


def test_demo_pages_and_downloads(browser, server, tmp_path):
    """Demo log -> train -> at-risk -> explanations -> export download -> campaign download."""
    page = _new_page(browser, server)
    assert _metric(page, "Users") == "4,372"
    _shot(page, "1_data")

    _train(page)
    _shot(page, "2_model")

    _go(page, "At-risk users", "Users flagged")
    flagged = int(_number(_metric(page, "Users flagged")))
    assert flagged > 0

    _go(page, "Explanations", "Explanations")
    page.get_by_role("button", name="Compute explanations").click()
    page.get_by_text("What drives churn risk overall").wait_for(timeout=120_000)
    _shot(page, "4_explanations")

    _go(page, "Export", "Users in the list")
    assert int(_number(_metric(page, "Users in the list"))) == flagged
    path = _download(page, "Download CSV", tmp_path / "targets.csv")
    text = path.read_text(encoding="utf-8-sig")  # "# key: value" metadata lines first
    rows = [r for r in csv.reader(io.StringIO(text)) if not (r and r[0].startswith("#"))]
    assert ",".join(rows[0]).startswith("user_id,churn_probability")
    assert len(rows) - 1 == flagged
    # the download kept the session: the page and the trained run are still there
    page.get_by_text("Users in the list").wait_for(timeout=10_000)
    _go(page, "At-risk users", "Users flagged")
    assert int(_number(_metric(page, "Users flagged"))) == flagged
    page.get_by_text("Why this user").first.wait_for(timeout=60_000)  # reasons and waterfall
    _shot(page, "3_at_risk")
    _go(page, "Export", "Users in the list")
    _shot(page, "5_export")

    _go(page, "Campaign", "Profit by list size")
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    size = _metric(page, "List size")
    # a dearer contact (a 20-per-user voucher): the most profitable list gets shorter
    box = page.get_by_label("Contact cost per user")
    box.fill("20")
    box.press("Enter")
    _wait_for_metric_change(page, "List size", size)
    size = int(_number(_metric(page, "List size")))
    profit = _number(_metric(page, "Expected profit"))
    assert 0 < size < 4372
    page.get_by_role("button", name="Download campaign XLSX").wait_for(timeout=30_000)
    _shot(page, "6_campaign")
    page.set_viewport_size({"width": 1400, "height": 1280})  # the README's opening picture
    _shot(page, "hero", full_page=False)
    page.set_viewport_size({"width": 1400, "height": 1700})
    plan = _read_campaign(_download(page, "Download campaign CSV", tmp_path / "campaign.csv"))
    assert len(plan) == size
    treat = plan["group"] == "treat"  # control users are not contacted: no cost, no profit
    assert f"{plan.loc[treat, 'expected_profit'].sum():,.2f}" == f"{profit:,.2f}"
    assert (plan.loc[treat, "expected_profit"] > 0).all()
    page.get_by_text("Profit by list size").first.wait_for(timeout=10_000)
    page.close()


def test_campaign_then_outcome(browser, server, tmp_path):
    """Upload the demo log cut at CUT -> train -> campaign -> download it -> Outcomes page reads
    that file against the full log and shows the realised figures."""
    page = _new_page(browser, server)
    cut = _cut_demo(tmp_path / f"online_retail_before_{CUT}.csv.gz", CUT)
    _upload(page, cut)
    page.get_by_text(f"Profile: {cut.name}").wait_for(timeout=90_000)
    assert _metric(page, "To") < CUT
    _train(page)

    _go(page, "Campaign", "Profit by list size")
    size = int(_number(_metric(page, "List size")))
    path = _download(page, "Download campaign CSV", tmp_path / "campaign.csv")
    assert len(_read_campaign(path)) == size

    _go(page, "Outcomes", "Outcomes")
    _upload(page, DEMO, 0)  # the later events: the full demo log
    _upload(page, path, 1)  # the campaign file just downloaded
    page.get_by_text("Realised churn per risk tier").first.wait_for(timeout=120_000)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=30_000)
    auc = _number(_metric(page, "Realised ROC AUC"))
    assert 0.5 < auc <= 1.0
    assert page.get_by_text("Traceback").count() == 0
    _shot(page, "7_outcomes")
    page.close()
