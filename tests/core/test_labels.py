"""Labels: windows, eligibility, cutoffs, and what counts as activity."""

import pandas as pd
import pytest

from churn_core.config import LabelSpec
from churn_core.labels import (
    build_labels,
    eligible_users,
    helper_cutoffs,
    label_summary,
    training_cutoffs,
)
from tests.conftest import make_log

T = pd.Timestamp("2024-03-01")


def test_label_is_no_activity_in_window():
    log = make_log(
        [
            ("stays", "2024-02-01", "purchase", 10),
            ("stays", "2024-03-05", "view", 0),  # active inside [T, T+30)
            ("churns", "2024-02-10", "purchase", 5),
            ("churns", "2024-04-15", "purchase", 5),  # after the window: still churned
            ("late", "2024-03-02", "purchase", 5),  # first event after T: not eligible
        ]
    )
    y = build_labels(log, LabelSpec(horizon_days=30), T)
    assert y.to_dict() == {"churns": 1, "stays": 0}


def test_window_end_is_exclusive_and_gap_shifts_it():
    log = make_log(
        [
            ("u", "2024-02-01", "view", 0),
            ("u", "2024-03-31", "view", 0),
            ("v", "2024-02-01", "view", 0),
            ("v", "2024-03-30", "view", 0),
        ]
    )
    y = build_labels(log, LabelSpec(horizon_days=30), T)  # window [03-01, 03-31)
    assert y.to_dict() == {"u": 1, "v": 0}
    y_gap = build_labels(log, LabelSpec(horizon_days=30, gap_days=1), T)  # [03-02, 04-01)
    assert y_gap.to_dict() == {"u": 0, "v": 0}


def test_activity_events_restrict_what_counts():
    log = make_log([("u", "2024-02-01", "purchase", 9), ("u", "2024-03-03", "view", 0)])
    assert build_labels(log, LabelSpec(horizon_days=30), T)["u"] == 0
    spec = LabelSpec(horizon_days=30, activity_events=("purchase",))
    assert build_labels(log, spec, T)["u"] == 1


def test_cancellations_are_not_activity():
    log = make_log(
        [
            ("u", "2024-02-01", "purchase", 9),
            ("u", "2024-03-03", "cancel", -9),
            ("only_cancel", "2024-02-03", "cancel", -1),
        ]
    )
    y = build_labels(log, LabelSpec(horizon_days=30), T)
    assert y.to_dict() == {"u": 1}  # a cancel-only user is not an active user


def test_active_within_days_limits_eligibility():
    log = make_log([("old", "2023-06-01", "view", 0), ("recent", "2024-02-20", "view", 0)])
    assert list(eligible_users(log, LabelSpec(), T)) == ["old", "recent"]
    assert list(eligible_users(log, LabelSpec(active_within_days=30), T)) == ["recent"]


def test_training_cutoffs_have_complete_windows():
    log = make_log([("u", "2023-01-01", "view", 0), ("u", "2024-01-01", "view", 0)])
    spec = LabelSpec(horizon_days=60, n_cutoffs=3, step_days=20)
    as_of = pd.Timestamp("2024-01-02")
    cuts = training_cutoffs(log, spec, as_of)
    assert cuts == [as_of - pd.Timedelta(days=d) for d in (60, 80, 100)]
    assert all(c + pd.Timedelta(days=60) <= as_of for c in cuts)
    summary = label_summary(log, spec, as_of)
    assert list(summary["cutoff"]) == cuts and (summary["eligible"] == 1).all()


def test_cutoffs_before_the_log_are_skipped():
    log = make_log([("u", "2024-01-01", "view", 0), ("u", "2024-01-20", "view", 0)])
    assert training_cutoffs(log, LabelSpec(horizon_days=30), pd.Timestamp("2024-01-25")) == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"horizon_days": 0}, "between 1 and 365"),
        ({"horizon_days": 366}, "between 1 and 365"),
        ({"gap_days": -1}, "gap_days"),
        ({"n_cutoffs": 0}, "n_cutoffs"),
    ],
)
def test_label_spec_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LabelSpec(**kwargs)


def test_retail_label_counts_match_the_data_readme(retail_log):
    """Figures published in ../shared/data/README.md (cutoff 2011-09-10, H = 90)."""
    y = build_labels(retail_log, LabelSpec(horizon_days=90), pd.Timestamp("2011-09-10"))
    assert (len(y), int(y.sum())) == (3370, 1451)


def test_tmall_label_counts_match_the_data_readme(tmall_log):
    y = build_labels(tmall_log, LabelSpec(horizon_days=31), pd.Timestamp("2013-07-16"))
    assert (len(y), int(y.sum())) == (860, 53)


def _daily_log(days: int):
    """One purchase a day from 2024-01-01 for ``days`` days, two users."""
    rows = [
        (u, str(pd.Timestamp("2024-01-01") + pd.Timedelta(days=d)), "purchase", 1.0)
        for d in range(days)
        for u in ("a", "b")
    ]
    return make_log(rows)


def test_helper_cutoffs_when_the_horizon_leaves_the_newest_cutoff_short_of_history():
    """As of day 63 with H = 56 the newest cutoff sees 7 of 63 days (11 %): helper rows are
    labelled over half the history (31 days), their windows close by as_of, and their
    newest cutoff sees half the history. With H = 14 (49 of 63 days) there are none."""
    log = _daily_log(63)
    as_of = pd.Timestamp("2024-03-04")  # 63 days after the first event
    spec = LabelSpec(horizon_days=56, step_days=30)
    helpers = helper_cutoffs(log, spec, as_of, training_cutoffs(log, spec, as_of))
    assert helpers is not None and helpers.spec.horizon_days == 31
    assert helpers.spec.step_days is None  # the helper's own step (max(7, 31 // 3) = 10)
    assert helpers.cutoffs == [as_of - pd.Timedelta(days=d) for d in (31, 41, 51, 61)]
    assert all(c + pd.Timedelta(days=31) <= as_of for c in helpers.cutoffs)
    fine = LabelSpec(horizon_days=14)
    assert helper_cutoffs(log, fine, as_of, training_cutoffs(log, fine, as_of)) is None


def _monthly_log(days: int, cycle: int = 20):
    """Customer ``c<k>`` buys on day k (k = 0..13) of 2024 and every ``cycle`` days after,
    up to day ``days``: nobody has come back by day 14, everyone has by day 34."""
    start = pd.Timestamp("2024-01-01")
    rows = [
        (f"c{k}", str(start + pd.Timedelta(days=d)), "purchase", 1.0)
        for k in range(14)
        for d in range(k, days, cycle)
    ]
    return make_log(rows)


def test_repeat_shares_count_customers_active_on_two_days_or_more():
    log = make_log(
        [
            ("once", "2024-01-01 00:00", "purchase", 1.0),
            ("same_day", "2024-01-01 09:00", "purchase", 1.0),
            ("same_day", "2024-01-01 18:00", "view", 0.0),
            ("back", "2024-01-01 00:00", "purchase", 1.0),
            ("back", "2024-01-05 00:00", "purchase", 1.0),
            ("returns", "2024-01-01 00:00", "purchase", 1.0),
            ("returns", "2024-01-03 00:00", "cancel", -1.0),  # a cancellation is not activity
            ("browser", "2024-01-01 00:00", "view", 0.0),
            ("browser", "2024-01-04 00:00", "purchase", 1.0),
        ]
    )
    at = [pd.Timestamp(t) for t in ("2023-12-31", "2024-01-02", "2024-01-06")]
    assert log.source().repeat_shares(LabelSpec(), at) == [0.0, 0.0, 2 / 5]
    buys = LabelSpec(activity_events=("purchase",))  # the label's activity decides
    assert log.source().repeat_shares(buys, at[-1:]) == [1 / 5]


def test_helper_cutoffs_when_the_newest_cutoff_has_no_repeat_customers_yet():
    """44 days of a shop whose customers reorder every 20 days, H = 30: the newest cutoff
    sees 14 of 44 days (32 %, not short by itself), but none of its customers has come back,
    while all have at the forecast. Helper rows over half the history (22 days) are added and
    say why; customers who buy daily over the same days call for none."""
    as_of, spec = pd.Timestamp("2024-02-14"), LabelSpec(horizon_days=30)
    log = _monthly_log(44)
    helpers = helper_cutoffs(log, spec, as_of, training_cutoffs(log, spec, as_of))
    assert helpers is not None and helpers.spec.horizon_days == 22
    assert helpers.repeat_shares == (0.0, 1.0)
    assert all(c + pd.Timedelta(days=22) <= as_of for c in helpers.cutoffs)
    daily = _daily_log(44)
    assert helper_cutoffs(daily, spec, as_of, training_cutoffs(daily, spec, as_of)) is None


def test_no_helper_cutoffs_when_half_the_history_is_not_shorter_than_the_horizon():
    log = _daily_log(12)
    as_of = pd.Timestamp("2024-01-13")  # 12 days; H = 7 leaves the newest cutoff 5 days
    spec = LabelSpec(horizon_days=7)
    cuts = training_cutoffs(log, spec, as_of)
    assert cuts and helper_cutoffs(log, spec, as_of, cuts) is None  # 5 / 12 days: not short
    as_of = pd.Timestamp("2024-01-09")  # 8 days; the newest cutoff sees 1 (short), but the
    cuts = training_cutoffs(log, spec, as_of)  # helper horizon would be max(7, 8 // 2) = 7
    assert cuts and helper_cutoffs(log, spec, as_of, cuts) is None
    assert helper_cutoffs(log, spec, as_of, []) is None
