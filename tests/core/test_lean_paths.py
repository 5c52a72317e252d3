"""The fast paths of ``churn train`` / ``churn score`` give what the slow ones gave.

Each fast path replaces a slower library call: these tests pin them to that call.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_core.config import ChurnConfig
from churn_core.explain import _linear_kernel
from churn_core.pipeline import train
from churn_core.reasons import phrase, top_reasons
from tests.core.test_leakage import _base_log

REPO = Path(__file__).resolve().parents[2]
AS_OF = pd.Timestamp("2023-10-01")


@pytest.fixture(scope="module")
def run():
    cfg = ChurnConfig().with_(label={"horizon_days": 30})
    return train(_base_log(n_users=250), cfg, as_of=AS_OF)


def test_linear_shap_equals_shap_linear_explainer(run) -> None:
    shap = pytest.importorskip("shap")
    X = run.features.drop(columns=["user_id"])
    prep, clf = run.model.pipeline.named_steps["prep"], run.model.pipeline.named_steps["clf"]
    Z_bg, Z = prep.transform(X.iloc[::3]), prep.transform(X)
    ours = _linear_kernel(clf, Z_bg, "log-odds")
    e = shap.LinearExplainer(clf, shap.maskers.Independent(Z_bg, max_samples=len(Z_bg)))
    np.testing.assert_allclose(ours.shap(Z), e.shap_values(Z), rtol=1e-9, atol=1e-12)
    assert ours.base_value == pytest.approx(float(np.ravel(e.expected_value)[0]), abs=1e-12)


def test_top_reasons_reads_rows_as_plain_dicts_did(run) -> None:
    """The column view behind ``top_reasons`` phrases every reason as a per-user dict does."""
    X = run.features.drop(columns=["user_id"]).set_axis(run.features["user_id"].astype(str))
    rng = np.random.default_rng(3)
    values = pd.DataFrame(
        rng.normal(size=X.shape) * (rng.random(X.shape) < 0.6), index=X.index, columns=X.columns
    )
    got = top_reasons(values, X)
    records = X.to_dict("records")
    for i in rng.choice(len(X), 40, replace=False):
        row, v = records[i], values.iloc[i]
        for text in got.iloc[i]:
            if not text:
                continue
            assert any(phrase(f, row, v[f]) == text for f in X.columns if v[f] != 0), text


def test_score_imports_neither_torch_nor_shap(tmp_path) -> None:
    """``churn score`` of a model without an encoder pays for neither torch nor shap."""
    csv, model = tmp_path / "events.csv", tmp_path / "m"
    _base_log(n_users=120).frame.to_csv(csv, index=False)
    common = [str(csv), "--as-of", "2023-10-01", "-q"]
    code = (
        "import sys; from churn_core.cli import main; rc = main(sys.argv[1:]); "
        "print(rc, sorted(m for m in ('torch', 'shap', 'transformers') if m in sys.modules))"
    )
    for args in (
        ["train", *common, "--horizon-days", "30", "--model-dir", str(model)],
        ["score", *common, "--model-dir", str(model), "--out", str(tmp_path / "s.csv")],
    ):
        out = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO
        )
        assert out.stdout.strip().splitlines()[-1] == "0 []", out.stdout + out.stderr
