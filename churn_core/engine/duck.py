"""The DuckDB engine: one connection with bounded threads/memory, ``events`` from a frame.

DuckDB runs the shared SQL of :mod:`churn_core.engine.sql` in process, spilling to
``temp_directory`` when a query needs more than ``memory_limit``; tables it makes (the
validated events of a file, materialised intermediates) go to a database file of the
engine's own beside the spill folder, deleted with the engine.
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn_core.engine.sql import EVENTS

EVENT_COLUMNS = ("user_id", "ts_us", "event_type", "amount", "item_id", "category")


@dataclass(frozen=True)
class DuckSettings:
    """Connection settings: ``threads`` (None = DuckDB's default), ``memory_limit`` such
    as ``"2GB"`` (None = default), ``temp_directory`` under which
    each engine spills into a folder of its own (None = the system temp folder)."""

    threads: int | None = None
    memory_limit: str | None = None
    temp_directory: str | None = None


def canonical_events(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical ``events`` columns from an :class:`~churn_core.events.EventLog` frame.

    ``ts_us`` is the tz-naive timestamp as integer microseconds; missing ``item_id`` /
    ``category`` columns become NULL; other columns are passed through without copying
    where pandas allows.
    """
    ts = frame["timestamp"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    n = len(frame)
    data: dict[str, Any] = {
        "user_id": frame["user_id"],
        "ts_us": ts,
        "event_type": frame["event_type"],
        "amount": frame["amount"] if "amount" in frame else np.zeros(n),
    }
    for col in ("item_id", "category"):
        data[col] = frame[col] if col in frame else pd.Series(pd.NA, index=frame.index, dtype="str")
    out = pd.DataFrame(data)
    out.index = pd.RangeIndex(n)
    return out


def spill_folder(chosen: str | None = None) -> str:
    """A folder of one engine's own for DuckDB to spill into, under ``chosen`` (created if
    missing) or the system temp folder.

    DuckDB creates it when it first spills and deletes it when the connection closes, so
    each engine needs its own: a shared folder was deleted under a concurrent run's feet
    (an out-of-memory error at 50M events). DuckDB's own default, ``.tmp`` in the current
    directory, would put gigabytes in the analyst's project folder.
    """
    root = Path(chosen) if chosen else Path(tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    return str(root / f"churn-duckdb-{os.getpid()}-{uuid.uuid4().hex[:12]}")


def _discard(con: Any, database: Path) -> None:
    """Close ``con`` and delete its database file (the engine is gone or closed)."""
    try:
        con.close()
    finally:
        for path in (database, Path(str(database) + ".wal")):
            path.unlink(missing_ok=True)


class DuckEngine:
    """A DuckDB connection running the shared SQL; ``register_frame`` makes ``events``."""

    # events per aggregation query when scoring every user: at 50M events in one query the
    # per-user distinct counts (which do not spill) outgrew the default memory_limit
    part_events: int | None = 10_000_000

    def __init__(self, settings: DuckSettings | None = None) -> None:
        import duckdb

        self.settings = settings or DuckSettings()
        config: dict[str, Any] = {}
        if self.settings.threads is not None:
            config["threads"] = int(self.settings.threads)
        if self.settings.memory_limit is not None:
            config["memory_limit"] = str(self.settings.memory_limit)
        spill = spill_folder(self.settings.temp_directory)
        config["temp_directory"] = spill
        # tables live in a database file of this engine's own, not in memory: DuckDB can then
        # drop their pages from its buffer pool whenever a query needs the room. In an
        # in-memory database a 50M-event table held the whole memory_limit and a query
        # failed, now and then, to get a block (an out-of-memory error with disk to spare).
        self.database = Path(spill + ".duckdb")
        self.con = duckdb.connect(str(self.database), config=config)
        weakref.finalize(self, _discard, self.con, self.database)
        self._frames: dict[str, pd.DataFrame] = {}
        self._lock = threading.RLock()  # one query at a time on the main connection

    def register_frame(self, frame: pd.DataFrame, name: str = EVENTS) -> str:
        """Register an EventLog frame as the canonical relation ``name`` (default ``events``)."""
        self.register(name, canonical_events(frame))
        return name

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Register any pandas frame as a relation (e.g. a population table)."""
        with self._lock:
            self._frames[name] = frame  # DuckDB scans it in place: keep it alive
            self.con.register(name, frame)

    def unregister(self, name: str) -> None:
        """Drop a relation registered with :meth:`register`."""
        with self._lock:
            self.con.unregister(name)
            self._frames.pop(name, None)

    def materialize(self, name: str, sql: str) -> None:
        """Store the result of ``sql`` as a table ``name`` (spills to disk if large).

        A plain (not TEMP) table of the in-memory database, so that :meth:`batches`, which
        reads on its own cursor, sees it.
        """
        with self._lock:
            self.con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")

    def append(self, name: str, sql: str) -> None:
        """Add the rows of ``sql`` to a table made by :meth:`materialize`."""
        with self._lock:
            self.con.execute(f"INSERT INTO {name} {sql}")

    def drop(self, name: str) -> None:
        """Drop a table made by :meth:`materialize` (no error when it is gone)."""
        with self._lock:
            self.con.execute(f"DROP TABLE IF EXISTS {name}")

    def frame(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` and return the whole result as a pandas frame."""
        with self._lock:
            return self.con.sql(sql).df()

    def batches(self, sql: str, rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """Run ``sql`` and yield the result as pandas frames of at most about ``rows`` rows.

        Streams (never the whole result at once) on a cursor of its own, so the engine
        stays usable while a consumer iterates; the cursor sees tables and views (e.g.
        from :meth:`materialize`) but not frames registered with :meth:`register`.
        """
        cursor = self.con.cursor()
        try:
            for batch in cursor.sql(sql).to_arrow_reader(rows):
                yield batch.to_pandas()
        finally:
            cursor.close()

    def scalar(self, sql: str) -> Any:
        """The single value of a one-row, one-column query."""
        with self._lock:
            row = self.con.execute(sql).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        """Close the connection, delete its database file, release registered frames."""
        with self._lock:
            _discard(self.con, self.database)
            self._frames.clear()
