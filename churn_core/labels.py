"""Churn labels from the log itself: cutoffs, eligible population, no activity in the window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn_core.config import LabelSpec
from churn_core.events import CANCEL_EVENTS, EventLog


def activity_mask(frame: pd.DataFrame, spec: LabelSpec) -> np.ndarray:
    """Which events count as activity for the label (default: all but cancellations)."""
    types = frame["event_type"]
    if spec.activity_events is None:
        return ~types.isin(CANCEL_EVENTS).to_numpy()
    return types.isin(spec.activity_events).to_numpy()


def training_cutoffs(log: EventLog, spec: LabelSpec, as_of: pd.Timestamp) -> list[pd.Timestamp]:
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


def eligible_users(log: EventLog, spec: LabelSpec, cutoff: pd.Timestamp) -> pd.Index:
    """Users active before ``cutoff`` (and, optionally, within the last L days).

    "Active" uses the same event types as the label, so a user whose only event is a
    cancellation is not in the population.
    """
    frame = log.frame
    hist = frame.loc[(frame["timestamp"] < cutoff).to_numpy() & activity_mask(frame, spec)]
    if spec.active_within_days is not None:
        hist = hist.loc[hist["timestamp"] >= cutoff - pd.Timedelta(days=spec.active_within_days)]
    return pd.Index(np.sort(hist["user_id"].unique()), name="user_id")


def build_labels(log: EventLog, spec: LabelSpec, cutoff: pd.Timestamp) -> pd.Series:
    """1 = churned: eligible at ``cutoff`` and no qualifying activity in the label window.

    The window is ``[cutoff + gap, cutoff + gap + horizon)``. The returned Series is
    indexed by the eligible users, named ``churned``.
    """
    cutoff = pd.Timestamp(cutoff)
    users = eligible_users(log, spec, cutoff)
    start = cutoff + pd.Timedelta(days=spec.gap_days)
    end = start + pd.Timedelta(days=spec.horizon_days)
    frame = log.frame
    ts = frame["timestamp"]
    in_window = ((ts >= start) & (ts < end)).to_numpy() & activity_mask(frame, spec)
    active = pd.Index(frame.loc[in_window, "user_id"].unique())
    churned = ~users.isin(active)
    return pd.Series(churned.astype(np.int8), index=users, name="churned")


def label_summary(log: EventLog, spec: LabelSpec, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per training cutoff: window, eligible users, churned, churn rate (for previews)."""
    cutoffs = training_cutoffs(log, spec, as_of)
    ys = [build_labels(log, spec, t) for t in cutoffs]
    row_cutoffs = np.concatenate(
        [np.full(len(y), np.datetime64(t)) for y, t in zip(ys, cutoffs, strict=True)]
        or [np.zeros(0, "datetime64[ns]")]
    )
    y = np.concatenate([y.to_numpy() for y in ys] or [np.zeros(0, np.int8)])
    return summarise_labels(spec, cutoffs, row_cutoffs, y)


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


MIN_POSITIVES = 5  # fewer churned (or retained) rows than this: training refuses
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
