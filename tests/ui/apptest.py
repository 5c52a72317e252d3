"""Shared AppTest helpers: open the app, wait for a background run, read a metric, train."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_app(ws: str | None = None, timeout: float = 60) -> AppTest:
    """The app after its first run (optionally attached to workspace ``ws``), no exception."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    if ws is not None:
        at.query_params["ws"] = ws
    at.run()
    assert not at.exception, at.exception
    return at


def wait_until(at: AppTest, done: Callable[[AppTest], bool], seconds: float = 180) -> AppTest:
    """Rerun (as the sidebar's timer does) until ``done(at)``: runs go on in the background."""
    end = time.monotonic() + seconds
    while not done(at):
        assert time.monotonic() < end, "the background run did not finish in time"
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    """The value of the metric labelled ``label`` (fails naming the labels there are)."""
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return found[0]


def train(at: AppTest) -> AppTest:
    """Train on the loaded data with 2 folds and a 60-day horizon; wait for the run."""
    at.switch_page("churn_app/pages/model.py").run()
    at.slider(key="cv_folds").set_value(2)
    at.slider(key="horizon").set_value(60)
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    return wait_until(at, lambda a: a.session_state["run"] is not None)
