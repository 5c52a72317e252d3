"""Speed of ``recommend_items`` for 100k users, next to simpler work measured in the same run.

Usage: ``python bench/bench_recommend.py [--users N]`` (default 100,000 users of a seeded
synthetic log, about 20 events each). Threads are limited to 2. Prints a markdown table:
seconds for the "own 5 most bought" baseline (a pandas groupby + sort), the project
recommender with its default weights, and with each candidate source that is off by default
switched on (due-again, co-bought, category), with ratios to the baseline.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "2"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from churn_core.datasets import synthetic_events  # noqa: E402
from churn_core.events import EventLog  # noqa: E402
from churn_core.recommend import ItemRecommender, RecommenderParams  # noqa: E402
from churn_core.recommend_check import own_most_bought  # noqa: E402


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    log = EventLog.from_frame(synthetic_events(n_users=args.users, events_per_user=20, seed=0))
    made = time.perf_counter() - t0
    as_of = log.default_as_of()
    users = pd.Index(log.frame["user_id"].unique())
    rows = {
        "own 5 most bought (baseline, pandas groupby)": timed(
            lambda: own_most_bought(log, as_of, users, 5)
        ),
        "recommend_items, default weights": timed(
            lambda: ItemRecommender().recommend(log, as_of, users, 5)
        ),
    }
    for name, extra in [
        ("+ due-again bonus", {"weight_due": 0.3}),
        ("+ co-bought items", {"weight_co": 0.01}),
        ("+ category popularity", {"weight_category": 0.01}),
    ]:
        params = RecommenderParams(**extra)
        rows[name] = timed(lambda p=params: ItemRecommender(p).recommend(log, as_of, users, 5))
    base = rows["own 5 most bought (baseline, pandas groupby)"]
    print(
        f"{len(users):,} users, {log.n_events:,} events, "
        f"{log.frame['item_id'].nunique():,} items (log built in {made:.1f} s)\n"
    )
    print("| step | seconds | × baseline |")
    print("|---|---|---|")
    for name, s in rows.items():
        print(f"| {name} | {s:.2f} | {s / base:.2f} |")


if __name__ == "__main__":
    main()
