"""build_sequences: leak-free, truncated, ordered per-user event sequences."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from churn_core.sequences import EventSequence, build_sequences, sequences_from_input

CUTOFF = pd.Timestamp("2024-03-01")


def _frame(rows: list[tuple], category: bool = False) -> pd.DataFrame:
    cols = ["user_id", "timestamp", "event_type", "amount"] + (["category"] if category else [])
    df = pd.DataFrame(rows, columns=cols)
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return df


@pytest.fixture()
def hand_made() -> pd.DataFrame:
    return _frame(
        [
            ("a", "2024-02-20 00:00", "view", 0.0),
            ("a", "2024-02-25 12:00", "cart", 0.0),
            ("a", "2024-02-27 00:00", "purchase", 45.0),
            ("b", "2024-01-01 00:00", "view", 0.0),
            ("a", "2024-03-01 00:00", "purchase", 99.0),  # at the cutoff: excluded
            ("b", "2024-03-05 00:00", "view", 0.0),  # after the cutoff: excluded
            ("z", "2024-02-01 00:00", "view", 0.0),  # not asked for
        ]
    )


def test_ages_gaps_and_values_on_a_hand_made_log(hand_made: pd.DataFrame) -> None:
    seqs = build_sequences(hand_made, CUTOFF, pd.Index(["a", "b"]))
    a = seqs["a"]
    assert list(a.event_type) == ["view", "cart", "purchase"]
    np.testing.assert_allclose(a.age_days, [10.0, 4.5, 3.0])
    np.testing.assert_allclose(a.gap_days, [-1.0, 5.5, 1.5])
    np.testing.assert_allclose(a.amount, [0.0, 0.0, 45.0])
    assert a.age_days.dtype == np.float32 and a.gap_days.dtype == np.float32
    assert a.amount.dtype == np.float32 and a.category is None
    b = seqs["b"]
    assert list(b.event_type) == ["view"] and b.age_days[0] == pytest.approx(60.0)
    assert (a.age_days > 0).all()


def test_only_events_strictly_before_the_cutoff(hand_made: pd.DataFrame) -> None:
    seqs = build_sequences(hand_made, CUTOFF, pd.Index(["a", "b"]))
    assert "purchase" in seqs["a"].event_type  # the one before the cutoff
    assert 99.0 not in seqs["a"].amount
    assert len(seqs["b"]) == 1


def test_planted_future_events_change_nothing(hand_made: pd.DataFrame) -> None:
    users = pd.Index(["a", "b", "c"])
    clean = build_sequences(hand_made[hand_made["timestamp"] < CUTOFF], CUTOFF, users)
    planted = pd.concat(
        [
            hand_made,
            _frame(
                [
                    ("a", "2024-03-01 00:00", "cart", 5.0),
                    ("b", "2024-03-02 00:00", "purchase", 7.0),
                    ("c", "2024-04-01 00:00", "view", 0.0),
                ]
            ),
        ]
    )
    dirty = build_sequences(planted, CUTOFF, users)
    for u in users:
        for field in ("event_type", "age_days", "gap_days", "amount"):
            np.testing.assert_array_equal(getattr(clean[u], field), getattr(dirty[u], field))
    assert len(dirty["c"]) == 0


def test_truncation_keeps_the_most_recent_events() -> None:
    days = pd.date_range("2024-01-01", periods=10, freq="D")
    df = _frame([("u", d, f"e{i}", float(i)) for i, d in enumerate(days)])
    seq = build_sequences(df, CUTOFF, pd.Index(["u"]), max_events=4)["u"]
    assert list(seq.event_type) == ["e6", "e7", "e8", "e9"]
    # the gap of the first kept event is to its real predecessor, not a "first event" marker
    np.testing.assert_allclose(seq.gap_days, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(seq.age_days, (CUTOFF - days[6:]) / pd.Timedelta(days=1))


def test_users_without_events_and_order_follow_users(hand_made: pd.DataFrame) -> None:
    users = pd.Index(["nobody", "b", "a"])
    seqs = build_sequences(hand_made, CUTOFF, users)
    assert list(seqs.index) == ["nobody", "b", "a"]
    assert len(seqs["nobody"]) == 0 and isinstance(seqs["nobody"], EventSequence)
    assert [len(s) for s in seqs] == [0, 1, 3]
    dup = build_sequences(hand_made, CUTOFF, pd.Index(["a", "b", "a"]))
    assert list(dup.index) == ["a", "b", "a"] and [len(s) for s in dup] == [3, 1, 3]


def test_unsorted_input_is_sorted_by_time_per_user(hand_made: pd.DataFrame) -> None:
    shuffled = hand_made.sample(frac=1.0, random_state=3)
    a = build_sequences(shuffled, CUTOFF, pd.Index(["a"]))["a"]
    assert list(a.event_type) == ["view", "cart", "purchase"]
    np.testing.assert_allclose(a.gap_days, [-1.0, 5.5, 1.5])


def test_categories_kept_with_missing_as_none() -> None:
    df = _frame(
        [
            ("a", "2024-02-01", "view", 0.0, "shoes"),
            ("a", "2024-02-02", "view", 0.0, None),
            ("b", "2024-02-03", "cart", 0.0, "hats"),
        ],
        category=True,
    )
    seqs = build_sequences(df, CUTOFF, pd.Index(["a", "b", "c"]))
    assert list(seqs["a"].category) == ["shoes", None]
    assert list(seqs["b"].category) == ["hats"]
    assert seqs["c"].category is not None and len(seqs["c"].category) == 0


def test_missing_amount_column_gives_zeros() -> None:
    df = _frame([("a", "2024-02-01", "view", 0.0)]).drop(columns="amount")
    assert build_sequences(df, CUTOFF, pd.Index(["a"]))["a"].amount.tolist() == [0.0]


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="missing: timestamp"):
        build_sequences(pd.DataFrame({"user_id": ["a"], "event_type": ["x"]}), CUTOFF, ["a"])
    with pytest.raises(ValueError, match="max_events"):
        build_sequences(_frame([]), CUTOFF, pd.Index(["a"]), max_events=0)


def test_sequences_from_input_accepts_frame_series_and_array(hand_made: pd.DataFrame) -> None:
    seqs = build_sequences(hand_made, CUTOFF, pd.Index(["a", "b"]))
    for x in (seqs.to_frame(), seqs, seqs.to_numpy().reshape(-1, 1), list(seqs)):
        assert [len(s) for s in sequences_from_input(x)] == [3, 1]
    with pytest.raises(ValueError, match="not EventSequence"):
        sequences_from_input(pd.Series([1, 2]))
    with pytest.raises(ValueError, match="sequence"):
        sequences_from_input(pd.DataFrame({"x": [1], "y": [2]}))


def test_sequences_module_imports_neither_torch_nor_transformers() -> None:
    import subprocess

    code = (
        "import sys, churn_core.sequences; "
        "sys.exit(int('torch' in sys.modules or 'transformers' in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_rows_sharing_user_time_and_type_are_one_event() -> None:
    """An order's lines become one event: amounts summed, the line count kept."""
    rows = [
        ("a", "2024-02-01 10:00", "purchase", 5.0),
        ("a", "2024-02-01 10:00", "view", 0.0),  # same time, other type: its own event
        ("a", "2024-02-01 10:00", "purchase", 7.0),
        ("a", "2024-02-01 10:00", "purchase", 1.5),
        ("a", "2024-02-10 09:00", "purchase", 2.0),
        ("b", "2024-02-01 10:00", "purchase", 4.0),  # another user at the same time
    ]
    frame = _frame(rows)
    seqs = build_sequences(frame, CUTOFF, pd.Index(["a", "b"]))
    a = seqs["a"]
    assert sorted(zip(a.event_type[:2], a.counts()[:2], a.amount[:2], strict=True)) == [
        ("purchase", 3, 13.5),
        ("view", 1, 0.0),
    ]
    assert list(a.event_type[2:]) == ["purchase"] and list(a.counts())[2:] == [1]
    np.testing.assert_allclose(a.gap_days, [-1.0, 0.0, 9 - 1 / 24])  # gaps between events
    assert len(seqs["b"]) == 1 and seqs["b"].amount[0] == 4.0
    # the same rows in any order give the same sequences (the unsorted path)
    shuffled = build_sequences(frame.sample(frac=1.0, random_state=3), CUTOFF, pd.Index(["a"]))
    for field in ("event_type", "age_days", "gap_days", "amount", "count"):
        np.testing.assert_array_equal(getattr(shuffled["a"], field), getattr(a, field))
