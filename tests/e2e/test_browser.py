"""One real-browser pass: upload, train, at-risk users, download the CSV; screenshots of pages."""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("CHURN_SHARED_DATA", REPO.parent / "shared" / "data"))
UPLOAD = SHARED / "tmall-brand-rec-2014" / "tmall_brand_rec_2014.csv.gz"
# Refresh the README's pictures with CHURN_SCREENSHOTS_DIR=docs/screenshots; by default a
# test run writes them to a temporary folder and leaves the working tree clean.
SHOTS = Path(
    os.environ.get("CHURN_SCREENSHOTS_DIR", Path(tempfile.gettempdir()) / "churn-screenshots")
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """A streamlit server on a free port, stopped by its own PID."""
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit server did not become healthy in 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(800)  # let plotly finish drawing
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _go(page, title: str, marker: str) -> None:
    page.get_by_role("link", name=title).first.click()
    page.get_by_text(marker).first.wait_for(timeout=60_000)


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_upload_train_download(server, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian chromium not installed (apt-get install -y chromium)")
    if not UPLOAD.is_file():
        pytest.skip(f"shared data not found at {UPLOAD}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1700}, accept_downloads=True)
        page.goto(server)
        page.get_by_text("Profile: demo").wait_for(timeout=90_000)
        page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(UPLOAD))
        page.get_by_text(f"Profile: {UPLOAD.name}").wait_for(timeout=90_000)
        assert _metric(page, "Users") == "884"
        _shot(page, "1_data")

        _go(page, "Churn & model", "What churn means")
        page.get_by_role("button", name="Train").click()
        page.get_by_text("Runs this session").wait_for(timeout=180_000)
        page.locator(".js-plotly-plot").nth(3).wait_for(timeout=30_000)
        _shot(page, "2_model")

        _go(page, "At-risk users", "Users flagged")
        flagged = int(_metric(page, "Users flagged").replace(",", ""))
        assert flagged > 0
        _shot(page, "3_at_risk")

        _go(page, "Explanations", "Explanations")
        page.get_by_role("button", name="Compute explanations").click()
        page.get_by_text("What drives churn risk overall").wait_for(timeout=120_000)
        _shot(page, "4_explanations")

        _go(page, "Export", "Users in the list")
        assert int(_metric(page, "Users in the list").replace(",", "")) == flagged
        with page.expect_download() as info:
            page.get_by_role("button", name="Download CSV").click()
        path = tmp_path / "targets.csv"
        info.value.save_as(path)
        text = path.read_text(encoding="utf-8-sig")  # "# key: value" metadata lines first
        rows = list(csv.reader(io.StringIO(text)))
        rows = [r for r in rows if not (r and r[0].startswith("#"))]
        assert ",".join(rows[0]).startswith("user_id,churn_probability")
        assert len(rows) - 1 == flagged
        # the download kept the session: the page and the trained run are still there
        page.get_by_text("Users in the list").wait_for(timeout=10_000)
        _go(page, "At-risk users", "Users flagged")
        assert int(_metric(page, "Users flagged").replace(",", "")) == flagged
        _go(page, "Export", "Users in the list")
        _shot(page, "5_export")
        browser.close()
