"""The campaign's action table: which action each listed user gets, from editable rules.

The first matching rule (table order) wins; see :class:`~churn_core.config.ActionRule`.
Rules match the risk-raising factors behind a user's reasons (``reasons.reason_factors``)
and/or their value-at-risk percentile among the listed users.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

import numpy as np
import pandas as pd

from churn_core.config import ActionRule
from churn_core.errors import EventDataError

RULE_COLUMNS = ("action", "factors", "min_value_percentile")


def rules_frame(rules: Sequence[ActionRule]) -> pd.DataFrame:
    """The action table as an editable frame (``factors`` space-separated)."""
    return pd.DataFrame(
        [
            {
                "action": r.action,
                "factors": " ".join(r.factors),
                "min_value_percentile": r.min_value_percentile,
            }
            for r in rules
        ],
        columns=list(RULE_COLUMNS),
    )


def rules_from_frame(frame: pd.DataFrame) -> tuple[ActionRule, ...]:
    """Rules back from an edited frame; a bad row raises ``EventDataError`` naming it."""
    missing = [c for c in ("action",) if c not in frame]
    if missing:
        raise EventDataError(["The action table needs an 'action' column."])
    out, problems = [], []
    for i, row in enumerate(frame.to_dict("records"), start=1):
        if not str(row.get("action") or "").strip():
            if not str(row.get("factors") or "").strip():
                continue  # an empty row (e.g. just added in the editor)
            problems.append(f"Action table row {i}: name the action.")
            continue
        pct = row.get("min_value_percentile")
        try:
            pct = None if pct is None or pd.isna(pct) else float(pct)
            out.append(
                ActionRule(
                    str(row["action"]).strip(), tuple(str(row.get("factors") or "").split()), pct
                )
            )
        except (TypeError, ValueError) as err:
            problems.append(f"Action table row {i}: {err} Fix the value in that row.")
    if problems:
        raise EventDataError(problems)
    return tuple(out)


def assign_actions(
    factors: pd.DataFrame,
    value_percentile: np.ndarray,
    rules: Sequence[ActionRule],
    default: str,
    known: Sequence[str] = (),
) -> np.ndarray:
    """One action per row of ``factors`` (``factor_1..k``: risk-raising factors, ``""``
    for none): the first rule that matches, else ``default``. ``known``: the factor names
    that wildcards in the rules expand to (default: those present in ``factors``)."""
    n = len(factors)
    out = np.full(n, default, dtype=object)
    done = np.zeros(n, dtype=bool)
    f = factors.to_numpy(dtype=object) if n else np.zeros((0, 0), dtype=object)
    names = set(known) | {x for x in f.ravel().tolist() if x}
    pct = np.asarray(value_percentile, dtype=np.float64)
    for rule in rules:
        hit = ~done
        if rule.factors:
            wanted = {x for pat in rule.factors for x in fnmatch.filter(names, pat)}
            hit &= np.isin(f, list(wanted)).any(axis=1) if f.size else False
        if rule.min_value_percentile is not None:
            with np.errstate(invalid="ignore"):
                hit &= pct >= rule.min_value_percentile
        out[hit] = rule.action
        done |= hit
    return out
