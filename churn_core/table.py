"""Training and scoring tables: one row per (user, cutoff), features strictly before the cutoff."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churn_core.config import LabelSpec
from churn_core.engine.source import EventSource, as_source
from churn_core.engine.sql import cutoff_us
from churn_core.events import EventLog
from churn_core.labels import HelperCutoffs

SEQUENCE_COLUMN = "sequence"
Progress = Callable[[str, float], None]


@dataclass(frozen=True, eq=False)
class FeatureTable:
    """Rows of (user, cutoff): features ``X``, labels ``y`` (None when scoring).

    ``graded`` marks the rows labelled over the requested horizon; the others are helper
    rows from a shorter one (``labels.helper_cutoffs``), for fitting only. None: all graded.
    """

    X: pd.DataFrame
    y: np.ndarray | None
    user_id: np.ndarray
    cutoff: np.ndarray  # datetime64 per row
    graded: np.ndarray | None = None  # bool per row

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
        graded = None if self.graded is None else self.graded[rows]
        return FeatureTable(X, y, self.user_id[rows], self.cutoff[rows], graded)

    def graded_mask(self) -> np.ndarray:
        """True for the rows labelled over the requested horizon (see ``graded``)."""
        if self.graded is None:
            return np.ones(len(self.user_id), dtype=bool)
        return self.graded

    def graded_only(self) -> FeatureTable:
        """The rows labelled over the requested horizon: what is graded and calibrated."""
        if self.graded is None or self.graded.all():
            return self
        return self.take(np.flatnonzero(self.graded))

    def with_helpers(self, helpers: FeatureTable) -> FeatureTable:
        """These rows (graded) followed by ``helpers`` (fitting only), one table."""
        if len(helpers.user_id) == 0:
            return self
        cols = self.X.columns
        return FeatureTable(
            pd.concat([self.X, helpers.X[cols]], ignore_index=True),
            np.concatenate([self.target(), helpers.target()]),
            np.concatenate([self.user_id, helpers.user_id]),
            np.concatenate([self.cutoff, helpers.cutoff]),
            np.r_[self.graded_mask(), np.zeros(len(helpers.user_id), dtype=bool)],
        )


def features_at(
    log: EventLog | EventSource,
    cutoff: pd.Timestamp,
    users: pd.Index,
    event_types: tuple[str, ...],
    max_events: int | None = None,
    horizon_days: float = 90.0,
) -> pd.DataFrame:
    """Aggregates (and the event sequence when ``max_events`` is set) for ``users`` at ``cutoff``.

    Only events strictly before ``cutoff`` are read: the leak-free view.
    """
    source = as_source(log)  # the SQL reads only events before the cutoff
    users = pd.Index(users)
    uniq = users.unique()
    pop = pd.DataFrame({"user_id": uniq.to_numpy(), "cutoff_us": cutoff_us(cutoff)})
    X = source.features(pop, event_types, horizon_days)
    if max_events:
        rank = np.zeros(len(uniq), dtype=int)
        X[SEQUENCE_COLUMN] = source.sequences(uniq.to_numpy(), rank, [cutoff], max_events)
    if len(uniq) != len(users):
        X = X.iloc[uniq.get_indexer(users)]
    return X.reset_index(drop=True)


def training_table(
    log: EventLog | EventSource,
    spec: LabelSpec,
    cutoffs: list[pd.Timestamp],
    event_types: tuple[str, ...],
    max_events: int | None = None,
    progress: Progress | None = None,
    helpers: HelperCutoffs | None = None,
) -> FeatureTable:
    """Stack labelled rows from every cutoff (in the order given, newest first by default).

    Labels and features for all cutoffs come from one query each (``engine.sql``).
    ``helpers`` (``labels.helper_cutoffs``) appends rows labelled over its shorter horizon,
    marked not ``graded``.
    """
    source = as_source(log)
    table = source.training_table(spec, cutoffs, event_types, max_events, progress)
    if helpers is None or len(table.user_id) == 0:
        return table
    extra = source.training_table(helpers.spec, helpers.cutoffs, event_types, max_events)
    return table.with_helpers(extra)


def scoring_table(
    log: EventLog | EventSource,
    as_of: pd.Timestamp,
    event_types: tuple[str, ...],
    max_events: int | None = None,
    horizon_days: float = 90.0,
) -> FeatureTable:
    """Every user with at least one event before ``as_of``, features as of ``as_of``."""
    return as_source(log).scoring_table(as_of, event_types, max_events, horizon_days)
