"""datasets: the bundled demo log and the seeded synthetic generator with a planted cause."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from churn_core import datasets
from churn_core.datasets import (
    PLANTED_DRIVER,
    SYNTH_START,
    TRUTH_COLUMNS,
    demo_path,
    load_demo,
    synthetic_events,
    synthetic_log,
    synthetic_truth,
)
from churn_core.events import CANONICAL_COLUMNS, EventLog
from churn_core.features import DESCRIPTIONS, aggregate_features, pick_event_types

SMALL = {"n_users": 400, "days": 240, "events_per_user": 40.0}


@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic_events(**SMALL, seed=3, return_truth=True)


def test_same_seed_gives_identical_frame():
    a = synthetic_events(**SMALL, seed=7)
    b = synthetic_events(**SMALL, seed=7)
    pd.testing.assert_frame_equal(a, b)


def test_different_seed_gives_different_frame():
    a = synthetic_events(**SMALL, seed=7)
    b = synthetic_events(**SMALL, seed=8)
    assert len(a) != len(b) or not a.equals(b)
    assert not a["timestamp"].head(50).equals(b["timestamp"].head(50))


def test_columns_dtypes_and_values(small):
    frame, _ = small
    assert tuple(frame.columns) == CANONICAL_COLUMNS
    assert pd.api.types.is_string_dtype(frame["user_id"])
    assert pd.api.types.is_datetime64_dtype(frame["timestamp"])
    assert frame["amount"].dtype == np.float64
    assert set(frame["event_type"]) == {"view", "search", "cart", "purchase", "review"}
    buys = frame["event_type"] == "purchase"
    assert (frame.loc[buys, "amount"] > 0).all()
    assert (frame.loc[~buys, "amount"] == 0).all()
    assert frame[["item_id", "category"]].notna().all().all()
    assert frame["timestamp"].min() >= SYNTH_START
    assert frame["timestamp"].max() < SYNTH_START + pd.Timedelta(days=SMALL["days"])
    # sorted by user then time, so EventLog.from_frame keeps the order
    keys = list(zip(frame["user_id"], frame["timestamp"]))
    assert keys == sorted(keys)


def test_size_follows_events_per_user():
    frame = synthetic_events(n_users=1000, seed=0, events_per_user=20.0)
    assert 0.85 * 20_000 < len(frame) < 1.15 * 20_000
    assert frame["user_id"].nunique() > 950


def test_truth_matches_events(small):
    frame, truth = small
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert len(truth) == SMALL["n_users"]
    pd.testing.assert_frame_equal(truth, synthetic_truth(**SMALL, seed=3))
    last = frame.groupby("user_id")["timestamp"].max()
    first = frame.groupby("user_id")["timestamp"].min()
    t = truth.set_index("user_id")
    churned = t.index[t["churned"]].intersection(last.index)
    assert len(churned) > 20
    # churn stops ALL activity: nothing at or after the churn time
    assert (last[churned] < t.loc[churned, "churn_time"]).all()
    assert (first >= t.loc[first.index, "signup"]).all()
    assert t.loc[~t["churned"], "churn_time"].isna().all()


def test_frustrated_users_churn_more(small):
    _, truth = small
    high = truth["frustration"] >= truth["frustration"].quantile(0.75)
    low = truth["frustration"] <= truth["frustration"].quantile(0.25)
    assert truth.loc[high, "churned"].mean() > 2 * truth.loc[low, "churned"].mean()


def test_frustrated_users_abandon_carts_but_rate_is_independent(small):
    frame, truth = small
    counts = pd.crosstab(frame["user_id"], frame["event_type"])
    t = truth.set_index("user_id").loc[counts.index]
    ratio = counts["purchase"] / counts["cart"].clip(lower=1)
    assert np.corrcoef(t["frustration"], ratio)[0, 1] < -0.6
    # view volume per active day does not depend on frustration
    span = (t["churn_time"].fillna(SYNTH_START + pd.Timedelta(days=240)) - t["signup"]).dt.days
    views_per_day = counts["view"] / span.clip(lower=1)
    assert abs(np.corrcoef(t["frustration"], views_per_day)[0, 1]) < 0.15


def test_planted_driver_is_a_feature_that_separates_churners():
    assert PLANTED_DRIVER in DESCRIPTIONS
    log = synthetic_log(n_users=800, seed=1)
    assert isinstance(log, EventLog)
    cutoff = SYNTH_START + pd.Timedelta(days=200)
    hist = log.frame.loc[log.frame["timestamp"] < cutoff]
    users = pd.Index(np.sort(hist["user_id"].unique()))
    X = aggregate_features(log.frame, cutoff, users, pick_event_types(hist))
    window_end = cutoff + pd.Timedelta(days=30)
    after = log.frame.loc[
        (log.frame["timestamp"] >= cutoff) & (log.frame["timestamp"] < window_end)
    ]
    y = ~users.isin(after["user_id"].unique())
    # LOW cart_to_purchase = HIGH risk
    assert X.loc[y, PLANTED_DRIVER].median() < X.loc[~y, PLANTED_DRIVER].median() - 0.1


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="n_users"):
        synthetic_events(n_users=0)
    with pytest.raises(ValueError, match="events_per_user"):
        synthetic_events(events_per_user=0)


def test_demo_file_and_attribution_are_bundled():
    path = demo_path()
    assert path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == datasets.DEMO_SHA256
    readme = (path.parent / "README.md").read_text()
    for needle in ("CC BY 4.0", "Daqing Chen", "archive.ics.uci.edu/dataset/352", "Apache-2.0"):
        assert needle in readme


def test_demo_log_loads():
    log = load_demo()
    purchases = log.frame.loc[log.frame["event_type"] == "purchase"]
    assert purchases["user_id"].nunique() == 4339
    assert log.n_users == 4372
    assert log.start == pd.Timestamp("2010-12-01 08:26:00")
    assert log.has_amount
