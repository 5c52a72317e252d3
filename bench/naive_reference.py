"""The naive pandas reference of issue 13: what an analyst would write in an afternoon.

Reads the event CSV with ``pandas.read_csv``, computes per-user features at two cutoffs with
plain pandas ``groupby`` (a training cutoff ``H`` days before the end of the log, labelled by
"no event in the next ``H`` days", and the scoring cutoff at the end of the log), fits a
logistic regression and scikit-learn's textbook ``GradientBoostingClassifier`` (defaults:
100 trees of depth 3; no cross-validation, no calibration,
no backtest, no reasons), scores every user at the end of the log with the average of the two
probabilities and writes a CSV. It does less than ``churn train`` + ``churn score``; it is the
yardstick the workbench's speed is measured against (``bench/bench_train_score.py``,
``bench/bench_scale.py``).

Usage::

    python bench/naive_reference.py EVENTS.csv [--horizon-days 30] [--out scores.csv]

or ``from naive_reference import naive_reference; naive_reference(path, 30)`` (returns the
seconds per stage). The CSV needs canonical columns ``user_id, timestamp, event_type,
amount``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

FEATURE_WINDOWS = (7, 30, 90)


def naive_features(events: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Per-user features from the events strictly before ``cutoff``: plain pandas groupby."""
    hist = events[events["timestamp"] < cutoff]
    g = hist.groupby("user_id")
    age_days = (cutoff - hist["timestamp"]).dt.total_seconds() / 86400.0
    feats = pd.DataFrame(
        {
            "recency_days": (cutoff - g["timestamp"].max()).dt.total_seconds() / 86400.0,
            "tenure_days": (cutoff - g["timestamp"].min()).dt.total_seconds() / 86400.0,
            "n_events": g.size(),
            "active_days": hist.assign(day=hist["timestamp"].dt.floor("D"))
            .groupby("user_id")["day"]
            .nunique(),
        }
    )
    for w in FEATURE_WINDOWS:
        recent = hist[age_days < w]
        feats[f"events_{w}d"] = recent.groupby("user_id").size()
    per_type = hist.groupby(["user_id", "event_type"]).size().unstack(fill_value=0)
    feats = feats.join(per_type.add_prefix("n_"))
    buys = hist[hist["event_type"] == "purchase"]
    feats["monetary"] = buys.groupby("user_id")["amount"].sum()
    feats["n_orders"] = buys.groupby("user_id").size()
    feats = feats.fillna(0.0)
    feats["avg_order_value"] = feats["monetary"] / feats["n_orders"].clip(lower=1)
    return feats


def naive_reference(
    path: str | Path, horizon_days: int = 30, out: str | Path | None = None
) -> dict[str, float]:
    """Read, featurise at two cutoffs, fit LR + GB, score, write; seconds per stage."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    t = {"start": time.perf_counter()}
    events = pd.read_csv(path, parse_dates=["timestamp"])
    t["read"] = time.perf_counter()

    as_of = events["timestamp"].max() + pd.Timedelta(seconds=1)
    train_cut = as_of - pd.Timedelta(days=horizon_days)
    X_train = naive_features(events, train_cut)
    later = events[(events["timestamp"] >= train_cut) & (events["timestamp"] < as_of)]
    y = (~X_train.index.isin(later["user_id"].unique())).astype(int)
    X_score = naive_features(events, as_of)
    X_score = X_score.reindex(columns=X_train.columns, fill_value=0.0)
    t["features"] = time.perf_counter()

    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    lr.fit(X_train.to_numpy(), y)
    gb = GradientBoostingClassifier(random_state=0).fit(X_train.to_numpy(), y)
    t["fit"] = time.perf_counter()

    Z = X_score.to_numpy()
    prob = (lr.predict_proba(Z)[:, 1] + gb.predict_proba(Z)[:, 1]) / 2.0
    scores = pd.DataFrame({"user_id": X_score.index, "churn_probability": prob})
    scores = scores.sort_values("churn_probability", ascending=False)
    t["score"] = time.perf_counter()
    if out is not None:
        scores.to_csv(out, index=False)
    t["write"] = time.perf_counter()

    stages = ["read", "features", "fit", "score", "write"]
    prev = ["start", *stages[:-1]]
    res = {f"{s}_s": t[s] - t[p] for s, p in zip(stages, prev, strict=True)}
    res["total_s"] = t["write"] - t["start"]
    res["train_rows"] = float(len(y))
    res["train_churn_rate"] = float(np.mean(y))
    res["scored_users"] = float(len(scores))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("events", help="event CSV with user_id, timestamp, event_type, amount")
    ap.add_argument("--horizon-days", type=int, default=30)
    ap.add_argument("--out", help="write the scores here (CSV)")
    args = ap.parse_args()
    res = naive_reference(args.events, args.horizon_days, args.out)
    print(json.dumps({k: round(v, 4) for k, v in res.items()}))


if __name__ == "__main__":
    main()
