"""Where ``churn train`` / ``churn score`` spend their time: py-spy samples summed per stage.

Usage::

    py-spy record -r 100 --format raw -o train.raw -- python -m churn_core train LOG ...
    python bench/profile_stages.py train.raw [--rate 100]

Each collapsed stack (``--format raw``) goes to the first stage whose function appears in it
(see ``STAGES``: the innermost pipeline stage wins over the CLI command around it), so the
table adds up to the sampled total. py-spy samples every Python thread that is not idle, so
with the training run's fit threads the total exceeds the wall time: read it as the seconds
each stage keeps a core busy.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

# (stage, "function (file" as py-spy writes a frame); first match wins
STAGES: list[tuple[str, str]] = [
    ("save bundle", "save_model (churn_core/bundle.py"),
    ("load bundle", "load_model (churn_core/bundle.py"),
    ("read + validate the log", "load_events (churn_core/ingest.py"),
    ("labels + features at the training cutoffs", "training_table (churn_core/table.py"),
    ("features at the scoring date", "scoring_table (churn_core/table.py"),
    ("hyperparameter search", "search (churn_core/search.py"),
    ("cross-validation fits", "_fold_scores (churn_core/crossval.py"),
    ("cross-validation fits", "out_of_fold_scores (churn_core/crossval.py"),
    ("backtest refit + RFM baseline", "_refit_scores (churn_core/backtest.py"),
    ("backtest (rest)", "backtest (churn_core/backtest.py"),
    ("cross-validation (calibration, metrics)", "cross_validate (churn_core/crossval.py"),
    ("final fit", "final_pipeline (churn_core/crossval.py"),
    ("final fit", "fit_final (churn_core/crossval.py"),
    ("reasons (phrasing)", "top_reasons (churn_core/reasons.py"),
    ("explanation (SHAP values)", "explain_model (churn_core/explain.py"),
    ("predict + tiers", "score_table (churn_core/pipeline.py"),
    ("predict + tiers", "score_users (churn_core/pipeline.py"),
    ("write the export", "write_export (churn_core/export.py"),
    ("imports", "_find_and_load ("),
]


def stage_of(stack: str) -> str:
    """The stage a collapsed stack belongs to (``other`` when none matches)."""
    for name, frame in STAGES:
        if frame in stack:
            return name
    return "other"


def stage_seconds(raw: Path, rate: float) -> dict[str, float]:
    """Seconds per stage (samples / rate), largest first, from a py-spy raw file."""
    total: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            total[stage_of(stack)] += int(count)
    return {k: v / rate for k, v in total.most_common()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw", type=Path, nargs="+", help="py-spy --format raw files")
    ap.add_argument("--rate", type=float, default=100.0, help="py-spy -r (samples/s)")
    args = ap.parse_args()
    tables = {p.stem: stage_seconds(p, args.rate) for p in args.raw}
    stages = list(dict.fromkeys(s for t in tables.values() for s in t))
    print("| stage | " + " | ".join(tables) + " |")
    print("|---|" + "---|" * len(tables))
    for s in stages:
        print(f"| {s} | " + " | ".join(f"{t.get(s, 0.0):.2f}" for t in tables.values()) + " |")
    print(
        "| **sampled total** | "
        + " | ".join(f"{sum(t.values()):.2f}" for t in tables.values())
        + " |"
    )


if __name__ == "__main__":
    main()
