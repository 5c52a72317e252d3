"""Hit rate at 5 of the project recommender next to the referee's two baselines, per cutoff.

Usage: ``python bench/recommend_hit_rates.py [SHARED_DATA_DIR]`` (default ``../shared/data``;
without it only the bundled UCI retail log is measured). Prints a markdown table: for each log
and cutoff T (horizon H), the users graded (they buy in [T, T+H) and bought before T) and the
hit rate of each recommender. The "tuning" rows are the cutoffs the default weights were chosen
on; every other row is held out (its window starts after every tuning window ends, except the
earlier retail cutoff, which is a check across time in the other direction).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from churn_core.config import SchemaConfig  # noqa: E402
from churn_core.datasets import load_demo  # noqa: E402
from churn_core.ingest import load_events  # noqa: E402
from churn_core.recommend_check import OWN, POPULAR, PROJECT, recommendation_check  # noqa: E402

CUTOFFS = {
    "UCI retail": [
        ("2011-03-10", 90, "tuning"),
        ("2011-06-10", 90, "tuning"),
        ("2011-09-10", 90, "evaluation (README)"),
        ("2011-10-10", 60, "held out"),
        ("2011-01-10", 60, "held out (earlier)"),
    ],
    "Tmall": [
        ("2013-05-31", 31, "tuning"),
        ("2013-06-15", 31, "tuning"),
        ("2013-07-16", 31, "evaluation (README)"),
        ("2013-08-01", 14, "held out"),
    ],
    "Taobao (head)": [
        ("2017-11-29", 2, "tuning"),
        ("2017-12-01", 3, "held out"),
    ],
}


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    logs = {"UCI retail": load_demo()}
    tmall = shared / "tmall-brand-rec-2014" / "tmall_brand_rec_2014.csv.gz"
    if tmall.exists():
        logs["Tmall"] = load_events(tmall, SchemaConfig(year=2013))
    taobao = shared / "taobao-userbehavior" / "taobao_userbehavior_head.csv.gz"
    if taobao.exists():
        logs["Taobao (head)"] = load_events(taobao)
    print("| log | T | H | role | users | project | own most bought | most bought overall |")
    print("|---|---|---|---|---|---|---|---|")
    for name, log in logs.items():
        for t, h, role in CUTOFFS[name]:
            r = recommendation_check(log, pd.Timestamp(t), h).set_index("recommender")
            hit = r["hit_rate_at_5"]
            best = "**" if hit[PROJECT] > max(hit[OWN], hit[POPULAR]) else ""
            print(
                f"| {name} | {t} | {h} | {role} | {r.loc[PROJECT, 'users']:,} "
                f"| {best}{hit[PROJECT]:.3f}{best} | {hit[OWN]:.3f} | {hit[POPULAR]:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
