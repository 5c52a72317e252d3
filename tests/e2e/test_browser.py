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
CHROMIUM = shutil.which("chromium")
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
    """A streamlit server on a free port, stopped by its own PID.

    Skips first, before starting anything, when no Chromium or Playwright can be found.
    """
    if CHROMIUM is None:
        pytest.skip("no Chromium found (Debian: apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api")
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


@pytest.fixture(scope="module")
def upload(tmp_path_factory) -> tuple[Path, int]:
    """A multi-event shop log the test writes (seeded synthetic), and its number of users."""
    from churn_core.datasets import synthetic_events

    path = tmp_path_factory.mktemp("upload") / "shop_events.csv.gz"
    events = synthetic_events(n_users=800, seed=3)
    events.to_csv(path, index=False)
    return path, int(events["user_id"].nunique())


def test_upload_train_download(server, upload, tmp_path):
    from playwright import sync_api

    upload_path, n_users = upload
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1700}, accept_downloads=True)
        page.goto(server)
        page.get_by_text("Profile: demo").wait_for(timeout=90_000)
        page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            str(upload_path)
        )
        page.get_by_text(f"Profile: {upload_path.name}").wait_for(timeout=90_000)
        assert _metric(page, "Users") == f"{n_users:,}"
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
        rows = list(csv.reader(io.StringIO(path.read_text())))
        assert ",".join(rows[0]).startswith("user_id,churn_probability")
        assert len(rows) - 1 == flagged
        # the download kept the session: the page and the trained run are still there
        page.get_by_text("Users in the list").wait_for(timeout=10_000)
        _go(page, "At-risk users", "Users flagged")
        assert int(_metric(page, "Users flagged").replace(",", "")) == flagged
        _go(page, "Export", "Users in the list")
        _shot(page, "5_export")
        browser.close()
