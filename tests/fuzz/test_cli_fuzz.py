"""Broken and hostile files through the CLI: exit 0 with a result, or exit 2 and one line."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from churn_core.cli import main
from churn_core.export import read_export
from tests.fuzz.conftest import examples
from tests.fuzz.strategies import log_files, mutated_logs, plausible_logs


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``main(argv)`` with stderr captured; any exception other than SystemExit fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    return rc, err.getvalue()


def check_outcome(rc: int, stderr: str) -> None:
    """Exit 0, or exit 2 with exactly one ``error: ...`` line and no traceback."""
    assert "Traceback" not in stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    if rc == 0:
        assert not errors
        return
    assert rc == 2, stderr
    assert len(errors) == 1, stderr
    assert len(errors[0]) > len("error: ") + 10


def score_file(
    bundle: Path, name: str, data: bytes, extra: list[str] = (), out_name: str = "scores.csv"
) -> int:
    """Score ``data`` saved as ``name``; checks the outcome and returns the exit status."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / name
        src.write_bytes(data)
        out = Path(tmp) / "out" / out_name
        rc, stderr = run_cli(
            ["-q", "score", str(src), "--model-dir", str(bundle), "--out", str(out), *extra]
        )
        check_outcome(rc, stderr)
        if rc == 0:
            _, scores = read_export(out)
            assert len(scores) > 0 and scores["churn_probability"].between(0, 1).all()
        return rc


@settings(max_examples=examples("cli_score"))
@given(
    log_files(),
    st.sampled_from([[], ["--as-of", "2023-06-01"], ["--as-of", "not a date"]]),
    st.sampled_from(["scores.csv", "scores.xlsx"]),
)
def test_score_any_file(bundle, case, extra, out_name):
    name, data = case
    score_file(bundle, name, data, extra, out_name)


@settings(max_examples=examples("cli_train"))
@given(
    st.one_of(plausible_logs(min_users=1, max_users=30), mutated_logs()),
    st.sampled_from(["1", "7", "30", "90", "365", "0", "400", "-3"]),
)
def test_train_tiny_logs(frame: pd.DataFrame, horizon: str):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "events.csv"
        frame.to_csv(src, index=False)
        rc, stderr = run_cli(
            ["-q", "train", str(src), "--horizon-days", horizon, "--model-dir", f"{tmp}/m"]
        )
        check_outcome(rc, stderr)
        if rc == 0:
            assert (Path(tmp) / "m" / "bundle.json").is_file()
