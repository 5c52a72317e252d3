"""Logs written the way ``../shared/referee`` writes hidden logs, through ``train`` and ``score``.

The referee hands the project ``P.events.csv``: the source's rows before the cutoff T, columns
``user_id, timestamp, amount[, event_type]``, sorted by timestamp and user, with whatever the
source's timestamps and ids looked like after pandas read them. ``bench/referee_shapes.py``
runs about fifty such shapes at full size against the referee; these are the small, fast
guards for the shapes that once failed or that sit on an edge.
"""

from __future__ import annotations

import pandas as pd
import pytest

from churn_core.cli import main
from churn_core.purchase_logs import START, purchase_log

T = START + pd.Timedelta(days=91)


def _referee_file(frame: pd.DataFrame, path, cutoff: pd.Timestamp) -> None:
    """The referee's ``write_history``: rows before the cutoff, sorted by timestamp, user."""
    stamps = pd.to_datetime(frame["timestamp"])
    before = frame[stamps < cutoff].assign(timestamp=stamps[stamps < cutoff])
    before.sort_values(["timestamp", "user_id"]).to_csv(path, index=False)


def _train_and_score(events, tmp_path, as_of: str, horizon: int = 30) -> pd.DataFrame:
    model, out = tmp_path / "m", tmp_path / "s.csv"
    common = ["-q", "--as-of", as_of]
    assert (
        main(
            ["train", str(events), "--horizon-days", str(horizon), "--model-dir", str(model)]
            + common
        )
        == 0
    )
    assert main(["score", str(events), "--model-dir", str(model), "--out", str(out)] + common) == 0
    return pd.read_csv(out, comment="#", dtype={"user_id": str}, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return purchase_log("cohort", 3, users=900)


def test_offset_timestamps_and_an_as_of_with_offset(cohort, tmp_path, capsys):
    """``…+01:00`` stamps (the referee reads them tz-aware and needs T with an offset too)."""
    local = cohort.assign(timestamp=cohort.timestamp.dt.tz_localize("+01:00"))
    events = tmp_path / "P.events.csv"
    _referee_file(local, events, T.tz_localize("+01:00"))
    assert "+01:00" in events.read_text().splitlines()[1]
    scores = _train_and_score(events, tmp_path, f"{T:%Y-%m-%d}T00:00:00+01:00")
    seen = set(cohort.loc[cohort.timestamp < T, "user_id"])
    assert set(scores["user_id"]) == seen, capsys.readouterr().err
    assert scores["churn_probability"].between(0, 1).all()


def test_dates_only_and_zero_padded_ids_keep_every_user(cohort, tmp_path):
    padded = cohort.assign(user_id="000" + cohort.user_id.str[1:])
    events = tmp_path / "P.events.csv"
    _referee_file(padded, events, T)
    assert events.read_text().splitlines()[1].split(",")[1].count(":") == 0  # YYYY-MM-DD
    scores = _train_and_score(events, tmp_path, f"{T:%Y-%m-%d}")
    assert set(scores["user_id"]) == set(padded.loc[padded.timestamp < T, "user_id"])


def test_no_history_before_the_newest_training_cutoff_is_one_line(cohort, tmp_path, capsys):
    """T − H before the log's first event: the referee cannot fit its baseline either; the
    project says in one line why, instead of a traceback."""
    events = tmp_path / "P.events.csv"
    early = START + pd.Timedelta(days=20)
    _referee_file(cohort, events, early)
    rc = main(
        ["train", str(events), "--horizon-days", "30", "--as-of", f"{early:%Y-%m-%d}"]
        + ["--model-dir", str(tmp_path / "m"), "-q"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "too short for a 30-day horizon" in lines[0], err
