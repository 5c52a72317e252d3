"""No leakage: events at or after a cutoff change neither features nor labels at that cutoff."""

import numpy as np
import pandas as pd

from churn_core.config import ChurnConfig, LabelSpec
from churn_core.events import EventLog
from churn_core.features import pick_event_types
from churn_core.labels import build_labels, training_cutoffs
from churn_core.pipeline import train
from churn_core.table import training_table


def _base_log(seed: int = 0, n_users: int = 300) -> EventLog:
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2023-01-01")
    for u in range(n_users):
        rate = rng.uniform(0.02, 0.3)
        stop = rng.uniform(60, 400)
        t = rng.uniform(0, 30)
        while t < stop:
            kind = rng.choice(["view", "cart", "purchase"], p=[0.7, 0.2, 0.1])
            rows.append(
                (
                    f"u{u}",
                    start + pd.Timedelta(days=t),
                    kind,
                    float(rng.gamma(2, 20)) if kind == "purchase" else 0.0,
                )
            )
            t += rng.exponential(1 / rate)
    return EventLog.from_frame(
        pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "amount"])
    )


def _plant(log: EventLog, after: pd.Timestamp, n: int = 2000, seed: int = 1) -> EventLog:
    """Add events at or after ``after`` for existing and brand-new users."""
    rng = np.random.default_rng(seed)
    users = np.r_[log.frame["user_id"].unique()[:200], [f"new{i}" for i in range(50)]]
    extra = pd.DataFrame(
        {
            "user_id": rng.choice(users, n),
            "timestamp": after + pd.to_timedelta(rng.uniform(0, 200, n), unit="D"),
            "event_type": rng.choice(["view", "purchase", "cart"], n),
            "amount": rng.uniform(0, 500, n),
        }
    )
    extra.loc[0, "timestamp"] = after  # exactly at the cutoff counts as "after"
    return EventLog.from_frame(pd.concat([log.frame, extra], ignore_index=True))


def test_features_at_each_cutoff_ignore_later_events():
    log = _base_log()
    spec = LabelSpec(horizon_days=30, n_cutoffs=4)
    as_of = pd.Timestamp("2024-01-01")
    cuts = training_cutoffs(log, spec, as_of)
    types = pick_event_types(log.frame)
    for t in cuts:
        planted = _plant(log, t)
        a = training_table(log, spec, [t], types)
        b = training_table(planted, spec, [t], types)
        assert list(a.user_id) == list(b.user_id)  # same eligible population
        pd.testing.assert_frame_equal(a.X, b.X)


def test_labels_ignore_events_after_their_window():
    log = _base_log()
    spec = LabelSpec(horizon_days=30)
    for t in training_cutoffs(
        log, LabelSpec(horizon_days=30, n_cutoffs=4), pd.Timestamp("2024-01-01")
    ):
        planted = _plant(log, t + pd.Timedelta(days=30))
        pd.testing.assert_series_equal(build_labels(log, spec, t), build_labels(planted, spec, t))


def test_planted_events_do_change_labels_inside_the_window():
    """The check above can fail: events inside the window do flip labels."""
    log = _base_log()
    spec = LabelSpec(horizon_days=30)
    t = pd.Timestamp("2023-09-01")
    before = build_labels(log, spec, t)
    after = build_labels(_plant(log, t, n=5000), spec, t)
    assert (before != after).any()


def test_whole_run_ignores_events_after_as_of():
    log = _base_log()
    as_of = pd.Timestamp("2023-11-01")
    cfg = ChurnConfig().with_(label={"horizon_days": 30, "n_cutoffs": 3})
    a = train(log, cfg, as_of)
    b = train(_plant(log, as_of), cfg, as_of)
    pd.testing.assert_frame_equal(a.scores, b.scores)
    # DuckDB sums doubles in parallel, in no fixed order: two runs on the same events can
    # differ by ~1e-15. A leak moves probabilities by far more than 1e-12 (see the
    # planted-events tests above, which do change the tables).
    np.testing.assert_allclose(a.cv.y_prob, b.cv.y_prob, rtol=1e-12, atol=0)


def test_helper_rows_of_a_short_history_ignore_events_after_as_of():
    """A young log with a long horizon: the run also fits helper rows labelled over half
    the history (``labels.helper_cutoffs``). Their windows close by as_of too: events
    planted from as_of on change neither the scores nor the cross-validated probabilities."""
    log = _base_log(n_users=400)
    as_of = pd.Timestamp("2023-02-15")  # ~45 days of log; H = 40 leaves the newest cutoff 5
    cfg = ChurnConfig().with_(label={"horizon_days": 40})
    a = train(log, cfg, as_of)
    assert a.helper_horizon == 22 and a.history_days[0] < 0.25 * a.history_days[1]
    b = train(_plant(log, as_of), cfg, as_of)
    pd.testing.assert_frame_equal(a.scores, b.scores)
    np.testing.assert_allclose(a.cv.y_prob, b.cv.y_prob, rtol=1e-12, atol=0)
