"""TextSequenceEncoder: embed event sequences rendered as text with a local pretrained model.

Each user's recent events become one line such as
``"view 3d ago; cart 2d ago; purchase 2d ago 45.00"`` (oldest first), which a local
Hugging Face model (e.g. all-MiniLM-L6-v2) encodes; the last hidden state is mean-pooled.
Nothing is trained and nothing is downloaded: ``fit`` only loads the folder.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from churn_core.errors import ConfigError
from churn_core.sequences import EventSequence, sequences_from_input

logger = logging.getLogger(__name__)
# Before torch loads its OpenMP runtime; see churn_core.encoder.nn for the measurement.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
POOLINGS = ("mean", "cls")


def _ago(days: float) -> str:
    if days < 1.0:
        return f"{max(int(round(days * 24)), 0)}h ago"
    return f"{int(round(days))}d ago"


def render(seq: EventSequence, max_events: int = 32) -> str:
    """The most recent ``max_events`` events as text, oldest first, ``"; "``-separated.

    An event that merges several rows (an order's lines) says how many: ``purchase x3``.
    """
    s = seq.tail(max_events)
    counts = s.counts()
    parts = []
    for i in range(len(s)):
        words = [str(s.event_type[i])] + ([f"x{counts[i]}"] if counts[i] > 1 else [])
        if s.category is not None and s.category[i] is not None:
            words.append(str(s.category[i]))
        words.append(_ago(float(s.age_days[i])))
        if s.amount[i] != 0:
            words.append(f"{float(s.amount[i]):.2f}")
        parts.append(" ".join(words))
    return "; ".join(parts) if parts else "no events"


class TextSequenceEncoder(TransformerMixin, BaseEstimator):
    """Mean-pooled embeddings of the sequences rendered as text, from a LOCAL model folder.

    ``path`` must hold a tokenizer and a model saved with ``save_pretrained``. Texts longer
    than the model allows are cut from the left, so the most recent events are kept.
    """

    def __init__(
        self,
        path: str,
        max_events: int = 32,
        batch_size: int = 32,
        pooling: str = "mean",
        n_threads: int | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> None:
        self.path = path
        self.max_events = max_events
        self.batch_size = batch_size
        self.pooling = pooling
        self.n_threads = n_threads
        self.progress = progress

    def fit(self, X: Any = None, y: Any = None) -> TextSequenceEncoder:
        """Load the tokenizer and model from ``path`` (no training)."""
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}.")
        folder = Path(str(self.path)).expanduser()
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"Text model folder {folder} not found or has no config.json. Point the "
                "encoder path at a local folder written by save_pretrained (e.g. "
                "all-MiniLM-L6-v2); nothing is downloaded."
            )
        from transformers import AutoModel, AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModel.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Could not load a text model from {folder}: {exc}") from exc
        tok.truncation_side = "left"
        self.tokenizer_ = tok
        self.model_ = model.eval()
        self.hidden_size_ = int(model.config.hidden_size)
        limit = getattr(model.config, "max_position_embeddings", 512) or 512
        self.max_length_ = int(min(tok.model_max_length or limit, limit, 512))
        self.n_features_in_ = 1
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Float32 ``(n, hidden_size)`` embeddings in the order of ``X``."""
        check_is_fitted(self, "model_")
        import torch

        texts = [render(s, int(self.max_events)) for s in sequences_from_input(X)]
        return self._encode(texts, torch)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``emb_0 .. emb_{h-1}``."""
        check_is_fitted(self, "model_")
        return np.asarray([f"emb_{i}" for i in range(self.hidden_size_)], dtype=object)

    def save(self, directory: str | Path) -> Path:
        """Record the parameters (the weights stay in the user's own model folder)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        params = {k: self.get_params()[k] for k in ("path", "max_events", "batch_size", "pooling")}
        (out / "text_encoder.json").write_text(json.dumps(params, indent=2))
        return out

    @classmethod
    def load(cls, directory: str | Path) -> TextSequenceEncoder:
        """Rebuild from :meth:`save` output; reloads the model from its local folder."""
        params = json.loads((Path(directory) / "text_encoder.json").read_text())
        return cls(**params).fit()

    def _encode(self, texts: Sequence[str], torch: Any) -> np.ndarray:
        out = np.zeros((len(texts), self.hidden_size_), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        before = torch.get_num_threads()
        if self.n_threads:
            torch.set_num_threads(int(self.n_threads))
        try:
            with torch.inference_mode():
                step = max(int(self.batch_size), 1)
                for i in range(0, len(order), step):
                    idx = order[i : i + step]
                    enc = self.tokenizer_(
                        [texts[j] for j in idx],
                        padding=True,
                        truncation=True,
                        max_length=self.max_length_,
                        return_tensors="pt",
                    )
                    hidden = self.model_(**enc).last_hidden_state
                    if self.pooling == "cls":
                        vec = hidden[:, 0]
                    else:
                        w = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                        vec = (hidden * w).sum(1) / w.sum(1).clamp(min=1.0)
                    out[idx] = vec.float().numpy()
                    if self.progress is not None:
                        self.progress("text encoder: embedding", min(1.0, (i + step) / len(order)))
        finally:
            if self.n_threads:
                torch.set_num_threads(before)
        return out
