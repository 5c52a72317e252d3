"""The ``churn`` command line: global flags anywhere, and ``churn app``'s streamlit command."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from churn_core import cli
from churn_core.cli import commands

REPO = Path(__file__).resolve().parents[2]
SCORE = ["score", "orders.csv", "--model-dir", "m", "--out", "s.csv"]


@pytest.mark.parametrize(
    ("argv", "quiet"),
    [
        (["-q", *SCORE], True),
        ([*SCORE, "-q"], True),
        ([SCORE[0], "--quiet", *SCORE[1:]], True),
        (SCORE, False),
        (["train", "x.csv", "--model-dir", "m", "-q"], True),
        (["evaluate", "x.csv", "--cutoff", "2011-09-10", "--horizon-days", "9", "-q"], True),
        (["explain", "x.csv", "--model-dir", "m", "--user", "1", "-q"], True),
    ],
)
def test_quiet_before_or_after_the_sub_command(argv, quiet):
    assert cli.build_parser().parse_args(argv).quiet is quiet


def test_unknown_flag_is_still_an_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*SCORE, "--no-such-flag"])
    assert exit_.value.code == 2
    assert "--no-such-flag" in capsys.readouterr().err


def test_app_command_runs_the_packaged_script_with_the_app_settings(monkeypatch):
    calls = []

    def execve(path, argv, env):  # instead of becoming streamlit: record and leave
        calls.append((argv, env))
        raise SystemExit(0)

    monkeypatch.setattr(commands.os, "execve", execve)
    monkeypatch.setattr(commands.os, "name", "posix")
    with pytest.raises(SystemExit):
        cli.main(["-q", "app", "--server.port", "8502", "--server.headless", "true"])
    ((argv, env),) = calls
    assert argv[:5] == [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO / "churn_app" / "streamlit_app.py"),
    ]
    assert "--browser.gatherUsageStats=false" in argv
    assert "--theme.primaryColor=#2563eb" in argv
    # the user's arguments come last (and so win over the packaged settings)
    assert argv[-4:] == ["--server.port", "8502", "--server.headless", "true"]
    assert env["HF_HUB_OFFLINE"] == "1"


def test_packaged_streamlit_settings_match_the_repository_config():
    """``churn app`` and ``streamlit run app.py`` (which reads .streamlit/) look the same."""
    packaged = tomllib.loads((REPO / "churn_app" / "streamlit_config.toml").read_text())
    repo = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert packaged == repo


@pytest.mark.slow  # each script imports its libraries (torch for some): seconds each
@pytest.mark.parametrize("script", sorted(p.name for p in (REPO / "bench").glob("*.py")))
def test_bench_scripts_import_churn_core_from_any_directory(script, tmp_path):
    """``python bench/x.py`` as the README says: its imports resolve (main() is not run)."""
    code = (
        # run_path registers the module while it runs (dataclasses look it up) and,
        # with a run_name other than __main__, leaves main() alone
        "import runpy; "
        f"runpy.run_path({str(REPO / 'bench' / script)!r}, run_name='bench_import_check'); "
        "import churn_core; print(churn_core.__file__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("churn_core/__init__.py")
