"""Broken and hostile files through ``load_events``: an EventLog or one EventDataError."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from hypothesis import given, settings

from churn_core.errors import EventDataError
from churn_core.ingest import load_events
from tests.fuzz.conftest import examples
from tests.fuzz.strategies import log_files, plausible_logs


def check_load(data: bytes, name: str):
    """Load ``data``; the result must be a consistent EventLog or an EventDataError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            log = load_events(data, name=name)
        except EventDataError as err:
            assert err.problems and all(isinstance(p, str) and p.strip() for p in err.problems)
            return None
    frame, report = log.frame, log.report
    assert report.rows_read == report.rows_kept + report.rows_dropped
    assert report.rows_kept == len(frame) > 0
    assert frame["user_id"].notna().all() and frame["timestamp"].notna().all()
    assert frame["timestamp"].dtype == "datetime64[ns]"
    assert np.isfinite(frame["amount"].to_numpy()).all()
    assert frame["user_id"].nunique() >= 2
    assert not frame["user_id"].str.contains(r"[\x00-\x08\x0b\x0c\x0e-\x1f]").any()
    return log


@settings(max_examples=examples("ingest"))
@given(log_files())
def test_any_file_gives_a_log_or_one_clear_error(case):
    name, data = case
    check_load(data, name)


@settings(max_examples=examples("plausible"))
@given(plausible_logs())
def test_plausible_logs_load_with_every_row_counted(frame: pd.DataFrame):
    check_load(frame.to_csv(index=False).encode(), "events.csv")
