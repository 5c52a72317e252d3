"""Embedding throughput per core: a saved Transformer bundle scoring users locally and on Spark.

Usage::

    python bench/bench_embed.py [--users 20000] [--cores 1,2] [--max-events 128]

A seeded synthetic log (``churn_core.datasets.synthetic_events``, about 20 events per user)
is written as CSV; a ``hybrid`` bundle (aggregates + a 2-layer Transformer, hidden 64) is
trained on its first 2,000 users and saved. Then, in the same run, every user is scored with
that bundle:

* **local, 1 core** (the baseline): ``pipeline.score_users`` with torch on one thread,
  timed whole (features, sequences, embedding, classifier), then ``predict_proba`` alone on
  the built table (the embedding is nearly all of it);
* **Spark local[c]** for each ``c`` of ``--cores``: ``score_spark`` (aggregates and sequences
  from the shared SQL, one ``mapInPandas`` task per partition, torch on one thread per task),
  from a fresh session, without reasons.

Printed: users/s and users/s per core, and each per-core rate as a ratio to the local
baseline's. On a shared 2-core machine read the ratios; Spark's per-core rate includes its
JVM, scheduling and Arrow transfers, which a cluster amortises over far more users.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _train_bundle(path: Path, folder: Path, max_events: int):
    """A hybrid bundle trained on the log at ``path`` (saved to ``folder``, loaded back)."""
    from churn_core.bundle import load_model, save_model
    from churn_core.config import ChurnConfig, LabelSpec
    from churn_core.ingest import load_events
    from churn_core.pipeline import train

    cfg = ChurnConfig(label=LabelSpec(horizon_days=30, n_cutoffs=2)).with_(
        encoder={"kind": "hybrid", "epochs": 1, "max_events": max_events},
        model={"cv_folds": 2},
    )
    run = train(load_events(path), cfg)
    save_model(run.model, run.config, folder, as_of=run.as_of, metrics={}, threshold=run.threshold)
    return load_model(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--cores", default="1,2", help="Spark local[c] sessions to time")
    ap.add_argument("--max-events", type=int, default=128)
    args = ap.parse_args()

    import torch

    from churn_core.datasets import synthetic_events
    from churn_core.ingest import load_events
    from churn_core.pipeline import score_users
    from churn_core.table import scoring_table

    with tempfile.TemporaryDirectory(prefix="bench_embed_") as tmp:
        work = Path(tmp)
        events = synthetic_events(n_users=args.users, seed=0, events_per_user=20.0)
        path = work / "events.csv"
        events.to_csv(path, index=False)
        first = events["user_id"].drop_duplicates().iloc[:2000]
        events[events["user_id"].isin(first)].to_csv(work / "train.csv", index=False)
        print(f"log: {len(events):,} events, {events['user_id'].nunique():,} users", flush=True)
        model, cfg, _ = _train_bundle(work / "train.csv", work / "bundle", args.max_events)
        log = load_events(path)
        as_of = log.default_as_of()
        hist = log.before(as_of)

        rows = []
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        scores, _ = score_users(model, hist, as_of, cfg)
        local_s = time.perf_counter() - t0
        n = len(scores)
        t0 = time.perf_counter()
        table = scoring_table(hist, as_of, model.event_types, model.max_events, 30)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.predict_proba(table.X)
        embed_s = time.perf_counter() - t0
        rows.append(("local, score_users (features + sequences + embedding)", 1, local_s))
        rows.append(("local, embedding + classifier only", 1, embed_s))
        print(
            f"local: {local_s:.1f} s (table {build_s:.1f} s, predict {embed_s:.1f} s)", flush=True
        )

        from churn_core.engine.spark import read_events, spark_session
        from churn_core.engine.spark_train import score_spark

        for cores in [int(c) for c in args.cores.split(",")]:
            spark = spark_session(cores=cores, driver_memory="2g")
            try:
                sev = read_events(spark, str(path))
                sev.frame.cache().count()  # read once before timing (the reader is not the subject)
                t0 = time.perf_counter()
                got = score_spark(sev, str(work / "bundle"), model, cfg, as_of, reasons=False)
                took = time.perf_counter() - t0
            finally:
                spark.stop()
            assert len(got) == n
            name = f"Spark local[{cores}], score_spark (features + sequences + embedding)"
            rows.append((name, cores, took))
            print(f"spark local[{cores}]: {took:.1f} s", flush=True)

    base = n / local_s
    print(
        f"\n{n:,} users, max_events {args.max_events}, hybrid encoder (hidden 64, 2 layers); "
        f"cpus {os.cpu_count()}, load avg {os.getloadavg()[0]:.1f}\n"
    )
    print("| run | cores | seconds | users/s | users/s per core | per core / local score_users |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, cores, took in rows:
        rate = n / took
        per_core = rate / cores
        cells = f"{took:.1f} | {rate:,.0f} | {per_core:,.0f} | {per_core / base:.2f}"
        print(f"| {name} | {cores} | {cells} |")


if __name__ == "__main__":
    main()
