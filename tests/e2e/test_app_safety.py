"""Real browser: a run survives page switches and reloads; two sessions never see each other.

Skips before any server starts when no Chromium is installed (``apt-get install chromium``).
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.support import ARGS, serve

pytestmark = pytest.mark.browser

VIEW = {"width": 1400, "height": 1200}


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=ARGS)
        yield b
        b.close()


def _go(page, title: str, marker: str) -> None:
    page.get_by_role("link", name=title).first.click()
    page.get_by_text(marker).first.wait_for(timeout=60_000)


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _sidebar(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def _open(browser, server):
    context = browser.new_context(viewport=VIEW, accept_downloads=True)
    page = context.new_page()
    page.goto(server)
    page.get_by_text("Profile: demo").wait_for(timeout=90_000)
    return context, page


def _train(page, *, slow: bool = False) -> None:
    """Press Train; ``slow`` picks the random forest, so the run is still going (about 12 s on
    a quiet machine) when the test switches pages or reloads: the default model trains the
    demo in about a second, faster than the page redraws, and a test of a run in flight would
    race it (the Transformer, a minute quiet, took over 5 minutes on a loaded CI machine)."""
    _go(page, "Churn & model", "What churn means")
    if slow:
        page.locator('[data-testid="stSelectbox"]').filter(has_text="Classifier").click()
        page.get_by_role("option", name="rf", exact=True).click()
    page.get_by_role("button", name="Train").click()
    # the click has landed once the run is going (slow) or, for the default model, may be done
    landed = "Training runs in the background" + ("" if slow else "|Runs this session")
    page.get_by_text(re.compile(landed)).first.wait_for(timeout=30_000)


def test_run_survives_a_page_switch(browser, server):
    context, page = _open(browser, server)
    _train(page, slow=True)
    _go(page, "At-risk users", "At-risk users")  # within seconds of the click
    page.get_by_text("being trained in the background").wait_for(timeout=10_000)
    assert "Training" in _sidebar(page)  # the progress block, on another page
    # wait here: the result arrives on this page without going back
    page.get_by_text("Users flagged").wait_for(timeout=300_000)
    assert int(_metric(page, "Users flagged").replace(",", "")) > 0
    assert "not trained yet" not in _sidebar(page)
    context.close()


def test_run_survives_a_reload(browser, server):
    context, page = _open(browser, server)
    _train(page, slow=True)
    assert "ws=" in page.url  # the workspace key that finds this browser's runs again
    page.reload()
    page.get_by_text("Churn & model").first.wait_for(timeout=60_000)
    page.get_by_text("Runs this session").wait_for(timeout=300_000)
    assert "not trained yet" not in _sidebar(page)
    # without the key the same tab starts a fresh session: Streamlit keeps nothing on reload
    page.goto(server)
    page.get_by_text("Profile: demo").wait_for(timeout=60_000)
    assert "not trained yet" in _sidebar(page)
    context.close()


def test_two_sessions_never_see_each_others_data_runs_or_downloads(browser, server, tmp_path):
    small = tmp_path / "isolation_small.csv"
    rows = [f"u{i % 37},2024-03-{1 + i % 28:02d},view,{i % 7}" for i in range(500)]
    small.write_text("user_id,timestamp,event_type,amount\n" + "\n".join(rows) + "\n")
    ctx_a, a = _open(browser, server)
    ctx_b, b = _open(browser, server)
    # A uploads its own file
    a.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(small))
    a.get_by_text(f"Profile: {small.name}").wait_for(timeout=60_000)
    assert _metric(a, "Users") == "37"
    # B still has the demo data, and trains on it
    b.reload()
    b.get_by_text("Profile: demo").wait_for(timeout=60_000)
    assert small.name not in b.content()
    _train(b)
    _go(b, "Export", "Users in the list")  # shown once B's run has arrived
    with b.expect_download() as info:
        b.get_by_role("button", name="Download CSV").click()
    assert info.value.suggested_filename == "churn_targets.csv"
    # A sees none of it: its own data, no run, no progress, no download
    a.reload()
    a.get_by_text(f"Profile: {small.name}").wait_for(timeout=60_000)
    assert "not trained yet" in _sidebar(a) and "Training" not in _sidebar(a)
    _go(a, "Export", "No trained model yet")
    assert a.get_by_role("button", name="Download CSV").count() == 0
    assert "demo" not in _sidebar(a)
    ctx_a.close()
    ctx_b.close()


def test_too_large_upload_is_refused_and_loads_by_path(browser, chromium, tmp_path):
    """A server with a 1 MB limit: a 2 MB file is refused, the page says how to load it by path."""
    big = tmp_path / "big_events.csv"
    rows = [
        f"u{i % 400},2024-03-{1 + i % 28:02d} 10:{i % 60:02d},view,{i % 9}" for i in range(60_000)
    ]
    big.write_text("user_id,timestamp,event_type,amount\n" + "\n".join(rows) + "\n")
    assert big.stat().st_size > 1024 * 1024
    running = serve("--server.maxUploadSize", "1")
    url = next(running)
    try:
        context, page = _open(browser, url)
        page.get_by_text("Uploads up to 1 MB").wait_for(timeout=10_000)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(big))
        page.get_by_text("1.0MB or smaller", exact=False).first.wait_for(timeout=10_000)
        assert "Profile: demo" in page.content()
        page.get_by_text("Load from a local path (files").click()
        page.get_by_placeholder("/data/events.csv.gz").fill(str(big))
        page.get_by_role("button", name="Load file").click()
        page.get_by_text(f"Profile: {big}").wait_for(timeout=60_000)
        assert _metric(page, "Users") == "400"
        context.close()
    finally:
        running.close()
