"""Dashboard responsiveness, measured with Streamlit's AppTest (server side, no browser).

1. Threshold change -> redrawn at-risk page with 100k scored users (target <= 300 ms), next to
   a plain rerun of the same page and the core re-ranking alone, measured in the same run.
2. Upload -> data profile for the UCI Online Retail log, next to the core parse alone.

Run: ``python bench/bench_app.py``. Browser rendering time is not included (AppTest runs the
script, not the front end); figures are medians of several repeats.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from churn_core.config import ChurnConfig  # noqa: E402
from churn_core.datasets import demo_path, load_demo  # noqa: E402
from churn_core.ingest import load_events  # noqa: E402
from churn_core.pipeline import train  # noqa: E402

N_USERS = 100_000
REPEATS = 5


def _median_ms(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def big_run():
    """A real run on the demo log, its scores replaced by 100k synthetic users."""
    log = load_demo()
    run = train(log, ChurnConfig().with_(model={"cv_folds": 2}), progress=None)
    rng = np.random.default_rng(0)
    p = np.sort(rng.beta(2, 5, N_USERS))[::-1]
    scores = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(N_USERS)],
            "churn_probability": p,
            "risk_tier": np.where(p >= 0.6, "high", np.where(p >= 0.3, "medium", "low")),
            "percentile": pd.Series(p).rank(pct=True).to_numpy() * 100,
            "days_since_last_event": rng.exponential(60, N_USERS),
            "value_at_risk": p * rng.gamma(2, 50, N_USERS),
        }
    )
    return log, replace(run, scores=scores)


def main() -> None:
    from streamlit.testing.v1 import AppTest

    log, run = big_run()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["log"] = log
    at.session_state["data_name"] = "demo"
    at.run()
    at.session_state["run"] = run
    at.switch_page("churn_app/pages/at_risk.py").run()
    values = iter(np.linspace(0.2, 0.8, 1000))
    change = _median_ms(lambda: at.slider(key="threshold").set_value(round(next(values), 2)).run())
    rerun = _median_ms(lambda: at.run())
    core = _median_ms(lambda: run.targets("probability", threshold=0.4).headline())

    data = demo_path().read_bytes()
    parse = _median_ms(lambda: load_events(data, name="online_retail.csv.gz"), 3)
    up = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    up.run()

    names = iter(range(100))  # a new name each time, so the parse cache never answers

    def upload_once():
        up.file_uploader(key="upload").upload(
            f"retail_{next(names)}.csv.gz", data, "application/gzip"
        ).run()

    upload = _median_ms(upload_once, 3)

    rows = [
        ("threshold change -> at-risk page redrawn (100k users)", change, change / rerun),
        ("plain rerun of the at-risk page (baseline)", rerun, 1.0),
        ("core re-rank + headline only", core, core / rerun),
        ("upload retail log -> data profile", upload, upload / parse),
        ("core parse + validate of the same bytes (baseline)", parse, 1.0),
    ]
    print("| step | median ms | ratio to its baseline |\n|---|---|---|")
    for name, ms, ratio in rows:
        print(f"| {name} | {ms:,.0f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
