"""BehaviorEncoder (tiny BERT over event sequences) and TextSequenceEncoder (local text model)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as churn_core.encoder.nn does

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from churn_core.encoder.estimator import BehaviorEncoder  # noqa: E402
from churn_core.encoder.text import TextSequenceEncoder, render  # noqa: E402
from churn_core.sequences import EventSequence, build_sequences  # noqa: E402

CUTOFF = pd.Timestamp("2024-07-01")
TINY = dict(
    hidden_size=16,
    num_layers=1,
    num_heads=2,
    intermediate_size=32,
    max_events=32,
    epochs=1,
    batch_size=32,
    max_train_users=200,
    n_category_buckets=16,
)


def synthetic_log(n_users: int, seed: int) -> tuple[pd.DataFrame, pd.Index, pd.Series]:
    """Users who stay active or fade out; churn = no event in the 60 days after CUTOFF."""
    rng = np.random.default_rng(seed)
    fading = rng.random(n_users) < 0.5
    rate = rng.lognormal(np.log(0.15), 0.5, n_users)
    tau = np.where(fading, rng.uniform(15, 60, n_users), 1e6)
    start = rng.uniform(0, 120, n_users)
    span = 182.0 + 60.0 - start
    n = rng.poisson(rate * tau * (1 - np.exp(-span / tau))) + 1
    uid = np.repeat(np.arange(n_users), n)
    t = start[uid] - tau[uid] * np.log1p(-rng.random(len(uid)) * (1 - np.exp(-span / tau)[uid]))
    kind = np.where(rng.random(len(uid)) < np.where(fading[uid], 0.05, 0.2), "purchase", "view")
    events = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in uid],
            "timestamp": CUTOFF - pd.Timedelta(days=182) + pd.to_timedelta(t, unit="D"),
            "event_type": kind,
            "amount": np.where(kind == "purchase", rng.lognormal(3, 1, len(uid)), 0.0),
            "category": rng.choice(["toys", "books", "garden"], len(uid)),
        }
    )
    before = events[events["timestamp"] < CUTOFF]
    users = pd.Index(sorted(before["user_id"].unique()))
    later = events.loc[events["timestamp"] < CUTOFF + pd.Timedelta(days=60), "user_id"]
    future = set(later[events["timestamp"] >= CUTOFF])
    y = pd.Series([int(u not in future) for u in users], index=users)
    return events, users, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    events, users, y = synthetic_log(400, seed=1)
    seqs = build_sequences(events[events["timestamp"] < CUTOFF], CUTOFF, users, max_events=32)
    return events, seqs.to_frame(), y


@pytest.fixture(scope="module")
def fitted(data: tuple) -> BehaviorEncoder:
    return BehaviorEncoder(**TINY, seed=0).fit(data[1])


def test_sklearn_contract(data: tuple) -> None:
    enc = BehaviorEncoder(**TINY, seed=3)
    assert clone(enc).get_params() == enc.get_params()
    with pytest.raises(NotFittedError):
        enc.transform(data[1])
    assert enc.fit(data[1]) is enc
    emb = enc.transform(data[1])
    assert emb.shape == (len(data[1]), 16) and emb.dtype == np.float32
    assert np.isfinite(emb).all()
    assert list(enc.get_feature_names_out()) == [f"emb_{i}" for i in range(16)]
    assert enc.vocab_ == ["purchase", "view"] and enc.history_[0]["epoch"] == 1
    assert not hasattr(clone(enc), "model_")


def test_input_forms_give_the_same_embeddings(fitted: BehaviorEncoder, data: tuple) -> None:
    frame = data[1]
    ref = fitted.transform(frame)
    np.testing.assert_array_equal(fitted.transform(frame["sequence"]), ref)
    np.testing.assert_array_equal(fitted.transform(frame.to_numpy()), ref)
    # the order of X is kept even though batches are sorted by length
    rev = fitted.transform(frame.iloc[::-1])
    np.testing.assert_allclose(rev[::-1], ref, atol=1e-5)


def test_unknown_event_types_and_empty_sequences(fitted: BehaviorEncoder) -> None:
    f = np.array([3.0, 1.0], dtype=np.float32)
    odd = EventSequence(np.array(["refund", "view"], dtype=object), f, f, f, None)
    emb = fitted.transform(pd.Series([odd, EventSequence.empty()]))
    assert emb.shape == (2, 16) and np.isfinite(emb).all()


def test_pipeline_with_logistic_regression_beats_constant(data: tuple) -> None:
    _, frame, y = data
    X = frame.assign(n_events=[len(s) for s in frame["sequence"]])
    prep = ColumnTransformer(
        [
            ("seq", BehaviorEncoder(**TINY), ["sequence"]),
            ("agg", StandardScaler(), ["n_events"]),
        ]
    )
    pipe = Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=2000))])
    train = np.arange(len(X)) % 3 != 0
    pipe.fit(X[train], y[train])
    auc = roc_auc_score(y[~train], pipe.predict_proba(X[~train])[:, 1])
    assert auc > 0.7, f"ROC-AUC {auc:.3f} is not clearly above the constant baseline (0.5)"
    names = pipe[:-1].get_feature_names_out()
    assert names[0] == "seq__emb_0" and names[-1] == "agg__n_events"


def test_embeddings_carry_time_since_last_event() -> None:
    rng = np.random.default_rng(7)
    n = 240
    recent = np.arange(n) % 2 == 0
    last_age = np.where(recent, rng.uniform(0.5, 5, n), rng.uniform(60, 200, n))
    rows = []
    for i in range(n):
        gaps = rng.exponential(4.0, rng.integers(2, 12))
        for age in last_age[i] + np.r_[0.0, np.cumsum(gaps)]:
            rows.append((f"u{i}", CUTOFF - pd.Timedelta(days=float(age)), "view", 0.0))
    events = pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "amount"])
    users = pd.Index([f"u{i}" for i in range(n)])
    seqs = build_sequences(events, CUTOFF, users, max_events=32).to_frame()
    emb = BehaviorEncoder(**TINY).fit(seqs).transform(seqs)
    half = np.arange(n) < n // 2
    clf = LogisticRegression(max_iter=5000).fit(emb[half], recent[half])
    auc = roc_auc_score(recent[~half], clf.decision_function(emb[~half]))
    assert auc > 0.9, f"recency not linearly recoverable from embeddings: ROC-AUC {auc:.3f}"


def test_same_seed_same_embeddings_other_seed_differs(fitted: BehaviorEncoder, data) -> None:
    again = BehaviorEncoder(**TINY, seed=0).fit(data[1])
    np.testing.assert_array_equal(again.transform(data[1]), fitted.transform(data[1]))
    other = BehaviorEncoder(**TINY, seed=1).fit(data[1])
    assert not np.allclose(other.transform(data[1]), fitted.transform(data[1]))


def test_events_after_the_cutoff_change_nothing(data: tuple) -> None:
    events, frame, _ = data
    users = frame.index
    planted = pd.concat(
        [
            events,  # already holds the real future (the label window) ...
            pd.DataFrame(  # ... plus events exactly at the cutoff
                {
                    "user_id": list(users[:50]),
                    "timestamp": CUTOFF,
                    "event_type": "purchase",
                    "amount": 500.0,
                    "category": "toys",
                }
            ),
        ]
    )
    clean = events[events["timestamp"] < CUTOFF]
    a = build_sequences(clean, CUTOFF, users, max_events=32).to_frame()
    b = build_sequences(planted, CUTOFF, users, max_events=32).to_frame()
    emb_a = BehaviorEncoder(**TINY, seed=5).fit(a).transform(a)
    emb_b = BehaviorEncoder(**TINY, seed=5).fit(b).transform(b)
    np.testing.assert_array_equal(emb_a, emb_b)


def test_save_load_gives_identical_embeddings(fitted, data, tmp_path) -> None:
    fitted.save(tmp_path / "enc")
    names = {p.name for p in (tmp_path / "enc").iterdir()}
    assert {"config.json", "model.safetensors", "encoder.json"} <= names
    assert not any(n.endswith((".pkl", ".pt", ".bin")) for n in names)
    loaded = BehaviorEncoder.load(tmp_path / "enc")
    assert loaded.get_params() == {**fitted.get_params(), "progress": None}
    np.testing.assert_allclose(loaded.transform(data[1]), fitted.transform(data[1]), atol=1e-6)
    with pytest.raises(ValueError, match="No saved BehaviorEncoder"):
        BehaviorEncoder.load(tmp_path / "missing")


def test_cls_shortcut_equals_the_full_forward_pass(data: tuple) -> None:
    """``summary`` (last layer for ``[CLS]`` only) gives the full model's ``[CLS]`` output."""
    enc = BehaviorEncoder(**{**TINY, "num_layers": 2}, seed=0).fit(data[1])
    assert enc.model_.bert.config._attn_implementation == "sdpa"  # the shortcut, not its fallback
    seqs = list(data[1]["sequence"].iloc[:50]) + [EventSequence.empty()]
    seqs = [s.tail(k % 33) for k, s in enumerate(seqs)]  # ragged lengths, 0 to 32
    same_length = [s.tail(3) for s in data[1]["sequence"].iloc[:50] if len(s) >= 3]
    for group in (seqs, same_length):  # padded, and without padding (no mask at all)
        batch = enc._batch(group)
        with torch.inference_mode():
            full = enc.model_.hidden_states(batch)[:, 0]
            fast = enc.model_.summary(batch)
        torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)


def test_quantized_encoder_is_close_to_fp32(fitted, data) -> None:
    q = fitted.quantize()
    assert q.quantized_ and not fitted.quantized_
    a, b = fitted.transform(data[1]), q.transform(data[1])
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() > 0.95
    with pytest.raises(ValueError, match="quantized"):
        q.save("unused")


def test_progress_threads_and_objectives(data: tuple) -> None:
    calls: list[tuple[str, float, int]] = []
    before = torch.get_num_threads()

    def progress(stage: str, fraction: float) -> None:
        calls.append((stage, fraction, torch.get_num_threads()))

    params = {**TINY, "epochs": 2, "objective": "mlm+coles", "pooling": "mean"}
    enc = BehaviorEncoder(**params, n_threads=1, progress=progress, progress_every=2)
    emb = enc.fit(data[1]).transform(data[1])
    assert emb.shape == (len(data[1]), 16)
    stages = [c[0] for c in calls]
    assert "encoder: pretrain epoch 1/2" in stages and "encoder: pretrain epoch 2/2" in stages
    fractions = [c[1] for c in calls if c[0].startswith("encoder: pretrain")]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {c[2] for c in calls} == {1} and torch.get_num_threads() == before


def test_finetuning_learns_the_label_with_early_stopping(data: tuple) -> None:
    """The fine-tuned churn head ranks held-out users; an untrained head would not."""
    _, frame, y = data
    train = np.arange(len(frame)) % 3 != 0
    calls: list[str] = []
    params = {**TINY, "learning_rate": 1e-2}  # a few hundred rows: few steps per epoch
    enc = BehaviorEncoder(
        **params, finetune_epochs=40, finetune_patience=3, progress=lambda s, f: calls.append(s)
    )
    enc.fit(frame[train], y[train].to_numpy())
    with torch.no_grad():
        logit = enc.model_.churn_head(torch.from_numpy(enc.transform(frame[~train])))[:, 0]
    auc = roc_auc_score(y[~train], logit.numpy())
    assert auc > 0.8, f"fine-tuned churn head: held-out ROC-AUC {auc:.3f}"
    # early stopping: it stopped `patience` epochs after the best validation loss
    val = [h["val_loss"] for h in enc.finetune_history_]
    assert len(val) < 40 and int(np.argmin(val)) == len(val) - 1 - 3
    assert any(s.startswith("encoder: fine-tune epoch 1/") for s in calls)
    # without labels there is nothing to fine-tune on: pre-training only
    assert BehaviorEncoder(**TINY, finetune_epochs=3).fit(frame).finetune_history_ == []


def test_bad_parameters_are_explained(data: tuple) -> None:
    with pytest.raises(ValueError, match="objective"):
        BehaviorEncoder(objective="bert").fit(data[1])
    with pytest.raises(ValueError, match="multiple of num_heads"):
        BehaviorEncoder(hidden_size=10, num_heads=3).fit(data[1])
    with pytest.raises(ValueError, match="finetune_epochs"):
        BehaviorEncoder(finetune_epochs=-1).fit(data[1])
    with pytest.raises(ValueError, match="not EventSequence"):
        BehaviorEncoder(**TINY).fit(pd.DataFrame({"sequence": [1, 2]}))


# --------------------------------------------------------------------------- text variant
WORDS = ["view", "cart", "purchase", "ago", "no", "events", "toys", ";", "."]
DIGITS = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_text_model")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *DIGITS]
    vocab += [f"##{d}" for d in DIGITS] + ["##d", "##h"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return str(folder)


def test_render_text() -> None:
    seq = EventSequence(
        np.array(["view", "purchase"], dtype=object),
        np.array([3.2, 0.25], dtype=np.float32),
        np.array([-1.0, 2.95], dtype=np.float32),
        np.array([0.0, 45.0], dtype=np.float32),
        np.array(["toys", None], dtype=object),
        np.array([1, 3], dtype=np.int32),
    )
    assert render(seq) == "view toys 3d ago; purchase x3 6h ago 45.00"
    assert render(seq, max_events=1) == "purchase x3 6h ago 45.00"
    assert render(EventSequence.empty()) == "no events"


def test_text_encoder_shapes_and_determinism(text_model: str, data: tuple) -> None:
    frame = data[1].iloc[:40]
    enc = TextSequenceEncoder(text_model, max_events=32, batch_size=8)
    assert clone(enc).get_params() == enc.get_params()
    with pytest.raises(NotFittedError):
        enc.transform(frame)
    emb = enc.fit(frame).transform(frame)  # long texts are cut to the model's 64 positions
    assert emb.shape == (40, 16) and emb.dtype == np.float32 and np.isfinite(emb).all()
    np.testing.assert_array_equal(
        emb, TextSequenceEncoder(text_model, batch_size=8).fit().transform(frame)
    )
    assert list(enc.get_feature_names_out())[:2] == ["emb_0", "emb_1"]


def test_text_encoder_missing_folder_is_named(tmp_path) -> None:
    missing = tmp_path / "no_model_here"
    with pytest.raises(ValueError, match="no_model_here"):
        TextSequenceEncoder(str(missing)).fit()
