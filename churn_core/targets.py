"""From probabilities to a retention target list: tiers, percentiles, value at risk, policies."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churn_core.config import TargetingConfig
from churn_core.export import export_bytes, to_xlsx_bytes

TIERS = ("low", "medium", "high")


def risk_tier(prob: np.ndarray, cuts: tuple[float, float]) -> np.ndarray:
    """``low`` below cuts[0], ``high`` at or above cuts[1], ``medium`` between."""
    idx = np.searchsorted(np.asarray(cuts), np.asarray(prob), side="right")
    return np.asarray(TIERS, dtype=object)[idx]


def tier_cuts(prob: np.ndarray, targeting: TargetingConfig) -> tuple[float, float]:
    """The probability cut points of the tiers for these scores (see ``TargetingConfig``).

    Relative basis: medium from ``a`` × the average probability ``m``, high from ``b`` × ``m``
    but never above halfway from the medium cut to 1 — in a shop where 40 % churn, 2 × m
    would be 0.8 and leave ``high`` empty; halfway (0.7) keeps it for the clearest cases.
    """
    if targeting.tier_basis == "probability":
        return targeting.tier_cuts
    mean = float(np.mean(prob)) if len(prob) else 0.0
    a, b = targeting.relative_tier_cuts
    lo = a * mean
    return (lo, min(b * mean, (lo + 1.0) / 2))


def tier_legend(prob: np.ndarray, targeting: TargetingConfig) -> str:
    """One line saying where the tiers start, e.g. for a page caption or a report."""
    lo, hi = tier_cuts(prob, targeting)
    cuts = f"risk tiers: high ≥ {hi:.3f}, medium ≥ {lo:.3f}"
    if targeting.tier_basis == "probability":
        return f"{cuts} (fixed probability cuts)"
    a, b = targeting.relative_tier_cuts
    mean = float(np.mean(prob)) if len(prob) else 0.0
    high = f"{b:g}×" if hi == b * mean else f"halfway from medium to 1 (below {b:g}×)"
    return f"{cuts} ({high} and {a:g}× the average churn probability, {mean:.3f})"


def value_at_risk(prob: np.ndarray, daily_spend: np.ndarray, horizon_days: int) -> np.ndarray:
    """Expected spend lost in the horizon: P(churn) x the user's usual spend per day x H."""
    return np.asarray(prob) * np.asarray(daily_spend) * horizon_days


def score_frame(
    user_id: np.ndarray,
    prob: np.ndarray,
    features: pd.DataFrame,
    targeting: TargetingConfig,
    horizon_days: int,
    has_amount: bool,
) -> pd.DataFrame:
    """One row per user, riskiest first: ``user_id``, ``churn_probability``, tier, percentile…"""
    out = user_scores(user_id, prob, features, horizon_days, has_amount)
    prob = out["churn_probability"].to_numpy()
    out.insert(2, "risk_tier", risk_tier(prob, tier_cuts(prob, targeting)))
    out.insert(3, "percentile", pd.Series(prob).rank(pct=True, method="max").to_numpy() * 100)
    out = out.sort_values("churn_probability", ascending=False, kind="stable")
    return out.reset_index(drop=True)


def user_scores(
    user_id: np.ndarray,
    prob: np.ndarray,
    features: pd.DataFrame,
    horizon_days: int,
    has_amount: bool,
) -> pd.DataFrame:
    """The per-user columns of a score list that need no other user: ``user_id``,
    ``churn_probability``, ``days_since_last_event`` and (with amounts) ``value_at_risk``.
    Tiers and percentiles, which rank every user, are added by the caller."""
    prob = np.asarray(prob, dtype=float)
    out = pd.DataFrame({"user_id": np.asarray(user_id).astype(str), "churn_probability": prob})
    out["days_since_last_event"] = features["recency_days"].to_numpy()
    if has_amount:
        spend = features["monetary"].to_numpy()
        days = np.maximum(features["tenure_days"].to_numpy(), 30.0)
        out["value_at_risk"] = value_at_risk(prob, spend / days, horizon_days)
    return out


def flag(
    scores: pd.DataFrame,
    rule: str,
    *,
    threshold: float = 0.5,
    top_k: int = 100,
    budget: float | None = None,
    cost_per_user: float = 1.0,
) -> np.ndarray:
    """Boolean mask of flagged users under a policy; ``scores`` sorted riskiest first.

    rule: ``probability`` (p >= threshold), ``top_k`` (the k riskiest), or ``budget``
    (as many of the riskiest as ``budget / cost_per_user`` allows).
    """
    p = scores["churn_probability"].to_numpy()
    if rule == "probability" or rule == "max_f1":
        return p >= threshold
    if rule == "budget":
        top_k = int((budget or 0) // max(cost_per_user, 1e-9))
    mask = np.zeros(len(p), dtype=bool)
    mask[: max(0, min(top_k, len(p)))] = True
    return mask


def join_reasons(scores: pd.DataFrame, reasons: pd.DataFrame) -> pd.DataFrame:
    """``scores`` (with ``user_id``) plus the reason columns of ``reasons`` (indexed by user id),
    row order kept."""
    reasons = reasons.copy()
    reasons.index = reasons.index.astype(str)
    return scores.join(reasons, on="user_id")


def describe_user(row: pd.Series) -> str:
    """One user's headline from a scores row (markdown): probability, tier, last event."""
    return (
        f"**{row['user_id']}**: churn probability **{row['churn_probability']:.3f}** "
        f"({row['risk_tier']} risk), last event {row['days_since_last_event']:.0f} days ago."
    )


@dataclass(frozen=True, eq=False)
class TargetList:
    """The users to contact, with why, and the model/cutoff they came from."""

    users: pd.DataFrame
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def select(cls, scores: pd.DataFrame, mask: np.ndarray, metadata: dict[str, str]) -> TargetList:
        return cls(scores.loc[np.asarray(mask)].reset_index(drop=True), dict(metadata))

    def with_reasons(self, reasons: pd.DataFrame | None) -> TargetList:
        """The same users with ``reason_1..`` columns joined from an explanation's reasons.

        ``reasons`` is indexed by user id (``Explanation.reasons``); users it does not cover
        get empty reasons. Nothing changes when ``reasons`` is None or the users already
        carry reasons (e.g. scores written by ``churn score``).
        """
        if reasons is None or "reason_1" in self.users:
            return self
        return TargetList(join_reasons(self.users, reasons), dict(self.metadata))

    def headline(self) -> dict[str, float]:
        """Flagged users, expected churners and false alarms among them, value at risk."""
        p = self.users["churn_probability"].to_numpy()
        out = {
            "flagged": float(len(p)),
            "expected_churners": float(p.sum()),
            "expected_false_alarms": float((1 - p).sum()),
        }
        if "value_at_risk" in self.users:
            out["value_at_risk"] = float(self.users["value_at_risk"].sum())
        return out

    def with_metadata_columns(self) -> pd.DataFrame:
        """The users plus one column per metadata field (same value on every row)."""
        return self.users.assign(**{k: v for k, v in self.metadata.items()})

    def to_csv(self, raw: bool = False) -> bytes:
        """CSV bytes through the one export writer: ``# key: value`` metadata lines, then a
        header and one row per user; text cells formula-safe unless ``raw``."""
        return export_bytes(self.users, "csv", self.metadata, raw)

    def to_xlsx(self, raw: bool = False) -> bytes:
        """XLSX bytes: sheet ``targets`` and sheet ``about`` with the metadata (string cells,
        never formulas; formula-safe unless ``raw``)."""
        return to_xlsx_bytes(self.users, self.metadata, raw, sheet="targets")
