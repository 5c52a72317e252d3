"""Churn labels from the log itself: cutoffs, eligible population, no activity in the window."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from churn_core.config import LabelSpec
from churn_core.engine.source import EventSource, as_source
from churn_core.events import CANCEL_EVENTS, EventLog


def activity_mask(frame: pd.DataFrame, spec: LabelSpec) -> np.ndarray:
    """Which events count as activity for the label (default: all but cancellations)."""
    types = frame["event_type"]
    if spec.activity_events is None:
        return ~types.isin(CANCEL_EVENTS).to_numpy()
    return types.isin(spec.activity_events).to_numpy()


def training_cutoffs(
    log: EventLog | EventSource, spec: LabelSpec, as_of: pd.Timestamp
) -> list[pd.Timestamp]:
    """Cutoffs ``T_k = as_of - gap - H - k*step`` whose label window is complete by ``as_of``.

    Newest first. A cutoff is kept only if some events lie before it (otherwise nobody is
    eligible); the list may be empty when the log is too short for the horizon.
    """
    as_of = pd.Timestamp(as_of)
    first = log.start
    out = []
    for k in range(spec.n_cutoffs):
        t = as_of - pd.Timedelta(days=spec.gap_days + spec.horizon_days + k * spec.step)
        if t > first:
            out.append(t.floor("s"))
    return out


SHORT_HISTORY = 0.25  # newest training cutoff under this share of the forecast's history: short


@dataclass(frozen=True)
class HelperCutoffs:
    """Extra training cutoffs labelled over a shorter window, for fitting only.

    Their rows teach the model how users seen for a while behave when the requested
    horizon leaves its own cutoffs a small share of the log's history, or few of the repeat
    customers the forecast scores. They are never graded: cross-validation, calibration,
    the backtest and the baseline see the requested horizon. ``repeat_shares`` (the newest
    training cutoff's share of repeat customers, and the forecast's) is set when those
    decided it, None when the history share did.
    """

    spec: LabelSpec
    cutoffs: list[pd.Timestamp]
    repeat_shares: tuple[float, float] | None = None


def helper_cutoffs(
    log: EventLog | EventSource, spec: LabelSpec, as_of: pd.Timestamp, cutoffs: list[pd.Timestamp]
) -> HelperCutoffs | None:
    """Half-span cutoffs when the horizon leaves the newest training cutoff short of history.

    Short: the newest of ``cutoffs`` sees under ``SHORT_HISTORY`` of the history before
    ``as_of`` (a 60-day horizon on a log of 63 days), or its users hold under
    ``SHORT_HISTORY`` of the forecast's share of repeat customers (active on two days or
    more: a shop whose customers reorder monthly, 14 days into its log). The users labelled
    there had too little time to show their rhythm, and what separates churners among them
    does not carry to users seen for months (docs/quality.md: it inverted the ranking on a
    shop that reorders at regular gaps). The helper horizon is half the history, so its
    newest cutoff sees half of it; None when the history is not short or the half-span
    would not be shorter than the horizon.
    """
    if not cutoffs:
        return None
    as_of, start = pd.Timestamp(as_of), pd.Timestamp(log.start)
    span = (as_of - start) / pd.Timedelta(days=1)
    newest = (max(cutoffs) - start) / pd.Timedelta(days=1)
    horizon = max(7, int((span - spec.gap_days) // 2))
    if span <= 0 or horizon >= spec.horizon_days:
        return None
    shares = None
    if newest >= SHORT_HISTORY * span:  # history enough: are the repeat customers there?
        trained, scored = as_source(log).repeat_shares(spec, [max(cutoffs), as_of])
        if trained >= SHORT_HISTORY * scored:
            return None
        shares = (trained, scored)
    helper = replace(spec, horizon_days=horizon, step_days=None)
    found = training_cutoffs(log, helper, as_of)
    return HelperCutoffs(helper, found, shares) if found else None


def eligible_users(log: EventLog | EventSource, spec: LabelSpec, cutoff: pd.Timestamp) -> pd.Index:
    """Users active before ``cutoff`` (and, optionally, within the last L days), sorted.

    "Active" uses the same event types as the label, so a user whose only event is a
    cancellation is not in the population. Runs the shared SQL (``engine.sql``).
    """
    return as_source(log).eligible(spec, pd.Timestamp(cutoff))


def build_labels(log: EventLog | EventSource, spec: LabelSpec, cutoff: pd.Timestamp) -> pd.Series:
    """1 = churned: eligible at ``cutoff`` and no qualifying activity in the label window.

    The window is ``[cutoff + gap, cutoff + gap + horizon)``. The returned Series is
    indexed by the eligible users (sorted), named ``churned``.
    """
    lab = as_source(log).labels(spec, [pd.Timestamp(cutoff)])
    users = pd.Index(lab["user_id"].to_numpy(), name="user_id")
    return pd.Series(lab["churned"].to_numpy(np.int8), index=users, name="churned")


def label_summary(
    log: EventLog | EventSource, spec: LabelSpec, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Per training cutoff: window, eligible users, churned, churn rate (for previews)."""
    cutoffs = training_cutoffs(log, spec, as_of)
    if not cutoffs:
        return summarise_labels(spec, [], np.zeros(0, "datetime64[ns]"), np.zeros(0, np.int8))
    lab = as_source(log).labels(spec, cutoffs)
    row_cutoffs = lab["cutoff_us"].to_numpy(np.int64).astype("datetime64[us]")
    return summarise_labels(spec, cutoffs, row_cutoffs, lab["churned"].to_numpy(np.int8))


def summarise_labels(
    spec: LabelSpec, cutoffs: list[pd.Timestamp], row_cutoffs: np.ndarray, y: np.ndarray
) -> pd.DataFrame:
    """``label_summary`` from labels already built: one row per cutoff in ``cutoffs``
    (those without eligible users included), counted from the per-row cutoffs and labels."""
    counts = pd.Series(np.asarray(y), index=pd.DatetimeIndex(row_cutoffs)).groupby(level=0)
    n, churned = counts.size(), counts.sum()
    rows = []
    for t in cutoffs:
        start = t + pd.Timedelta(days=spec.gap_days)
        eligible = int(n.get(t, 0))
        rows.append(
            {
                "cutoff": t,
                "window_start": start,
                "window_end": start + pd.Timedelta(days=spec.horizon_days),
                "eligible": eligible,
                "churned": int(churned.get(t, 0)),
                "churn_rate": float(churned.get(t, 0)) / eligible if eligible else float("nan"),
            }
        )
    return pd.DataFrame(
        rows, columns=["cutoff", "window_start", "window_end", "eligible", "churned", "churn_rate"]
    )


MIN_POSITIVES = 2  # fewer churned (or retained) rows: training refuses (CV folds need 2)
THIN_ROWS = 200  # fewer labelled user-cutoff rows than this: metrics will be noisy
THIN_CLASS = 50  # fewer churned (or retained) rows than this: metrics will be noisy


def thin_data_warning(labels: pd.DataFrame) -> str | None:
    """The warning to show when a churn definition leaves too few labelled rows, else None.

    ``labels`` is :func:`label_summary`'s table. Thin: fewer than ``THIN_ROWS`` labelled
    user-cutoff rows, or fewer than ``max(MIN_POSITIVES, THIN_CLASS)`` churned or stayed
    (``MIN_POSITIVES`` is where training refuses). An empty table (no cutoff fits) is not
    thin but impossible: the caller says so, and training raises ``EventDataError``.
    """
    if labels.empty:
        return None
    pos, rows = int(labels["churned"].sum()), int(labels["eligible"].sum())
    if min(pos, rows - pos) >= max(MIN_POSITIVES, THIN_CLASS) and rows >= THIN_ROWS:
        return None
    return (
        f"The data are thin for this definition ({pos} churned, {rows - pos} stayed): "
        "metrics will be noisy or training will refuse. Try a shorter horizon or more cutoffs."
    )
