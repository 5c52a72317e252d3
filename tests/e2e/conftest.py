"""Fixtures of the real-browser tests; they skip before any server starts without Chromium."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.support import serve


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, or a skip (before a server is started)."""
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian chromium not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api")
    return path


@pytest.fixture(scope="module")
def server(chromium):
    """A streamlit server on a free port, stopped by its own PID."""
    yield from serve()
