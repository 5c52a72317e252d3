"""Training loops of :class:`churn_core.encoder.BehaviorEncoder`.

``pretrain``: self-supervised masked-event modelling (plus CoLES views); ``finetune``:
supervised fine-tuning of the churn head with early stopping. Both take a
:class:`TrainingPlan` (the model, how to pack sequences into tensors, the settings and a
progress callback) and return one record per epoch; they know nothing of the estimator.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from churn_core.encoder.nn import (
    BehaviorModel,
    PaddedBatch,
    info_nce,
    mask_events,
    mlm_loss,
    pool,
)
from churn_core.sequences import EventSequence

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingPlan:
    """Everything the training loops need, passed explicitly.

    ``pack`` turns sequences into the padded arrays of one batch (vocabulary and length
    applied); ``pooled`` is the inference-mode pooled output of a batch; ``report`` receives
    ``(stage, fraction)`` progress. The settings mirror ``BehaviorEncoder``'s parameters.
    """

    model: BehaviorModel
    pack: Callable[[Sequence[EventSequence]], dict[str, np.ndarray]]
    pooled: Callable[[PaddedBatch], torch.Tensor]
    report: Callable[[str, float], None]
    objective: str
    pooling: str
    epochs: int
    finetune_epochs: int
    finetune_patience: int
    batch_size: int
    embed_batch_size: int
    learning_rate: float
    max_events: int
    max_train_users: int
    progress_every: int

    def batch(self, seqs: Sequence[EventSequence]) -> PaddedBatch:
        """One padded batch of ``seqs``."""
        return PaddedBatch.from_numpy(self.pack(seqs))


def pretrain(
    plan: TrainingPlan, train: list[EventSequence], rng: np.random.Generator
) -> list[dict]:
    """Self-supervised pre-training; returns one ``{epoch, loss, seconds}`` per epoch."""
    history: list[dict] = []
    if not train or plan.epochs == 0:
        return history
    model = plan.model
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=plan.learning_rate, weight_decay=0.01)
    lengths = np.fromiter((min(len(s), plan.max_events) for s in train), int, len(train))
    n_batches = -(-len(train) // plan.batch_size)
    total, done = n_batches * plan.epochs, 0
    for epoch in range(plan.epochs):
        stage = f"encoder: pretrain epoch {epoch + 1}/{plan.epochs}"
        plan.report(stage, done / total)
        start, losses = time.perf_counter(), []
        for b, idx in enumerate(_length_batches(lengths, plan.batch_size, rng)):
            loss = _step_loss(plan, [train[i] for i in idx], rng)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(float(loss.detach()))
            done += 1
            if (b + 1) % plan.progress_every == 0:
                plan.report(stage, done / total)
        record = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "seconds": time.perf_counter() - start,
        }
        history.append(record)
        logger.info("encoder pretrain epoch %d/%d: %s", epoch + 1, plan.epochs, record)
    plan.report(f"encoder: pretrain epoch {plan.epochs}/{plan.epochs}", 1.0)
    return history


def finetune(
    plan: TrainingPlan, seqs: list[EventSequence], y: np.ndarray, rng: np.random.Generator
) -> list[dict]:
    """Supervised fine-tuning on the churn label with early stopping.

    A stratified 15 % of the rows is held out; after every epoch its log-loss is
    measured and the best weights so far are kept; training stops after
    ``finetune_patience`` epochs without improvement. At most
    ``4 * max_train_users`` rows are used. The split is by row (an encoder sees
    sequences, not user ids), so one user's other cutoffs may sit on both sides; it
    only chooses the stopping epoch, and the grouped CV outside grades the result.
    """
    y = y.astype(np.float32)
    rows = np.arange(len(seqs))
    cap = 4 * int(plan.max_train_users)
    if len(rows) > cap:
        rows = np.sort(rng.choice(rows, size=cap, replace=False))
    val = np.zeros(len(rows), dtype=bool)
    for cls in (0, 1):
        members = np.flatnonzero(y[rows] == cls)
        n_val = int(round(0.15 * len(members)))
        val[rng.choice(members, size=n_val, replace=False)] = True
    if val.all() or not val.any() or len(np.unique(y[rows[val]])) < 2:
        logger.info("fine-tuning skipped: too few labelled rows for a validation split")
        return []
    tr, va = rows[~val], rows[val]
    model = plan.model
    opt = torch.optim.AdamW(model.parameters(), lr=plan.learning_rate * 0.5, weight_decay=0.01)
    lengths = np.fromiter((min(len(seqs[i]), plan.max_events) for i in tr), int, len(tr))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    best, best_state, history, waited = np.inf, None, [], 0
    for epoch in range(int(plan.finetune_epochs)):
        plan.report(
            f"encoder: fine-tune epoch {epoch + 1}/{plan.finetune_epochs}",
            epoch / plan.finetune_epochs,
        )
        start, losses = time.perf_counter(), []
        model.train()
        for idx in _length_batches(lengths, plan.batch_size, rng):
            batch = plan.batch([seqs[tr[i]] for i in idx])
            logit = model.churn_head(
                pool(model.hidden_states(batch), batch.attention_mask, plan.pooling)
            )
            loss = bce(logit[:, 0], torch.from_numpy(y[tr[idx]]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(float(loss.detach()))
        val_loss = churn_loss(plan, [seqs[i] for i in va], y[va])
        record = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "val_loss": val_loss,
            "seconds": time.perf_counter() - start,
        }
        history.append(record)
        logger.info("encoder fine-tune epoch %d: %s", epoch + 1, record)
        if val_loss < best - 1e-4:
            best, waited = val_loss, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if waited >= int(plan.finetune_patience):
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def churn_loss(plan: TrainingPlan, seqs: list[EventSequence], y: np.ndarray) -> float:
    """Mean log-loss of the churn head on ``seqs`` (evaluation mode, no gradients)."""
    model = plan.model
    model.eval()
    total, step = 0.0, int(plan.embed_batch_size)
    with torch.inference_mode():
        for i in range(0, len(seqs), step):
            logit = model.churn_head(plan.pooled(plan.batch(seqs[i : i + step])))[:, 0]
            target = torch.from_numpy(y[i : i + step])
            total += float(
                torch.nn.functional.binary_cross_entropy_with_logits(logit, target, reduction="sum")
            )
    return total / max(len(seqs), 1)


def _step_loss(
    plan: TrainingPlan, seqs: list[EventSequence], rng: np.random.Generator
) -> torch.Tensor:
    model = plan.model
    if plan.objective == "mlm":
        arrays, chosen, t_type, t_gap = mask_events(plan.pack(seqs), rng)
        batch = PaddedBatch.from_numpy(arrays)
        return mlm_loss(model, model.hidden_states(batch), chosen, t_type, t_gap)
    views = []
    for _ in range(2):  # two random sub-sequences of each user, each masked
        arrays, chosen, t_type, t_gap = mask_events(plan.pack(_crops(seqs, rng)), rng)
        batch = PaddedBatch.from_numpy(arrays)
        hidden = model.hidden_states(batch)
        z = model.projection(pool(hidden, batch.attention_mask, plan.pooling))
        views.append((mlm_loss(model, hidden, chosen, t_type, t_gap), z))
    return (views[0][0] + views[1][0]) / 2 + info_nce(views[0][1], views[1][1])


def _length_batches(lengths: np.ndarray, size: int, rng: np.random.Generator) -> Iterator:
    """Shuffled batches of indices; inside windows of 20 batches, similar lengths go together."""
    perm = rng.permutation(len(lengths))
    window = size * 20
    batches = []
    for w in range(0, len(perm), window):
        chunk = perm[w : w + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    for j in rng.permutation(len(batches)):
        yield batches[j]


def _crops(
    seqs: list[EventSequence], rng: np.random.Generator, min_frac: float = 0.5
) -> list[EventSequence]:
    """A random contiguous sub-sequence of each sequence, at least ``min_frac`` of it long."""
    out = []
    for s in seqs:
        n = len(s)
        k = int(rng.integers(max(1, int(np.ceil(min_frac * n))), n + 1)) if n else 0
        a = int(rng.integers(0, n - k + 1)) if n else 0
        out.append(s.slice(a, a + k))
    return out
