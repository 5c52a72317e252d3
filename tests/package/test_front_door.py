"""``import churn_core``: the notebook API, light to import, and the documented session runs."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import churn_core

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "package.md"
HEAVY = ("torch", "transformers", "shap", "streamlit", "sklearn", "scipy")


def test_import_is_light():
    """A fresh interpreter: importing churn_core loads none of the heavy libraries."""
    code = (
        "import sys, churn_core\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves_to_its_module():
    for name in churn_core.__all__:
        value = getattr(churn_core, name)
        assert value.__name__ == name and value.__module__.startswith("churn_core."), name
    with pytest.raises(AttributeError, match="no_such_thing"):
        churn_core.no_such_thing  # noqa: B018
    assert {"train", "explain_run", "evaluate", "load_events", "ChurnRun", "TargetList"} <= set(
        dir(churn_core)
    )


def test_no_public_name_is_shadowed_by_a_submodule():
    """Importing a submodule sets the package attribute of its name: a public function
    must not share its name with a module (``evaluate`` lives in ``evaluation.py``)."""
    for name in churn_core.__all__:
        assert importlib.util.find_spec(f"churn_core.{name}") is None, name


def _snippet() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Use it from Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_notebook_session_is_ten_lines():
    lines = [ln for ln in _snippet().splitlines() if ln.strip()]
    assert len(lines) <= 10


@pytest.mark.slow
def test_the_documented_notebook_session_runs_on_the_demo_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(_snippet(), str(DOC), "exec"), ns)
    run, targets, why, report = ns["run"], ns["targets"], ns["why"], ns["report"]
    assert isinstance(run, churn_core.ChurnRun) and isinstance(targets, churn_core.TargetList)
    assert run.cv.summary.loc["roc_auc", "mean"] > 0.70
    users = targets.users
    assert len(users) == 100 and users["churn_probability"].is_monotonic_decreasing
    assert users["reason_1"].notna().all()  # the 100 riskiest are among the 300 explained
    assert len(why.values) == 300
    rows = report.set_index("model")["roc_auc"]
    project = rows[rows.index.str.startswith("project")].iloc[0]
    assert project > rows["baseline: recency alone"] + 0.03
