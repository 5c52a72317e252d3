"""Torch side of the behaviour encoder: the padded batch, per-event embeddings, the model.

Tokens are laid out newest first after a ``[CLS]`` summary token, so BERT's position ``k``
means "the k-th most recent event". Times are measured in hours and bucketed on a log
scale; they also enter continuously (``log1p(hours) / 12``) through a small projection.
One event is one (timestamp, type) of the user (see ``EventSequence``): an order, not its lines.

Importing this module sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already sets
it (it only takes effect when torch is not imported yet): with the default spinning policy,
training with 2 threads on 2 cores that other processes also use ran up to 40x slower
(measured: 23.8 s instead of 0.6 s); idle-machine cost of PASSIVE is about 10 %.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import torch
from torch import nn
from transformers import BertConfig, BertModel

from churn_core.sequences import EventSequence

# Type ids: 0 pad, 1 unknown, 2 [CLS], 3 [MASK], 4.. fitted vocabulary.
PAD, UNK, CLS, MASK = 0, 1, 2, 3
N_SPECIAL_TYPES = 4
# Bucket ids (time, amount, category): 0 pad, 1 none/zero/missing, 2 mask, 3.. buckets.
NONE_ID, MASK_ID, FIRST_BUCKET = 1, 2, 3
N_TIME_BUCKETS = 48  # log1p(hours) in steps of 0.25: up to ~18 years
TIME_STEP = 0.25
TIME_SCALE = 12.0  # continuous input: log1p(hours) / TIME_SCALE
N_AMOUNT_BUCKETS = 24  # log1p(|amount|) in steps of 0.5, positive and negative
AMOUNT_STEP = 0.5
N_COUNT_BUCKETS = 16  # CLS: 0 for no events, else 1 + floor(log2(n))
TIME_IDS = FIRST_BUCKET + N_TIME_BUCKETS
AMOUNT_IDS = FIRST_BUCKET + 2 * N_AMOUNT_BUCKETS


@dataclass
class PaddedBatch:
    """One padded batch of sequences, ``(B, L)`` tensors with ``[CLS]`` at column 0.

    ``last_age_bucket``/``last_age``/``count_bucket`` are ``(B,)``: the age of the most
    recent event at the cutoff and the number of events, added to the ``[CLS]`` token.
    """

    type_ids: torch.Tensor
    age_bucket: torch.Tensor
    gap_bucket: torch.Tensor
    amount_bucket: torch.Tensor
    category_ids: torch.Tensor
    age: torch.Tensor
    gap: torch.Tensor
    attention_mask: torch.Tensor
    last_age_bucket: torch.Tensor
    last_age: torch.Tensor
    count_bucket: torch.Tensor

    @classmethod
    def from_numpy(cls, arrays: dict[str, np.ndarray]) -> PaddedBatch:
        return cls(**{f.name: torch.from_numpy(arrays[f.name]) for f in fields(cls)})

    def __len__(self) -> int:
        return int(self.type_ids.shape[0])


def time_buckets(hours: np.ndarray) -> np.ndarray:
    """Fine log-buckets of a duration in hours (ids ``FIRST_BUCKET..``)."""
    b = np.floor(np.log1p(np.maximum(hours, 0.0)) / TIME_STEP)
    return (FIRST_BUCKET + np.clip(b, 0, N_TIME_BUCKETS - 1)).astype(np.int64)


def amount_buckets(amount: np.ndarray) -> np.ndarray:
    """Log-buckets of an amount; 0 -> ``NONE_ID``, negatives get their own buckets."""
    b = np.clip(np.floor(np.log1p(np.abs(amount)) / AMOUNT_STEP), 0, N_AMOUNT_BUCKETS - 1)
    ids = FIRST_BUCKET + b + np.where(amount < 0, N_AMOUNT_BUCKETS, 0)
    return np.where(amount == 0, NONE_ID, ids).astype(np.int64)


def category_ids(values: np.ndarray, n_buckets: int) -> np.ndarray:
    """Stable hash of category strings into ``n_buckets`` (missing -> ``NONE_ID``)."""
    out = np.full(len(values), NONE_ID, dtype=np.int64)
    present = pd.notna(values)
    if present.any():
        h = pd.util.hash_array(values[present].astype(str).astype(object), categorize=True)
        out[present] = FIRST_BUCKET + (h % np.uint64(n_buckets)).astype(np.int64)
    return out


def pack(
    seqs: Sequence[EventSequence],
    type_index: pd.Index,
    max_events: int,
    n_category_buckets: int,
) -> dict[str, np.ndarray]:
    """Pad the most recent ``max_events`` of each sequence into numpy arrays (newest first)."""
    n_all = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    m = np.minimum(n_all, max_events)
    total, width = int(m.sum()), 1 + int(m.max(initial=0))
    b = len(seqs)

    def flat(attr: str) -> np.ndarray:
        parts = [getattr(s, attr)[len(s) - k :] for s, k in zip(seqs, m, strict=True) if k]
        return np.concatenate(parts) if parts else np.zeros(0)

    row = np.repeat(np.arange(b), m)
    starts = np.cumsum(m) - m
    k = np.arange(total) - np.repeat(starts, m)  # 0 = oldest kept event of the row
    col = m[row] - k  # newest event at column 1

    etype = flat("event_type")
    tid = type_index.get_indexer(pd.Index(etype, dtype=object)) if total else np.zeros(0, int)
    tid = np.where(tid < 0, UNK, tid + N_SPECIAL_TYPES)
    age_h = flat("age_days").astype(np.float64) * 24.0
    gap_h = flat("gap_days").astype(np.float64) * 24.0
    first = gap_h < 0
    if any(s.category is not None for s, k in zip(seqs, m, strict=True) if k):
        cats = [
            s.category[len(s) - k :] if s.category is not None else np.full(k, None, object)
            for s, k in zip(seqs, m, strict=True)
            if k
        ]
        cid = category_ids(np.concatenate(cats).astype(object), n_category_buckets)
    else:
        cid = np.full(total, NONE_ID, dtype=np.int64)

    def grid(values: np.ndarray, dtype: type, cls_value: float = 0) -> np.ndarray:
        out: np.ndarray = np.zeros((b, width), dtype=dtype)
        out[:, 0] = cls_value
        out[row, col] = values
        return out

    newest = np.where(m > 0, starts + m - 1, 0)
    last_age_h = age_h[newest] if total else np.zeros(b)
    count = np.where(n_all > 0, 1 + np.floor(np.log2(np.maximum(n_all, 1))), 0)
    return {
        "type_ids": grid(tid, np.int64, CLS),
        "age_bucket": grid(time_buckets(age_h), np.int64),
        "gap_bucket": grid(np.where(first, NONE_ID, time_buckets(gap_h)), np.int64),
        "amount_bucket": grid(amount_buckets(flat("amount").astype(np.float64)), np.int64),
        "category_ids": grid(cid, np.int64),
        "age": grid(np.log1p(np.maximum(age_h, 0)) / TIME_SCALE, np.float32),
        "gap": grid(np.where(first, 0.0, np.log1p(np.maximum(gap_h, 0)) / TIME_SCALE), np.float32),
        "attention_mask": (np.arange(width)[None, :] <= m[:, None]).astype(np.int64),
        "last_age_bucket": np.where(m > 0, time_buckets(last_age_h), NONE_ID).astype(np.int64),
        "last_age": np.where(m > 0, np.log1p(last_age_h) / TIME_SCALE, 1.0).astype(np.float32),
        "count_bucket": np.clip(count, 0, N_COUNT_BUCKETS - 1).astype(np.int64),
    }


def mask_events(
    arrays: dict[str, np.ndarray], rng: np.random.Generator, prob: float = 0.15
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Hide ~``prob`` of the events (at least one per non-empty row): every input of a
    hidden event is replaced by its mask id. Returns (masked arrays, selected (B, L) bool,
    type targets, gap-bucket targets)."""
    real = arrays["attention_mask"].astype(bool)
    real[:, 0] = False
    chosen = real & (rng.random(real.shape) < prob)
    lengths = real.sum(axis=1)
    need = (lengths > 0) & ~chosen.any(axis=1)
    rows = np.flatnonzero(need)
    if len(rows):
        chosen[rows, 1 + (rng.random(len(rows)) * lengths[rows]).astype(np.int64)] = True
    out = {k: v.copy() for k, v in arrays.items()}
    out["type_ids"][chosen] = MASK
    for key in ("age_bucket", "gap_bucket", "amount_bucket", "category_ids"):
        out[key][chosen] = MASK_ID
    out["age"][chosen] = 0.0
    out["gap"][chosen] = 0.0
    return out, chosen, arrays["type_ids"][chosen], arrays["gap_bucket"][chosen]


class EventEmbedding(nn.Module):
    """Sum of per-event embeddings; ``[CLS]`` also gets recency and event-count embeddings."""

    def __init__(self, n_types: int, hidden: int, n_category_buckets: int) -> None:
        super().__init__()
        self.event_type = nn.Embedding(n_types, hidden, padding_idx=PAD)
        self.age = nn.Embedding(TIME_IDS, hidden, padding_idx=PAD)
        self.gap = nn.Embedding(TIME_IDS, hidden, padding_idx=PAD)
        self.amount = nn.Embedding(AMOUNT_IDS, hidden, padding_idx=PAD)
        self.category = nn.Embedding(FIRST_BUCKET + n_category_buckets, hidden, padding_idx=PAD)
        self.time_proj = nn.Linear(2, hidden)
        self.recency = nn.Embedding(TIME_IDS, hidden)
        self.recency_proj = nn.Linear(1, hidden)
        self.count = nn.Embedding(N_COUNT_BUCKETS, hidden)

    def forward(self, batch: PaddedBatch) -> torch.Tensor:
        x = (
            self.event_type(batch.type_ids)
            + self.age(batch.age_bucket)
            + self.gap(batch.gap_bucket)
            + self.amount(batch.amount_bucket)
            + self.category(batch.category_ids)
        )
        events = batch.attention_mask.unsqueeze(-1).to(x.dtype)
        events[:, 0] = 0.0
        x = x + self.time_proj(torch.stack([batch.age, batch.gap], dim=-1)) * events
        cls = (
            self.recency(batch.last_age_bucket)
            + self.recency_proj(batch.last_age.unsqueeze(-1))
            + self.count(batch.count_bucket)
        )
        return torch.cat([x[:, :1] + cls.unsqueeze(1), x[:, 1:]], dim=1)


def bert_config(
    hidden: int, layers: int, heads: int, intermediate: int, max_events: int
) -> BertConfig:
    """A tiny BERT config; word embeddings are unused (we feed ``inputs_embeds``)."""
    return BertConfig(
        vocab_size=4,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_events + 2,
        type_vocab_size=1,
    )


class BehaviorModel(nn.Module):
    """Event embedding -> BertModel; masked-event heads and a contrastive projection."""

    def __init__(self, config: BertConfig, n_types: int, n_category_buckets: int) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.embed = EventEmbedding(n_types, hidden, n_category_buckets)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.type_head = nn.Linear(hidden, n_types)
        self.gap_head = nn.Linear(hidden, TIME_IDS)
        self.projection = nn.Linear(hidden, hidden)
        self.churn_head = nn.Linear(hidden, 1)  # supervised fine-tuning (optional)

    def hidden_states(self, batch: PaddedBatch) -> torch.Tensor:
        out = self.bert(inputs_embeds=self.embed(batch), attention_mask=batch.attention_mask)
        return out.last_hidden_state

    def summary(self, batch: PaddedBatch) -> torch.Tensor:
        """The ``[CLS]`` output only, ``(B, hidden)``: equal to ``hidden_states(batch)[:, 0]``.

        Inference shortcut: the last layer computes keys and values for every event but
        the attention, feed-forward block and layer norms for the ``[CLS]`` query alone,
        which removes about 40 % of the work of a 2-layer encoder. Uses the BERT modules
        themselves (so a quantized copy stays quantized); eval mode only (no dropout).
        """
        bert = self.bert
        if bert.config._attn_implementation != "sdpa":  # the boolean mask below is SDPA's
            return self.hidden_states(batch)[:, 0]
        h = bert.embeddings(inputs_embeds=self.embed(batch))
        attend = batch.attention_mask.bool()[:, None, None, :]  # (B, 1, 1, L): True = attend
        # no padding (batches are grouped by length): no mask, the fast kernel
        mask: torch.Tensor | None = None if bool(attend.all()) else attend
        layers = bert.encoder.layer
        for layer in layers[:-1]:
            h = layer(h, mask)
        last = layers[-1]
        att = last.attention.self
        b, n, d = len(h), att.num_attention_heads, att.attention_head_size

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(b, -1, n, d).transpose(1, 2)

        cls = h[:, :1]
        ctx = nn.functional.scaled_dot_product_attention(
            heads(att.query(cls)),
            heads(att.key(h)),
            heads(att.value(h)),
            attn_mask=mask,
            scale=att.scaling,
        )
        a = last.attention.output(ctx.transpose(1, 2).reshape(b, 1, n * d), cls)
        return last.output(last.intermediate(a), a)[:, 0]

    def heads_state_dict(self) -> dict[str, torch.Tensor]:
        """Everything but the BERT weights (saved next to ``save_pretrained``)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("bert.")}


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """``[CLS]`` vector, or the mean over ``[CLS]`` and the events."""
    if how == "cls":
        return hidden[:, 0]
    w = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)


def mlm_loss(
    model: BehaviorModel,
    hidden: torch.Tensor,
    chosen: np.ndarray,
    type_target: np.ndarray,
    gap_target: np.ndarray,
) -> torch.Tensor:
    """Cross-entropy of the hidden events' type and gap bucket."""
    h = hidden[torch.from_numpy(chosen)]
    ce = nn.functional.cross_entropy
    return ce(model.type_head(h), torch.from_numpy(type_target)) + ce(
        model.gap_head(h), torch.from_numpy(gap_target)
    )


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE: row i of ``z1`` and ``z2`` are positives, other rows negatives."""
    z1 = nn.functional.normalize(z1, dim=-1)
    z2 = nn.functional.normalize(z2, dim=-1)
    logits = z1 @ z2.T / temperature
    target = torch.arange(len(z1))
    ce = nn.functional.cross_entropy
    return (ce(logits, target) + ce(logits.T, target)) / 2
