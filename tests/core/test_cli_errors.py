"""Only input errors become one ``error:`` line (exit 2); a bug still surfaces as a traceback."""

from __future__ import annotations

import pandas as pd
import pytest

from churn_core import ingest
from churn_core.cli import main
from tests.core.test_privacy import _raw_log


@pytest.fixture
def events(tmp_path):
    path = tmp_path / "events.csv"
    _raw_log(20).to_csv(path, index=False)
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_internal_value_error_is_not_hidden(events, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("internal bug: shapes do not match")

    monkeypatch.setattr(ingest, "validate_events", broken)
    with pytest.raises(ValueError, match="internal bug"):
        main(["-q", "train", str(events), "--horizon-days", "30", "--model-dir", str(tmp_path)])


def test_internal_os_error_is_not_hidden(events, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", "/nonexistent/cache/shard.bin")

    monkeypatch.setattr(ingest, "read_events", broken)
    with pytest.raises(FileNotFoundError):
        main(["-q", "train", str(events), "--horizon-days", "30", "--model-dir", str(tmp_path)])


def test_missing_events_file_is_one_line(tmp_path, capsys):
    rc = main(["train", str(tmp_path / "nope.csv"), "--horizon-days", "30", "--model-dir", "m"])
    assert rc == 2 and "nope.csv" in _one_error_line(capsys)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--horizon-days", "0"], "horizon_days must be between 1 and 365"),
        (["--horizon-days", "30", "--config", "missing.toml"], "Cannot read the config file"),
        (["--horizon-days", "30", "--as-of", "someday"], "--as-of 'someday' is not a date"),
        (["--horizon-days", "30", "--as-of", ""], "is not a date"),
        (["--horizon-days", "30", "--event-map", "0"], "must look like RAW=NAME"),
    ],
)
def test_bad_settings_are_one_line(events, tmp_path, capsys, extra, expected):
    rc = main(["train", str(events), "--model-dir", str(tmp_path / "m"), *extra])
    assert rc == 2 and expected in _one_error_line(capsys)


def test_broken_toml_config_is_one_line(events, tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text("[label]\nhorizon_days = 'thirty'\n[model\n")
    rc = main(["train", str(events), "--model-dir", str(tmp_path / "m"), "--config", str(cfg)])
    assert rc == 2 and "Invalid setting" in _one_error_line(capsys)


def test_output_under_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    lst = tmp_path / "l.csv"
    pd.DataFrame({"user_id": ["p-1"]}).to_csv(lst, index=False)
    (tmp_path / "k.ids.csv").write_text("pseudonym,user_id\np-1,alice\n")
    (tmp_path / "k").write_text("00" * 32)
    rc = main(
        ["reidentify", str(lst), "--key", str(tmp_path / "k"), "--out", str(blocker / "o.csv")]
    )
    assert rc == 2 and "file.txt" in _one_error_line(capsys)
