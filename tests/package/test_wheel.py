"""The package as a user gets it: build the wheel, install it into a fresh venv, run ``churn``.

Offline and without downloading dependencies: the fresh venv (``--without-pip``) sees this
environment's installed libraries through a ``.pth`` line, and the wheel is installed into
it with ``--no-deps``; every command runs from a temporary directory outside the repository,
so only the installed package can answer.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "churn_core" / "data" / "online_retail.csv.gz"
HEAD_ROWS = 80_000  # 2010-12-01 .. 2011-02-02: enough for a 14-day horizon, trains in seconds

pytestmark = pytest.mark.slow


def _run(cmd: list, cwd: Path, env: dict | None = None, timeout: int = 300):
    out = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, f"{cmd} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the wheel from a copy of the sources and install it into a fresh venv."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for package in ("churn_core", "churn_app"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "-q", "-w", dist, src],
        cwd=tmp,
    )
    (wheel,) = dist.glob("churn_core-*.whl")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    py = venv / "bin" / "python"
    site = Path(
        _run(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp
        ).stdout.strip()
    )
    # this environment's libraries (numpy, torch, pip…), after the venv's own site-packages
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "shared_env.pth").write_text("\n".join(sorted(paths)) + "\n", encoding="utf-8")
    _run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", wheel],
        cwd=tmp,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    work = tmp / "work"  # outside the repository: nothing but the installed package
    work.mkdir()
    return {"wheel": wheel, "venv": venv, "py": py, "site": site, "env": env, "work": work}


def test_wheel_holds_the_packages_and_the_demo_log_but_no_tests(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"churn_core", "churn_app"}
    for needed in (
        "churn_core/data/online_retail.csv.gz",
        "churn_core/encoder/estimator.py",
        "churn_app/streamlit_app.py",
        "churn_app/streamlit_config.toml",
        "churn_app/pages/model.py",
    ):
        assert needed in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "churn = churn_core.cli:main" in zipfile.ZipFile(installed["wheel"]).read(entry).decode()


def test_installed_package_is_the_one_imported(installed):
    out = _run(
        [installed["py"], "-c", "import churn_core, churn_app; print(churn_core.__file__)"],
        installed["work"],
        installed["env"],
    )
    assert Path(out.stdout.strip()).is_relative_to(installed["site"])


def test_churn_help_train_and_score_from_a_temp_dir(installed):
    work, env = installed["work"], installed["env"]
    churn = installed["venv"] / "bin" / "churn"
    assert "train" in _run([churn, "--help"], work, env).stdout
    with gzip.open(DEMO, "rt", encoding="utf-8") as src:
        lines = [next(src) for _ in range(HEAD_ROWS + 1)]
    (work / "orders.csv").write_text("".join(lines), encoding="utf-8")
    trained = _run(
        [churn, "-q", "train", "orders.csv", "--horizon-days", "14", "--model-dir", "model"],
        work,
        env,
    )
    assert "roc_auc" in trained.stdout
    _run(
        [churn, "score", "orders.csv", "--model-dir", "model", "--out", "scores.csv", "-q"],
        work,
        env,
    )
    from churn_core.export import read_export

    meta, scores = read_export(work / "scores.csv")
    assert meta["source"] == "orders.csv"
    raw = pd.read_csv(work / "orders.csv", dtype={"InvoiceNo": str})
    buyers = raw.loc[~raw["InvoiceNo"].str.startswith("C"), "CustomerID"].dropna()
    # every customer with an order (not only cancellations) gets exactly one score
    assert sorted(scores["user_id"].astype(int)) == sorted(buyers.astype(int).unique())
    assert scores["churn_probability"].between(0, 1).all()
    assert scores["churn_probability"].is_monotonic_decreasing


def test_churn_app_serves_the_dashboard_from_the_installed_package(installed):
    script = _run(
        [
            installed["py"],
            "-c",
            "from churn_core.cli import app_command; print(app_command([])[4])",
        ],
        installed["work"],
        installed["env"],
    ).stdout.strip()
    assert Path(script) == installed["site"] / "churn_app" / "streamlit_app.py"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [installed["venv"] / "bin" / "churn", "app", "--server.headless", "true"]
        + ["--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=installed["work"],
        env=installed["env"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline, health = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None and health is None:
            try:
                url = f"http://127.0.0.1:{port}/_stcore/health"
                with urllib.request.urlopen(url, timeout=2) as r:
                    health = r.read().decode()
            except OSError:
                time.sleep(0.5)
        assert health == "ok", f"no dashboard on port {port} (exit code {proc.poll()})"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
