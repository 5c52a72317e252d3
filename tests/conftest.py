"""Shared fixtures: the real public logs in ../shared/data (read-only) and small built logs."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from churn_core.events import EventLog

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CHURN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (set CHURN_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def retail_log(shared_data):
    from churn_core.ingest import load_events

    return load_events(shared_data / "uci-online-retail" / "online_retail.csv.gz")


@pytest.fixture(scope="session")
def tmall_log(shared_data):
    from churn_core.config import SchemaConfig
    from churn_core.ingest import load_events

    return load_events(
        shared_data / "tmall-brand-rec-2014" / "tmall_brand_rec_2014.csv.gz",
        SchemaConfig(year=2013),
    )


def make_log(rows: list[tuple]) -> EventLog:
    """EventLog from (user, 'YYYY-MM-DD', event_type, amount) tuples."""

    frame = pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "amount"])
    return EventLog.from_frame(frame)
