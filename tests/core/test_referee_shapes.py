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


def _first_day_only(frame: pd.DataFrame, leavers: int, stayers: int, cutoff: pd.Timestamp):
    """``frame`` with only ``leavers`` + ``stayers`` of its first-day customers left on that
    day: a shop whose newest training cutoff (one day in) has that many labelled users."""
    day0 = frame.timestamp < START + pd.Timedelta(days=1)
    window = (frame.timestamp >= START + pd.Timedelta(days=1)) & (frame.timestamp < cutoff)
    back = set(frame.user_id[window])
    first = frame.user_id[day0].drop_duplicates()
    keep = [u for u in first if u not in back][:leavers] + [u for u in first if u in back][:stayers]
    assert len(keep) == leavers + stayers
    return frame[~day0 | frame.user_id.isin(keep)]


@pytest.mark.parametrize(("stayers", "rc"), [(3, 0), (1, 2)])
def test_a_few_labelled_users_at_the_newest_cutoff_still_train(tmp_path, capsys, stayers, rc):
    """17 churned and 3 retained users at T - H: the referee fits its baseline on them, so the
    project must not refuse (it asked for 5 of each); one retained user is still refused."""
    T60 = START + pd.Timedelta(days=61)
    events = tmp_path / "P.events.csv"
    _referee_file(
        _first_day_only(purchase_log("cohort", 41, users=3000), 17, stayers, T60), events, T60
    )
    args = ["train", str(events), "--horizon-days", "60", "--as-of", f"{T60:%Y-%m-%d}", "-q"]
    assert main([*args, "--model-dir", str(tmp_path / "m")]) == rc, capsys.readouterr().err
    if rc:
        assert "Too few examples" in capsys.readouterr().err
        return
    out = tmp_path / "s.csv"
    assert (
        main(
            [
                "score",
                str(events),
                "--model-dir",
                str(tmp_path / "m"),
                "--out",
                str(out),
                "--as-of",
                f"{T60:%Y-%m-%d}",
                "-q",
            ]
        )
        == 0
    )
    scores = pd.read_csv(out, comment="#", encoding="utf-8-sig")
    assert len(scores) > 1000 and scores["churn_probability"].between(0, 1).all()
