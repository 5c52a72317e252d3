"""Per-user event sequences before a cutoff: the input of the behaviour encoders.

Pure numpy/pandas (no torch, no transformers): the feature builder imports this module.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("user_id", "timestamp", "event_type")
_DAY = np.timedelta64(1, "D")
NO_PREVIOUS_GAP = -1.0  # gap_days of a user's very first event (no previous event exists)


@dataclass(frozen=True, eq=False)
class EventSequence:
    """One user's most recent events before one cutoff, oldest first.

    One event is one (timestamp, event type) of the user: rows of the raw log that share
    both (the lines of one order, a day's views in a log with day-resolution dates) are
    merged, their ``amount`` summed and their number kept in ``count``. ``age_days`` is
    ``cutoff - timestamp`` in days (always > 0). ``gap_days`` is the time since the
    user's previous event, measured on the full history before truncation to
    ``max_events``; a user's very first event has ``gap_days == -1``. ``amount`` is 0
    where unknown. ``category`` (the first merged row's) is ``None`` when the log has no
    category column; inside an array, a missing category is ``None``. ``count`` ``None``
    means one row per event. Compared and hashed by identity (``eq=False``), so pandas
    can hold, hash and copy the cells.
    """

    event_type: np.ndarray
    age_days: np.ndarray
    gap_days: np.ndarray
    amount: np.ndarray
    category: np.ndarray | None = None
    count: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.event_type)

    def tail(self, n: int) -> EventSequence:
        """The ``n`` most recent events (all of them when there are fewer)."""
        return self.slice(max(len(self) - n, 0), len(self))

    def slice(self, start: int, stop: int) -> EventSequence:
        """Events ``start:stop`` (positions in oldest-first order)."""
        return self.select(slice(start, stop))

    def select(self, which: builtins.slice | np.ndarray) -> EventSequence:
        """The events at ``which`` (a slice, a boolean mask or positions), every field kept."""
        return EventSequence(
            self.event_type[which],
            self.age_days[which],
            self.gap_days[which],
            self.amount[which],
            None if self.category is None else self.category[which],
            None if self.count is None else self.count[which],
        )

    def counts(self) -> np.ndarray:
        """Raw rows merged into each event (ones when ``count`` is ``None``)."""
        return np.ones(len(self), np.int32) if self.count is None else self.count

    @staticmethod
    def empty(with_category: bool = False) -> EventSequence:
        """A sequence with no events."""
        f = np.zeros(0, dtype=np.float32)
        cat = np.zeros(0, dtype=object) if with_category else None
        return EventSequence(np.zeros(0, dtype=object), f, f, f, cat)


def build_sequences(
    events: pd.DataFrame,
    cutoff: pd.Timestamp,
    users: pd.Index,
    max_events: int = 128,
    with_category: bool | None = None,
) -> pd.Series:
    """One :class:`EventSequence` per user: their last ``max_events`` events before ``cutoff``.

    ``events`` is the canonical frame (``user_id``, ``timestamp``, ``event_type``, optional
    ``amount`` and ``category``). Events at or after ``cutoff`` are never used, whatever the
    caller passed. Users without events get an empty sequence. The result is indexed by
    ``users`` in the same order. Vectorised: one sort, no per-event Python loop.
    ``with_category`` (default: whether ``events`` has any category) says whether the
    sequences carry categories, for callers passing only a slice of the log.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(
            f"build_sequences needs the canonical event columns; missing: {', '.join(missing)}. "
            "Pass EventLog.frame (validated events)."
        )
    if int(max_events) < 1:
        raise ValueError(f"max_events must be at least 1, got {max_events}.")
    users = pd.Index(users)
    cutoff64 = np.datetime64(pd.Timestamp(cutoff), "ns")
    if with_category is None:
        with_category = "category" in events.columns and bool(events["category"].notna().any())
    with_category = with_category and "category" in events.columns

    uniq = users.unique() if users.has_duplicates else users
    ts = events["timestamp"].to_numpy(dtype="datetime64[ns]")
    pos = _positions(events["user_id"], uniq)
    idx = np.flatnonzero((pos >= 0) & (ts < cutoff64))  # never look at or after the cutoff
    types = pd.factorize(events["event_type"], sort=True)  # ties at one time: by type name
    type_code = types[0]
    order = idx[_event_order(pos[idx], ts[idx], type_code[idx])]
    if "amount" in events.columns:
        amount = events["amount"].to_numpy(dtype=np.float64, na_value=0.0)[order]
        amount = np.where(np.isfinite(amount), amount, 0.0)
    else:
        amount = np.zeros(len(order))
    # One event per (user, timestamp, type): merge an order's lines, summing amounts.
    pos_s, ts_s, type_s = pos[order], ts[order], type_code[order]
    first = np.r_[True, (pos_s[1:] != pos_s[:-1]) | (ts_s[1:] != ts_s[:-1])]
    first[1:] |= type_s[1:] != type_s[:-1]
    heads = np.flatnonzero(first)
    count = np.diff(np.r_[heads, len(order)]).astype(np.int32)
    amount = np.add.reduceat(amount, heads) if len(heads) else amount
    order, pos_s, ts_s = order[heads], pos_s[heads], ts_s[heads]

    # Gap to the previous event over the full history, then keep the last max_events.
    gap = np.empty(len(order), dtype=np.float64)
    if len(order):
        gap[1:] = (ts_s[1:] - ts_s[:-1]) / _DAY
        gap[np.r_[True, pos_s[1:] != pos_s[:-1]]] = NO_PREVIOUS_GAP
    # == groupby(pos).cumcount(ascending=False) in plain numpy: rows are grouped by pos.
    ends = np.cumsum(np.bincount(pos_s, minlength=len(uniq)))
    last = (ends[pos_s] - 1 - np.arange(len(pos_s))) < int(max_events)
    order, pos_s, ts_s, gap = order[last], pos_s[last], ts_s[last], gap[last]
    amount, count = amount[last].astype(np.float32), count[last]

    etype = _take_labels(events["event_type"], order, types)
    age = ((cutoff64 - ts_s) / _DAY).astype(np.float32)
    category = _take_labels(events["category"], order) if with_category else None

    # Split at user boundaries (like np.split, without its per-piece overhead).
    ends = np.cumsum(np.bincount(pos_s, minlength=len(uniq)))
    starts = np.r_[0, ends[:-1]]
    gap32 = gap.astype(np.float32)
    cells = [
        EventSequence(
            etype[a:b],
            age[a:b],
            gap32[a:b],
            amount[a:b],
            None if category is None else category[a:b],
            count[a:b],
        )
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    ]
    out = pd.Series(cells, index=uniq, dtype=object, name="sequence")
    if users.has_duplicates:
        out = out.reindex(users)
    return out


def _positions(user_col: pd.Series, uniq: pd.Index) -> np.ndarray:
    """Position of each event's user in ``uniq`` (-1 when absent), via one factorize."""
    codes, labels = pd.factorize(user_col)
    upos = pd.Index(uniq.astype(str)).get_indexer(pd.Index(labels).astype(str))
    return np.where(codes >= 0, upos[codes], -1)


def _event_order(pos: np.ndarray, ts: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Stable order by user, then time, then event type (so merged rows are adjacent).

    Logs usually arrive time-sorted per user; then only the runs of rows sharing a user
    and a timestamp with mixed types are re-sorted, instead of a three-key lexsort.
    """
    order = np.argsort(pos, kind="stable")
    p, t = pos[order], ts[order].view("i8")
    if not np.all((p[1:] != p[:-1]) | (t[1:] >= t[:-1])):  # not time-sorted per user
        return np.lexsort((code, ts, pos))
    c = code[order]
    new_run = np.r_[True, (p[1:] != p[:-1]) | (t[1:] != t[:-1])]
    run = np.cumsum(new_run) - 1
    mixed = np.zeros(int(run[-1]) + 1 if len(run) else 0, dtype=bool)
    mixed[run[1:][~new_run[1:] & (c[1:] != c[:-1])]] = True
    rows = np.flatnonzero(mixed[run])
    if len(rows):  # rows of one run are contiguous: sort them by type in place
        order[rows] = order[rows[np.lexsort((c[rows], run[rows]))]]
    return order


def _take_labels(
    col: pd.Series,
    order: np.ndarray,
    factorized: tuple[np.ndarray, pd.Index | np.ndarray] | None = None,
) -> np.ndarray:
    """``col`` values at ``order`` as an object array (missing -> None), built from the
    factorized labels so no new string objects are made per event (pass ``factorized``
    when the caller already has ``pd.factorize(col)``)."""
    codes, labels = factorized if factorized is not None else pd.factorize(col)
    table = np.empty(len(labels) + 1, dtype=object)
    table[:-1] = pd.Index(labels).astype(str).to_numpy(dtype=object)
    table[-1] = None  # type: ignore[assignment]  # an object array holds None
    return table[codes[order]]


def sequences_from_input(X: object) -> list[EventSequence]:
    """The list of sequences in ``X``: a DataFrame (``"sequence"`` column or one column),
    a Series, a list, or a 1-column 2-D object array."""
    if isinstance(X, pd.DataFrame):
        if "sequence" in X.columns:
            col = X["sequence"]
        elif X.shape[1] == 1:
            col = X.iloc[:, 0]
        else:
            raise ValueError(
                "Expected a 'sequence' column of EventSequence cells; got columns "
                f"{', '.join(map(str, X.columns[:10]))}."
            )
        values = col.to_numpy(dtype=object)
    elif isinstance(X, pd.Series):
        values = X.to_numpy(dtype=object)
    else:
        values = np.asarray(X, dtype=object)
        if values.ndim == 2:
            if values.shape[1] != 1:
                raise ValueError(
                    f"Expected one column of EventSequence cells, got {values.shape[1]} columns."
                )
            values = values[:, 0]
        elif values.ndim != 1:
            raise ValueError(f"Expected a 1-D list of EventSequence cells, got {values.ndim}-D.")
    seqs = list(values)
    bad = [i for i, s in enumerate(seqs) if not isinstance(s, EventSequence)]
    if bad:
        raise ValueError(
            f"{len(bad)} cell(s) of the 'sequence' column are not EventSequence objects "
            f"(first at row {bad[0]}: {type(seqs[bad[0]]).__name__}). "
            "Build them with churn_core.sequences.build_sequences."
        )
    return seqs
