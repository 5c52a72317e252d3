"""Does the CoLES contrastive objective help? Downstream ROC-AUC of mlm vs mlm+coles.

Run: ``python bench/bench_encoder_objectives.py [--seeds 0 1 2] [--synthetic-users 6000]``.
For each data set, the encoder is pre-trained (self-supervised, no labels) with each
objective and seed; a logistic regression on the embeddings alone is scored by 5-fold
stratified cross-validated ROC-AUC. ``untrained`` (epochs=0) shows what pre-training adds.
Data: the seeded synthetic log of ``bench_encoder.py`` and, when present, UCI Online Retail
from ``../shared/data`` (cutoff 2011-09-10, churn = no purchase in the next 90 days).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault(
    "OMP_WAIT_POLICY", "PASSIVE"
)  # the library default, see churn_core.encoder.nn
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_encoder import CUTOFF, synthetic_events  # noqa: E402

from churn_core.sequences import build_sequences  # noqa: E402

RETAIL = ROOT.parent / "shared" / "data" / "uci-online-retail" / "online_retail.csv.gz"


def retail(path: Path = RETAIL) -> tuple[pd.Series, np.ndarray]:
    """UCI Online Retail: purchase and cancel lines with a customer; label at 2011-09-10."""
    raw = pd.read_csv(path, dtype={"CustomerID": str, "InvoiceNo": str, "StockCode": str})
    raw = raw[raw["CustomerID"].notna()]
    cancel = raw["InvoiceNo"].str.startswith("C")
    raw = raw[cancel | (raw["Quantity"] > 0)]
    events = pd.DataFrame(
        {
            "user_id": raw["CustomerID"].str.replace(".0", "", regex=False),
            "timestamp": pd.to_datetime(raw["InvoiceDate"]),
            "event_type": np.where(raw["InvoiceNo"].str.startswith("C"), "cancel", "purchase"),
            "amount": raw["Quantity"] * raw["UnitPrice"],
            "category": raw["StockCode"],
        }
    )
    cutoff = pd.Timestamp("2011-09-10")
    end = cutoff + pd.Timedelta(days=90)
    before = events[events["timestamp"] < cutoff]
    users = pd.Index(sorted(before.loc[before["event_type"] == "purchase", "user_id"].unique()))
    window = events[
        (events["timestamp"] >= cutoff)
        & (events["timestamp"] < end)
        & (events["event_type"] == "purchase")
    ]
    y = (~users.isin(window["user_id"].unique())).astype(int)
    return build_sequences(before, cutoff, users, 128), np.asarray(y)


def synthetic(n_users: int) -> tuple[pd.Series, np.ndarray]:
    events, users, y = synthetic_events(n_users, 128, seed=11)
    return build_sequences(events, CUTOFF, users, 128), y.to_numpy()


def cv_auc(emb: np.ndarray, y: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(clf, emb, y, cv=cv, scoring="roc_auc").mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--synthetic-users", type=int, default=6000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pooling", default="cls")
    ap.add_argument("--retail", type=Path, default=RETAIL, help="online_retail.csv.gz")
    ap.add_argument("--datasets", nargs="+", default=["synthetic", "uci-online-retail"])
    ap.add_argument("--variants", nargs="+", default=["untrained", "mlm", "mlm+coles"])
    args = ap.parse_args()

    from churn_core.encoder.estimator import BehaviorEncoder

    sets = {}
    if "synthetic" in args.datasets:
        sets["synthetic"] = synthetic(args.synthetic_users)
    if "uci-online-retail" in args.datasets and args.retail.is_file():
        sets["uci-online-retail"] = retail(args.retail)
    variants = {
        "untrained": {"epochs": 0},
        "mlm": {"objective": "mlm"},
        "mlm+coles": {"objective": "mlm+coles"},
    }
    variants = {k: v for k, v in variants.items() if k in args.variants}
    rows, rfm_auc = [], {}
    for name, (seqs, y) in sets.items():
        X = seqs.to_frame()
        recency = np.log1p(np.array([s.age_days[-1] if len(s) else 3650 for s in seqs]))
        rfm = np.column_stack(
            [
                recency,
                np.log1p([len(s) for s in seqs]),
                np.log1p([max(float(s.amount.sum()), 0.0) for s in seqs]),
            ]
        )
        rfm_auc[name] = round(cv_auc(rfm, y), 4)
        print(
            f"{name}: {len(y):,} users, churn {y.mean():.1%}, "
            f"recency-only AUC {cv_auc(recency[:, None], y):.3f}",
            flush=True,
        )
        for label, params in variants.items():
            aucs, aucs_rfm, secs = [], [], []
            for seed in args.seeds:
                enc = BehaviorEncoder(
                    seed=seed, n_threads=args.threads, pooling=args.pooling, **params
                )
                start = time.perf_counter()
                emb = enc.fit(X).transform(X)
                secs.append(time.perf_counter() - start)
                aucs.append(cv_auc(emb, y))
                aucs_rfm.append(cv_auc(np.column_stack([emb, rfm]), y))
                print(
                    f"RESULT {name} {label} seed {seed}: AUC {aucs[-1]:.4f}, "
                    f"with RFM {aucs_rfm[-1]:.4f} ({secs[-1]:.0f} s)",
                    flush=True,
                )
            rows.append(
                (name, label, np.mean(aucs), np.std(aucs), np.mean(aucs_rfm), np.std(aucs_rfm))
            )
            rows[-1] += (np.mean(secs),)
    print(f"RFM-only ROC-AUC per data set: {rfm_auc}")
    print("\ndata set | objective | AUC emb (sd) | AUC emb+RFM (sd) | fit+embed s")
    for r in rows:
        print(f"{r[0]} | {r[1]} | {r[2]:.4f} ({r[3]:.4f}) | {r[4]:.4f} ({r[5]:.4f}) | {r[6]:.0f}")


if __name__ == "__main__":
    main()
