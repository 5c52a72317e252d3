"""The validated event log: one canonical frame that every later step reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churn_core.engine.source import EventSource

CANONICAL_COLUMNS = ("user_id", "timestamp", "event_type", "amount", "item_id", "category")
PURCHASE = "purchase"
CANCEL_EVENTS = frozenset({"cancel", "cancellation", "return", "refund", "remove_from_cart"})


@dataclass(frozen=True)
class ValidationReport:
    """What validation did: rows read/kept, rows dropped by reason, warnings, mapping."""

    rows_read: int
    rows_kept: int
    dropped: tuple[tuple[str, int], ...] = ()  # (reason, count)
    warnings: tuple[str, ...] = ()
    mapping: tuple[tuple[str, str], ...] = ()  # (canonical column, where it came from)
    layout: str = "canonical"
    detection: tuple[str, ...] = ()  # how each column was found and how sure that is
    personal_columns: tuple[tuple[str, str], ...] = ()  # (column, what it looks like), dropped

    @property
    def rows_dropped(self) -> int:
        return sum(n for _, n in self.dropped)

    def lines(self) -> list[str]:
        """Plain-language summary, one fact per line."""
        out = [f"Read {self.rows_read:,} rows ({self.layout} layout); kept {self.rows_kept:,}."]
        out += list(self.detection)
        out += [f"Dropped {n:,} rows: {reason}" for reason, n in self.dropped]
        out += [
            f"Dropped column {col}: it looks like personal data ({kind}) and is not stored. "
            "Map it on purpose (e.g. --user-col) if you need it."
            for col, kind in self.personal_columns
        ]
        out += list(self.warnings)
        return out


@dataclass(frozen=True, eq=False)
class EventLog:
    """A validated event log.

    ``frame`` has the canonical columns: ``user_id`` (str), ``timestamp`` (datetime64,
    tz-naive), ``event_type`` (str; ``"purchase"`` for order-line logs), ``amount``
    (float, 0 where unknown), ``item_id`` and ``category`` (str, may be missing). Rows
    are sorted by ``user_id`` then ``timestamp``. Treat it as read-only.
    """

    frame: pd.DataFrame
    report: ValidationReport
    has_amount: bool = False

    @property
    def n_events(self) -> int:
        return len(self.frame)

    @property
    def n_users(self) -> int:
        return int(self.frame["user_id"].nunique())

    @property
    def start(self) -> pd.Timestamp:
        return self.frame["timestamp"].min()

    @property
    def end(self) -> pd.Timestamp:
        return self.frame["timestamp"].max()

    @property
    def event_types(self) -> list[str]:
        return sorted(self.frame["event_type"].unique().tolist())

    @property
    def has_items(self) -> bool:
        return "item_id" in self.frame and self.frame["item_id"].notna().any()

    @property
    def has_categories(self) -> bool:
        return "category" in self.frame and self.frame["category"].notna().any()

    def default_as_of(self) -> pd.Timestamp:
        """Just after the last event: the start of the next calendar day."""
        return self.end.floor("D") + pd.Timedelta(days=1)

    def before(self, t: pd.Timestamp) -> EventLog:
        """Only the events strictly before ``t`` (the leak-free view at cutoff ``t``)."""
        keep = self.frame["timestamp"].to_numpy() < np.datetime64(pd.Timestamp(t))
        return EventLog(self.frame.loc[keep], self.report, self.has_amount)

    def source(self) -> EventSource:
        """This log as an event source: DuckDB scanning the frame in place (made once)."""
        from churn_core.engine.source import log_source

        return log_source(self)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, layout: str = "canonical") -> EventLog:
        """Wrap an already-canonical frame (tests, generators); raw data: ``validate_events``."""
        df = frame.copy()
        df["user_id"] = df["user_id"].astype(str)
        df["timestamp"] = pd.to_datetime(df["timestamp"])
        if "event_type" not in df:
            df["event_type"] = PURCHASE
        df["event_type"] = df["event_type"].astype(str)
        has_amount = "amount" in df
        df["amount"] = df["amount"].astype(float).fillna(0.0) if has_amount else 0.0
        df = df.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
        report = ValidationReport(rows_read=len(frame), rows_kept=len(df), layout=layout)
        return cls(df, report, has_amount)
