"""What a campaign list keeps of an explanation: reasons and factors, texts as categories.

A list of millions of users repeats a few hundred distinct reasons and factor names;
held as ``category`` columns they cost a byte or two per cell instead of a Python string,
and a long list can be explained in chunks and joined (``churn_core.engine.campaign``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from pandas.api.types import union_categoricals

from churn_core.reasons import N_REASONS, reason_factors


@dataclass(frozen=True, eq=False)
class ListReasons:
    """What a campaign list takes from an explanation: each user's reasons, the factors
    behind them (what the action rules match) and every factor the model has.

    Much smaller than the :class:`~churn_core.explain.Explanation` it comes from (no SHAP
    matrix, and texts as ``category`` columns: a long list repeats few distinct reasons and
    factor names), so a long list can be explained in chunks (``churn_core.engine.campaign``).
    Rows in any order (the list looks users up by id).
    """

    reasons: pd.DataFrame
    factors: pd.DataFrame
    known: tuple[str, ...]

    @classmethod
    def of(cls, explanation) -> ListReasons:
        """The parts of an ``Explanation`` the list needs."""
        return cls(
            _categories(explanation.reasons),
            _categories(reason_factors(explanation.values, N_REASONS)),
            tuple(str(c) for c in explanation.values.columns),
        )

    @classmethod
    def concat(cls, parts: Sequence[ListReasons]) -> ListReasons:
        """Chunks of one list, in order."""
        return cls(
            _concat_categories([p.reasons for p in parts]),
            _concat_categories([p.factors for p in parts]),
            parts[0].known if parts else (),
        )


def _categories(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as ``category``: its sorted distinct texts and ``""`` (the empty reason
    of users an explanation does not cover)."""
    out = {}
    for c in frame.columns:
        texts = pd.Index(frame[c].dropna().unique()).union([""])
        out[c] = pd.Categorical(frame[c], categories=texts)
    return pd.DataFrame(out, index=frame.index)


def _concat_categories(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat`` of frames of ``category`` columns that stays ``category`` (the union
    of the categories) instead of falling back to text when the categories differ."""
    index = frames[0].index.append([f.index for f in frames[1:]])
    cols = {
        c: union_categoricals([f[c] for f in frames], sort_categories=True)
        for c in frames[0].columns
    }
    return pd.DataFrame(cols, index=index)
