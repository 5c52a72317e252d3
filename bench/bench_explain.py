"""Time to explain 50k users with a gradient-boosting model vs the time to score them.

Trains HistGradientBoosting on UCI Online Retail (as of 2011-09-10, 90-day horizon), tiles
its scoring features to N users with small jitter, then times ``model.predict_proba``
against ``explain_model`` (TreeExplainer + reasons, batched). Run with 2 cores:

    taskset -c 0,1 python bench/bench_explain.py [N]
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runs from a checkout even without `pip install -e .`
RETAIL = ROOT / "churn_core" / "data" / "online_retail.csv.gz"  # UCI Online Retail, bundled


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(n_users: int = 50_000) -> None:
    from churn_core.config import ChurnConfig
    from churn_core.explain import BATCH, explain_model, sample_background
    from churn_core.ingest import load_events
    from churn_core.pipeline import train

    if not RETAIL.exists():
        sys.exit(f"needs {RETAIL}")
    log = load_events(str(RETAIL))
    run = train(
        log,
        ChurnConfig().with_(label={"horizon_days": 90}, model={"classifier": "hgb"}),
        as_of=pd.Timestamp("2011-09-10"),
    )
    base = run.features.drop(columns=["user_id"])
    rng = np.random.default_rng(0)
    X = base.iloc[rng.integers(0, len(base), n_users)].reset_index(drop=True)
    X = X * rng.uniform(0.9, 1.1, size=X.shape)
    ids = [f"u{i}" for i in range(n_users)]
    bg = sample_background(X, 1000)
    import shap  # noqa: F401  - import cost is not explain cost

    mem0 = _peak_mib()
    t0 = time.perf_counter()
    run.model.predict_proba(X)
    t_score = time.perf_counter() - t0
    t0 = time.perf_counter()
    expl = explain_model(run.model, X, ids, bg)
    t_explain = time.perf_counter() - t0
    err = np.abs(expl.output.to_numpy() - run.model.raw(X)).max()
    rows = [
        ("users", f"{n_users:,}"),
        ("classifier", "hgb (TreeExplainer, path-dependent)"),
        ("background rows (sampled, unused by path-dependent trees)", f"{len(bg):,}"),
        ("batch size", f"{BATCH:,}"),
        ("score time (s)", f"{t_score:.2f}"),
        ("explain time incl. reasons (s)", f"{t_explain:.2f}"),
        ("explain / score ratio", f"{t_explain / t_score:.1f}x"),
        ("max additivity error (log-odds)", f"{err:.1e}"),
        ("reason_1 coverage", f"{(expl.reasons['reason_1'] != '').mean():.1%}"),
        ("peak RSS before / after explain (MiB)", f"{mem0:,.0f} / {_peak_mib():,.0f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
