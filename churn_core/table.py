"""Training and scoring tables: one row per (user, cutoff), features strictly before the cutoff."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churn_core.config import LabelSpec
from churn_core.events import EventLog
from churn_core.features import aggregate_features
from churn_core.labels import build_labels, eligible_users

SEQUENCE_COLUMN = "sequence"
Progress = Callable[[str, float], None]


@dataclass(frozen=True, eq=False)
class FeatureTable:
    """Rows of (user, cutoff): features ``X``, labels ``y`` (None when scoring)."""

    X: pd.DataFrame
    y: np.ndarray | None
    user_id: np.ndarray
    cutoff: np.ndarray  # datetime64 per row

    def target(self) -> np.ndarray:
        """The labels ``y`` of a training table (a scoring table has none: ValueError)."""
        if self.y is None:
            raise ValueError("This feature table has no labels (it was built for scoring).")
        return self.y

    @property
    def feature_names(self) -> list[str]:
        return [c for c in self.X.columns if c != SEQUENCE_COLUMN]

    def sample_users(self, max_rows: int, seed: int = 0) -> FeatureTable:
        """At most about ``max_rows`` rows, keeping or dropping whole users (for CV on big logs)."""
        if len(self.user_id) <= max_rows:
            return self
        codes, users = pd.factorize(self.user_id)  # hash-based: np.isin on strings is slow
        rng = np.random.default_rng(seed)
        n_keep = int(len(users) * max_rows / len(self.user_id))
        keep = np.zeros(len(users), dtype=bool)
        keep[rng.choice(len(users), size=n_keep, replace=False)] = True
        return self.take(np.flatnonzero(keep[codes]))

    def take(self, rows: np.ndarray) -> FeatureTable:
        y = None if self.y is None else self.y[rows]
        X = self.X.iloc[rows].reset_index(drop=True)
        return FeatureTable(X, y, self.user_id[rows], self.cutoff[rows])


def features_at(
    log: EventLog,
    cutoff: pd.Timestamp,
    users: pd.Index,
    event_types: tuple[str, ...],
    max_events: int | None = None,
    horizon_days: float = 90.0,
) -> pd.DataFrame:
    """Aggregates (and the event sequence when ``max_events`` is set) for ``users`` at ``cutoff``.

    Only events strictly before ``cutoff`` are read: the leak-free view.
    """
    hist = log.before(cutoff).frame
    X = aggregate_features(hist, cutoff, users, event_types, log.start, horizon_days)
    if max_events:
        from churn_core.sequences import build_sequences

        X[SEQUENCE_COLUMN] = build_sequences(hist, cutoff, users, max_events).to_numpy()
    return X.reset_index(drop=True)


def training_table(
    log: EventLog,
    spec: LabelSpec,
    cutoffs: list[pd.Timestamp],
    event_types: tuple[str, ...],
    max_events: int | None = None,
    progress: Progress | None = None,
) -> FeatureTable:
    """Stack labelled rows from every cutoff (newest first)."""
    parts, ys, users, cuts = [], [], [], []
    for i, t in enumerate(cutoffs):
        y = build_labels(log, spec, t)
        if len(y) == 0:
            continue
        parts.append(features_at(log, t, y.index, event_types, max_events, spec.horizon_days))
        ys.append(y.to_numpy())
        users.append(y.index.to_numpy())
        cuts.append(np.full(len(y), np.datetime64(t)))
        if progress:
            progress(f"features at cutoff {t:%Y-%m-%d}", (i + 1) / len(cutoffs))
    if not parts:
        return FeatureTable(pd.DataFrame(), np.array([], dtype=np.int8), np.array([]), np.array([]))
    return FeatureTable(
        pd.concat(parts, ignore_index=True),
        np.concatenate(ys),
        np.concatenate(users),
        np.concatenate(cuts),
    )


def scoring_table(
    log: EventLog,
    as_of: pd.Timestamp,
    event_types: tuple[str, ...],
    max_events: int | None = None,
    horizon_days: float = 90.0,
) -> FeatureTable:
    """Every user with at least one event before ``as_of``, features as of ``as_of``."""
    users = eligible_users(log, LabelSpec(), as_of)
    X = features_at(log, as_of, users, event_types, max_events, horizon_days)
    return FeatureTable(X, None, users.to_numpy(), np.full(len(users), np.datetime64(as_of)))
