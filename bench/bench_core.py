"""Speed and memory of the core pipeline on the real retail log and a 1M-event synthetic log.

Usage: ``python bench/bench_core.py [--quick]`` (``--quick``: a 100k-event synthetic log only
plus the retail log's ingest/features, well under a minute). Threads are limited to 2.

Each dataset runs in its own child process so that its peak memory (``ru_maxrss`` of the
child, minus the child's RSS after imports) is not mixed with the other dataset's.
Prints a markdown table.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "2"

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FULL_USERS, FULL_EPU = 50_000, 20.0  # ~1M events
QUICK_USERS, QUICK_EPU = 5_000, 20.0  # ~100k events


def _rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def naive_aggregates(events: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The textbook pandas way: ``groupby(user).apply`` with a Python function per user."""

    def one(g: pd.DataFrame) -> pd.Series:
        ts = g["timestamp"]
        age = (cutoff - ts).dt.total_seconds() / 86400.0
        days = np.unique(ts.dt.floor("D").to_numpy())
        gaps = np.diff(days) / np.timedelta64(1, "D")
        buys = g["event_type"] == "purchase"
        return pd.Series(
            {
                "recency_days": age.min(),
                "tenure_days": age.max(),
                "n_events": len(g),
                "monetary": g.loc[buys, "amount"].sum(),
                "events_30d": int((age < 30).sum()),
                "events_90d": int((age < 90).sum()),
                "mean_gap_days": gaps.mean() if len(gaps) else np.nan,
            }
        )

    hist = events.loc[events["timestamp"] < cutoff]
    return hist.groupby("user_id", sort=True).apply(one)


def bench_one(name: str, path: str, horizon: int, quick: bool) -> dict:
    """Run every stage on one file; returns seconds, rows/s and memory."""
    from threadpoolctl import threadpool_limits

    from churn_core.config import ChurnConfig
    from churn_core.crossval import cross_validate, fit_final
    from churn_core.features import aggregate_features, pick_event_types
    from churn_core.ingest import load_events
    from churn_core.labels import eligible_users, training_cutoffs
    from churn_core.pipeline import score_users, train
    from churn_core.table import training_table

    warnings.filterwarnings("ignore")
    base_rss = _rss_mb()
    out: dict = {"dataset": name}
    with threadpool_limits(2):
        t = time.perf_counter()
        log = load_events(path)
        out["ingest_s"] = time.perf_counter() - t
        out["rows"] = log.report.rows_read
        out["events"], out["users"] = log.n_events, log.n_users
        out["ingest_rows_s"] = out["rows"] / out["ingest_s"]

        cfg = ChurnConfig().with_(label={"horizon_days": horizon})
        as_of = log.default_as_of()
        hist = log.before(as_of)
        cutoffs = training_cutoffs(hist, cfg.label, as_of)
        types = pick_event_types(hist.frame)
        t = time.perf_counter()
        table = training_table(hist, cfg.label, cutoffs, types)
        out["features_s"] = time.perf_counter() - t
        out["train_rows"] = len(table.y)

        t = time.perf_counter()
        _, calibrator = cross_validate(table, cfg.model, cfg.encoder)
        out["cv_s"] = time.perf_counter() - t
        model = fit_final(table, cfg.model, cfg.encoder, calibrator, types)
        t = time.perf_counter()
        score_users(model, hist, as_of, cfg)
        out["score_s"] = time.perf_counter() - t

        t = time.perf_counter()
        run = train(log, cfg)
        out["train_e2e_s"] = time.perf_counter() - t
        out["cv_auc"] = float(run.cv.summary.loc["roc_auc", "mean"])

        # naive vs ours: the same core aggregates at one cutoff (as_of) for every user
        frame = hist.frame
        users = eligible_users(hist, cfg.label, as_of)
        t = time.perf_counter()
        aggregate_features(frame, as_of, users, types, hist.start, horizon)
        out["ours_agg_s"] = time.perf_counter() - t
        t = time.perf_counter()
        naive_aggregates(frame, as_of)
        out["naive_agg_s"] = time.perf_counter() - t
    out["peak_rss_delta_mb"] = _rss_mb() - base_rss
    return out


def _child(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    res = bench_one(args.name, args.path, args.horizon, args.quick)
    print("RESULT " + json.dumps(res))


def _run_child(name: str, path: str, horizon: int, quick: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", "--name", name, "--path", path]
    cmd += ["--horizon", str(horizon)] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT "))
    raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")


def _table(results: list[dict]) -> str:
    rows = [
        ("rows in file", lambda r: f"{r['rows']:,}"),
        ("events kept / users", lambda r: f"{r['events']:,} / {r['users']:,}"),
        (
            "ingest (load_events), rows/s",
            lambda r: f"{r['ingest_rows_s']:,.0f} ({r['ingest_s']:.1f} s)",
        ),
        (
            "features (training_table), s",
            lambda r: f"{r['features_s']:.2f} ({r['train_rows']:,} rows)",
        ),
        ("cross-validation, s", lambda r: f"{r['cv_s']:.2f}"),
        ("scoring (score_users), s", lambda r: f"{r['score_s']:.2f}"),
        ("end-to-end pipeline.train, s", lambda r: f"{r['train_e2e_s']:.2f}"),
        ("CV ROC-AUC", lambda r: f"{r['cv_auc']:.3f}"),
        ("core aggregates at one cutoff, ours, s", lambda r: f"{r['ours_agg_s']:.3f}"),
        ("same, naive groupby.apply, s", lambda r: f"{r['naive_agg_s']:.2f}"),
        ("naive / ours", lambda r: f"{r['naive_agg_s'] / r['ours_agg_s']:.0f}x"),
        ("peak RSS delta (ru_maxrss), MiB", lambda r: f"{r['peak_rss_delta_mb']:,.0f}"),
    ]
    head = "| metric | " + " | ".join(r["dataset"] for r in results) + " |"
    sep = "|---|" + "---|" * len(results)
    body = ["| " + label + " | " + " | ".join(fn(r) for r in results) + " |" for label, fn in rows]
    return "\n".join([head, sep, *body])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100k synthetic events (< 1 min)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--name", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--horizon", type=int, default=30, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return

    from churn_core.datasets import demo_path, synthetic_events

    n_users, epu = (QUICK_USERS, QUICK_EPU) if args.quick else (FULL_USERS, FULL_EPU)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "synthetic.csv"
        t = time.perf_counter()
        synthetic_events(n_users=n_users, seed=0, events_per_user=epu).to_csv(csv, index=False)
        gen_s = time.perf_counter() - t
        if not args.quick:
            results.append(_run_child("UCI retail (bundled, H=90)", str(demo_path()), 90, False))
        label = f"synthetic {n_users // 1000}k users (H=30)"
        results.append(_run_child(label, str(csv), 30, args.quick))
    print(
        f"threads: 2 (OMP/BLAS env + threadpoolctl); cpu count {os.cpu_count()}; "
        f"python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}; "
        f"synthetic generate+write CSV {gen_s:.1f} s\n"
    )
    print(_table(results))


if __name__ == "__main__":
    main()
