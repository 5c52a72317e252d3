"""Every failing case the fuzz suite found, kept as a file and replayed through ingest and CLI.

Each file in ``regressions/`` crashed the workbench with a traceback before its fix. They now
must load or give one EventDataError, and ``score`` must exit 0 or 2 with one ``error:`` line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.test_cli_fuzz import check_outcome, run_cli, score_file
from tests.fuzz.test_ingest_fuzz import check_load

HERE = Path(__file__).parent / "regressions"
FOUND = {  # file -> what it broke (and where the fix is)
    "utf16_truncated.csv": "UnicodeDecodeError on a UTF-16 file cut mid-character (loading.py)",
    "carriage_return_in_header.csv": "csv.Error from a lone CR in the header (loading.py)",
    "mixed_dates_year_123.csv": "OutOfBoundsDatetime for year 123 in mixed dates (timestamps.py)",
    "amounts_inf_and_1e308.csv": "inf/1e308 amounts gave infinite features: sklearn ValueError "
    "in score (ingest.py reads |x| > 1e12 and inf as unreadable)",
    "control_chars_in_ids.csv": "openpyxl IllegalCharacterError writing score --out .xlsx "
    "for ids with control characters (ingest.py now replaces them, with a warning)",
    "train_2_users_12_cutoffs.csv": "train: sklearn 'needs samples of at least 2 classes' "
    "(more CV folds than users; crossval.py caps folds at the users, says 'too few users')",
    "train_4_users_12_cutoffs.csv": "train: StandardScaler on 0 samples (an empty CV fold)",
    "train_12_weekly_cutoffs.toml": "(the --config the two train cases ran with)",
    "time_span_over_292_years.csv": "OverflowError in user detection by content: one id's "
    "events span 1900..2251, beyond int64 nanoseconds (roles.py now measures spans in seconds)",
    "score_nothing_before_as_of.csv.gz": "IndexError in features when nobody has events before "
    "--as-of (features.py), instead of 'nobody to score'",
}
EXPECT_SCORE_OK = {
    "amounts_inf_and_1e308.csv",
    "mixed_dates_year_123.csv",
    "control_chars_in_ids.csv",
}


def test_every_regression_file_is_listed():
    assert sorted(p.name for p in HERE.iterdir()) == sorted(FOUND)


LOGS = sorted(n for n in FOUND if not n.endswith(".toml"))


@pytest.mark.parametrize("name", LOGS)
def test_regression_file_loads_or_fails_clearly(name):
    check_load((HERE / name).read_bytes(), name)


@pytest.mark.parametrize("name", LOGS)
@pytest.mark.parametrize("as_of", [[], ["--as-of", "2023-06-01"]])
@pytest.mark.parametrize("out_name", ["s.csv", "s.xlsx"])
def test_regression_file_scores_or_fails_in_one_line(bundle, name, as_of, out_name):
    rc = score_file(bundle, name, (HERE / name).read_bytes(), as_of, out_name)
    if name in EXPECT_SCORE_OK and not as_of:
        assert rc == 0


@pytest.mark.parametrize(
    ("name", "rc"), [("train_2_users_12_cutoffs.csv", 2), ("train_4_users_12_cutoffs.csv", 0)]
)
def test_training_with_too_few_users_for_the_folds(tmp_path, name, rc):
    argv = ["-q", "train", str(HERE / name), "--horizon-days", "7", "--model-dir", str(tmp_path)]
    status, stderr = run_cli([*argv, "--config", str(HERE / "train_12_weekly_cutoffs.toml")])
    check_outcome(status, stderr)
    assert status == rc
    if rc == 2:
        assert "Too few users" in stderr
