"""Local-mode figures for docs/sections/i13-spark.md: Spark vs the local engine, same run.

    python scripts/measure_spark.py [--cores 2] [--synthetic-users 50000]

For the bundled retail log and (optionally) a seeded synthetic log (about 20 events per user,
written once to Parquet in a temporary folder): seconds and events/s for reading, the training
table (labels + features at every cutoff) and scoring a saved bundle (with reasons), on Spark
(local[cores]) and on the in-memory engine. Wall times on a shared machine: compare the
ratios, which are measured in the same run.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd

from churn_core.bundle import load_model, save_model
from churn_core.config import ChurnConfig, LabelSpec
from churn_core.datasets import demo_path, synthetic_events
from churn_core.engine.spark import read_events, spark_session
from churn_core.engine.spark_train import score_spark
from churn_core.events import EventLog
from churn_core.features import pick_event_types as local_types
from churn_core.ingest import load_events
from churn_core.labels import training_cutoffs
from churn_core.pipeline import score_users, train

logging.basicConfig(level=logging.WARNING)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def measure(name: str, path: str, local: EventLog, spark, horizon: int) -> list[dict]:
    """One row per (engine, step) on one log."""
    cfg = ChurnConfig(label=LabelSpec(horizon_days=horizon))
    ev, t_read = _timed(lambda: read_events(spark, path))
    n = ev.n_events
    as_of = local.default_as_of()
    hist, shist = local.before(as_of), ev.before(as_of)
    cutoffs = training_cutoffs(hist, cfg.label, as_of)
    types = local_types(hist.frame)
    assert local_types(shist.source()) == types
    _, t_spark_tab = _timed(lambda: shist.source().training_table(cfg.label, cutoffs, types))
    _, t_local_tab = _timed(lambda: hist.source().training_table(cfg.label, cutoffs, types))
    run = train(local, cfg)
    bundle = Path(tempfile.mkdtemp()) / "bundle"
    save_model(run.model, run.config, bundle, as_of=run.as_of, metrics={}, threshold=0.5)
    model, bcfg, _ = load_model(bundle)
    _, t_spark_score = _timed(lambda: score_spark(ev, str(bundle), model, bcfg, as_of))
    _, t_spark_noreason = _timed(
        lambda: score_spark(ev, str(bundle), model, bcfg, as_of, reasons=False)
    )
    _, t_local_score = _timed(lambda: score_users(model, hist, as_of, bcfg))
    rows = [
        ("spark", "read + validate", t_read),
        ("spark", f"training table ({len(cutoffs)} cutoffs)", t_spark_tab),
        ("local (DuckDB)", f"training table ({len(cutoffs)} cutoffs)", t_local_tab),
        ("spark", "score bundle (with reasons)", t_spark_score),
        ("spark", "score bundle (no reasons)", t_spark_noreason),
        ("local", "score bundle (no reasons)", t_local_score),
    ]
    return [
        {"log": name, "events": n, "engine": e, "step": s, "seconds": t, "events_per_s": n / t}
        for e, s, t in rows
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--synthetic-users", type=int, default=0, help="0: retail only")
    args = p.parse_args()
    spark, t_start = _timed(lambda: spark_session(cores=args.cores, driver_memory="2g"))
    print(f"SparkSession local[{args.cores}] started in {t_start:.1f} s")
    rows = measure("UCI retail", str(demo_path()), load_events(demo_path()), spark, 90)
    if args.synthetic_users:
        frame = synthetic_events(n_users=args.synthetic_users, days=365, seed=0)
        folder = Path(tempfile.mkdtemp()) / "synthetic.parquet"
        folder.mkdir()
        on_disk = frame.astype({"user_id": str, "timestamp": "datetime64[us]"})
        on_disk.to_parquet(folder / "part-0.parquet")
        log = EventLog.from_frame(frame)
        rows += measure(f"synthetic {args.synthetic_users:,} users", str(folder), log, spark, 30)
    table = pd.DataFrame(rows)
    print(table.round({"seconds": 1, "events_per_s": 0}).to_string(index=False))


if __name__ == "__main__":
    main()
