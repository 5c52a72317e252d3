"""``EventSource``: an engine, its canonical ``events`` relation and an optional time bound.

It answers what :class:`~churn_core.events.EventLog` answers (start, end, event types,
counts, report, ``before(t)``, ``default_as_of()``) and builds labelled training tables
and scoring tables by running the shared SQL (:mod:`churn_core.engine.sql`) on its
engine, then the shared pandas step (:mod:`churn_core.engine.derive`). ``EventLog.source()``
gives the in-memory one (DuckDB scanning the log's frame in place).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from churn_core.config import LabelSpec
from churn_core.engine import derive, sql
from churn_core.events import EventLog, ValidationReport

if TYPE_CHECKING:
    from churn_core.table import FeatureTable, Progress

_names = itertools.count()


class Engine(Protocol):
    """What a source needs from an engine (DuckDB here; Spark implements the same).

    ``part_events``: events per aggregation query when scoring every user (see
    ``EventSource.scoring_batches``); None: one query, however big the log.
    """

    part_events: int | None

    def frame(self, sql: str) -> pd.DataFrame: ...

    def batches(self, sql: str, rows: int = ...) -> Iterator[pd.DataFrame]: ...

    def register(self, name: str, frame: pd.DataFrame) -> None: ...

    def unregister(self, name: str) -> None: ...

    def materialize(self, name: str, sql: str) -> None: ...

    def append(self, name: str, sql: str) -> None: ...

    def drop(self, name: str) -> None: ...


@dataclass(frozen=True)
class _Meta:
    start: pd.Timestamp
    end: pd.Timestamp
    n_events: int
    n_users: int


def _ts(us: Any) -> pd.Timestamp:
    return pd.Timestamp(int(us), unit="us").as_unit("ns")  # as EventLog times are


@dataclass(frozen=True, eq=False)
class EventSource:
    """The canonical ``events`` relation on an engine, optionally bounded above in time.

    ``relation`` names the registered relation; ``until`` (exclusive) restricts every
    query to earlier events (the leak-free view, like ``EventLog.before``). ``frame`` is the
    in-memory canonical frame when there is one (used for the encoder's sequences).
    """

    engine: Engine
    relation: str = sql.EVENTS
    report: ValidationReport = field(default_factory=lambda: ValidationReport(0, 0))
    has_amount: bool = False
    until: pd.Timestamp | None = None
    frame: pd.DataFrame | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # ----- the relation and its metadata -------------------------------------------------
    @property
    def events(self) -> str:
        """The SQL relation text for this source's events (bounded by ``until``)."""
        if self.until is None:
            return self.relation
        return f"(SELECT * FROM {self.relation} WHERE ts_us < {sql.cutoff_us(self.until)})"

    def _meta(self) -> _Meta:
        if "meta" not in self._cache:
            row = self.engine.frame(
                "SELECT MIN(ts_us) AS lo, MAX(ts_us) AS hi, COUNT(*) AS n, "
                f"COUNT(DISTINCT user_id) AS u FROM {self.events}"
            ).iloc[0]
            if int(row["n"]) == 0:
                raise ValueError("The event source has no events (before its time bound).")
            self._cache["meta"] = _Meta(
                _ts(row["lo"]), _ts(row["hi"]), int(row["n"]), int(row["u"])
            )
        return self._cache["meta"]

    @property
    def start(self) -> pd.Timestamp:
        return self._meta().start

    @property
    def end(self) -> pd.Timestamp:
        return self._meta().end

    @property
    def n_events(self) -> int:
        return self._meta().n_events

    @property
    def n_users(self) -> int:
        return self._meta().n_users

    @property
    def event_types(self) -> list[str]:
        """Every event type present, sorted."""
        if "types" not in self._cache:
            types = self.engine.frame(f"SELECT DISTINCT event_type FROM {self.events}")
            self._cache["types"] = sorted(types["event_type"].astype(str).tolist())
        return self._cache["types"]

    def event_type_counts(self) -> pd.Series:
        """Events per type, most frequent first (ties by name), for ``pick_event_types``."""
        counts = self.engine.frame(
            f"SELECT event_type, COUNT(*) AS n FROM {self.events} GROUP BY event_type"
        )
        counts = counts.sort_values(["n", "event_type"], ascending=[False, True])
        return pd.Series(counts["n"].to_numpy(), index=counts["event_type"].astype(str))

    def _has(self, col: str) -> bool:
        return bool(
            self.engine.frame(
                f"SELECT COUNT(*) AS n FROM (SELECT 1 AS x FROM {self.events} "
                f"WHERE {col} IS NOT NULL LIMIT 1) t"
            ).iloc[0, 0]
        )

    @property
    def has_items(self) -> bool:
        return self._has("item_id")

    @property
    def has_categories(self) -> bool:
        return self._has("category")

    def default_as_of(self) -> pd.Timestamp:
        """Just after the last event: the start of the next calendar day."""
        return self.end.floor("D") + pd.Timedelta(days=1)

    def before(self, t: pd.Timestamp) -> EventSource:
        """Only the events strictly before ``t`` (the leak-free view at cutoff ``t``)."""
        t = pd.Timestamp(t)
        if self.until is not None and self.until <= t:
            t = self.until
        frame = self.frame
        if frame is not None:
            frame = frame.loc[frame["timestamp"].to_numpy() < np.datetime64(t)]
        return replace(self, until=t, frame=frame, _cache={})

    # ----- labels and features -----------------------------------------------------------
    def labels(self, spec: LabelSpec, cutoffs: Sequence[pd.Timestamp]) -> pd.DataFrame:
        """``user_id``, ``cutoff_us``, ``churned`` for every eligible user at every cutoff
        (newest cutoff first, then user id)."""
        out = self.engine.frame(sql.labels_sql(spec, list(cutoffs), self.events))
        out["churned"] = out["churned"].astype(np.int8)
        return out

    def eligible(self, spec: LabelSpec, cutoff: pd.Timestamp) -> pd.Index:
        """Users in the population at ``cutoff`` (sorted), as :func:`labels.eligible_users`."""
        pop = self.engine.frame(
            f"SELECT user_id FROM ({sql.population_sql(spec, [cutoff], self.events)}) p "
            "ORDER BY user_id"
        )
        return pd.Index(pop["user_id"].to_numpy(), name="user_id")

    def repeat_shares(self, spec: LabelSpec, times: Sequence[pd.Timestamp]) -> list[float]:
        """Per time: the share of users active before it who were active on two days or
        more (0.0 when nobody was active)."""
        row = self.engine.frame(sql.repeat_shares_sql(spec, list(times), self.events)).iloc[0]
        counts = row.fillna(0).astype(float)  # SUM over no rows is NULL
        shares = []
        for i in range(len(times)):
            active, repeat = float(counts[f"n{i}"]), float(counts[f"r{i}"])
            shares.append(repeat / active if active else 0.0)
        return shares

    def aggregates(self, population: pd.DataFrame, event_types: Sequence[str]) -> pd.DataFrame:
        """Raw aggregates for the (``user_id``, ``cutoff_us``) pairs of ``population``,
        newest cutoff first, then user id."""
        name = f"population_{next(_names)}"
        self.engine.register(name, population[["user_id", "cutoff_us"]])
        try:
            return self.engine.frame(sql.aggregates_sql(name, event_types, self.events))
        finally:
            self.engine.unregister(name)

    def features(
        self,
        population: pd.DataFrame,
        event_types: Sequence[str],
        horizon_days: float = 90.0,
    ) -> pd.DataFrame:
        """Model features for ``population`` (unique pairs), in ``population``'s row order."""
        raw = self.aggregates(population, event_types)
        X = derive.derive_features(raw, event_types, self.start, horizon_days)
        key = pd.MultiIndex.from_arrays([raw["user_id"], raw["cutoff_us"].astype(np.int64)])
        want = pd.MultiIndex.from_arrays(
            [population["user_id"], population["cutoff_us"].astype(np.int64)]
        )
        if not key.equals(want):
            X = X.iloc[key.get_indexer(want)]
        return X.reset_index(drop=True)

    def training_table(
        self,
        spec: LabelSpec,
        cutoffs: Sequence[pd.Timestamp],
        event_types: tuple[str, ...],
        max_events: int | None = None,
        progress: Progress | None = None,
    ) -> FeatureTable:
        """Labelled rows (user, cutoff) for every cutoff, in the order of ``cutoffs``."""
        from churn_core.table import SEQUENCE_COLUMN, FeatureTable

        cutoffs = list(dict.fromkeys(pd.Timestamp(t) for t in cutoffs))
        if not cutoffs:
            return FeatureTable(
                pd.DataFrame(), np.array([], dtype=np.int8), np.array([]), np.array([])
            )
        lab = self.labels(spec, cutoffs)
        if progress:
            progress("labels at every cutoff", 0.3)
        rank = {sql.cutoff_us(t): i for i, t in enumerate(cutoffs)}
        lab_rank = lab["cutoff_us"].map(rank).to_numpy()
        if len(lab) and (np.diff(lab_rank) < 0).any():  # cutoffs not given newest first
            order = np.argsort(lab_rank, kind="stable")
            lab, lab_rank = lab.iloc[order].reset_index(drop=True), lab_rank[order]
        if len(lab) == 0:
            return FeatureTable(
                pd.DataFrame(), np.array([], dtype=np.int8), np.array([]), np.array([])
            )
        X = self.features(lab, event_types, spec.horizon_days)
        if progress:
            progress("features at every cutoff", 0.9 if max_events else 1.0)
        users = lab["user_id"].to_numpy()
        stamps = np.array([np.datetime64(t) for t in cutoffs])
        if max_events:
            X[SEQUENCE_COLUMN] = self.sequences(users, lab_rank, cutoffs, max_events)
            if progress:
                progress("event sequences", 1.0)
        return FeatureTable(X, lab["churned"].to_numpy(np.int8), users, stamps[lab_rank])

    def scoring_table(
        self,
        as_of: pd.Timestamp,
        event_types: tuple[str, ...],
        max_events: int | None = None,
        horizon_days: float = 90.0,
    ) -> FeatureTable:
        """Every user with at least one (non-cancel) event before ``as_of``, as of ``as_of``."""
        from churn_core.table import SEQUENCE_COLUMN, FeatureTable

        as_of = pd.Timestamp(as_of)
        users = self.eligible(LabelSpec(), as_of)
        pop = pd.DataFrame({"user_id": users.to_numpy(), "cutoff_us": sql.cutoff_us(as_of)})
        X = self.features(pop, event_types, horizon_days)
        u = users.to_numpy()
        if max_events and len(pop):
            X[SEQUENCE_COLUMN] = self.sequences(u, np.zeros(len(u), int), [as_of], max_events)
        return FeatureTable(X, None, u, np.full(len(u), np.datetime64(as_of)))

    def scoring_batches(
        self,
        as_of: pd.Timestamp,
        event_types: tuple[str, ...],
        horizon_days: float = 90.0,
        rows: int = 100_000,
        max_events: int | None = None,
        parts: int | None = None,
    ) -> Iterator[FeatureTable]:
        """The scoring table as of ``as_of`` in batches of about ``rows`` users.

        The raw aggregates are materialised on the engine (spilling to disk if needed),
        BG/NBD is fitted on all users from three columns, then batches stream through
        the derive step: memory stays bounded by ``rows``, whatever the log's size.
        ``max_events`` adds the encoder's sequences, built per batch.

        The aggregates are computed in ``parts`` groups of users (a hash of the id; default:
        one per ``engine.part_events`` events), one query each: a user's aggregates
        need only their own events, and one query over 50M events could need more than
        DuckDB's ``memory_limit`` for its per-user distinct counts, which do not spill.
        """
        from churn_core.table import SEQUENCE_COLUMN, FeatureTable

        as_of = pd.Timestamp(as_of)
        stamp = np.datetime64(as_of)
        i = next(_names)
        pop, agg = f"scoring_pop_{i}", f"scoring_agg_{i}"
        self.engine.materialize(pop, sql.population_sql(LabelSpec(), [as_of], self.events))
        try:
            if parts is None:
                parts = self._parts()
            for part in range(parts):
                keep = f"WHERE {sql.user_part(parts, part)}" if parts > 1 else ""
                query = sql.aggregates_sql(
                    f"(SELECT * FROM {pop} {keep})",
                    event_types,
                    f"(SELECT * FROM {self.events} {keep})",
                    order=False,
                )
                (self.engine.append if part else self.engine.materialize)(agg, query)
            inputs = self.engine.frame(
                # in user order, as every other path fits it: the optimum moves with row order
                f"SELECT cutoff_us, recency_days, tenure_days, active_days FROM {agg} "
                "ORDER BY user_id"
            )
            params = derive.fit_bgnbd_params(inputs)
            start = self.start
            for raw in self.engine.batches(f"SELECT * FROM {agg} ORDER BY user_id", rows):
                X = derive.derive_features(raw, event_types, start, horizon_days, params)
                X = X.reset_index(drop=True)
                users = raw["user_id"].to_numpy()
                if max_events:
                    rank = np.zeros(len(users), dtype=int)
                    X[SEQUENCE_COLUMN] = self.sequences(users, rank, [as_of], max_events)
                yield FeatureTable(X, None, users, np.full(len(users), stamp))
        finally:
            self.engine.drop(agg)
            self.engine.drop(pop)

    def _parts(self) -> int:
        """Groups of users to aggregate one at a time: one per ``engine.part_events`` events
        (None on Spark, which spreads a big aggregation over its executors itself)."""
        per_part = self.engine.part_events
        return 1 if per_part is None else max(1, -(-self.n_events // per_part))

    def sequences(
        self,
        users: np.ndarray,
        rank: np.ndarray,
        cutoffs: Sequence[pd.Timestamp],
        max_events: int,
    ) -> np.ndarray:
        """The encoder's event sequences per row (row ``i``: ``users[i]`` at
        ``cutoffs[rank[i]]``), as ``sequences.build_sequences`` makes them.

        From the in-memory frame when there is one; otherwise the engine selects only
        each pair's last ``max_events + 1`` events (:func:`sql.sequences_sql`), so memory
        follows users x ``max_events``, not the log. The lines of one merged event are
        then taken in category order (an in-memory frame keeps its row order).
        """
        from churn_core.sequences import build_sequences

        out = np.empty(len(users), dtype=object)
        rows = None
        if self.frame is None and len(users):
            name = f"sequence_pop_{next(_names)}"
            stamps = np.array([sql.cutoff_us(t) for t in cutoffs], dtype=np.int64)
            pop = pd.DataFrame({"user_id": users, "cutoff_us": stamps[rank]}).drop_duplicates()
            self.engine.register(name, pop)
            try:
                rows = self.engine.frame(sql.sequences_sql(name, max_events, self.events))
            finally:
                self.engine.unregister(name)
            rows.insert(2, "timestamp", pd.to_datetime(rows.pop("ts_us"), unit="us"))
            with_category = self.has_categories
        for i, t in enumerate(cutoffs):
            m = rank == i
            if not m.any():
                continue
            if rows is None:
                seq = build_sequences(self.frame, t, pd.Index(users[m]), max_events)
            else:
                part = rows.loc[rows["cutoff_us"].to_numpy() == sql.cutoff_us(t)]
                seq = build_sequences(part, t, pd.Index(users[m]), max_events, with_category)
            out[m] = seq.to_numpy()
        return out


_SOURCES: weakref.WeakKeyDictionary[EventLog, EventSource] = weakref.WeakKeyDictionary()


def log_source(log: EventLog) -> EventSource:
    """The in-memory source of ``log`` (DuckDB over its frame), made once per log."""
    found = _SOURCES.get(log)
    if found is None:
        from churn_core.engine.duck import DuckEngine

        engine = DuckEngine()
        engine.register_frame(log.frame)
        found = EventSource(engine, sql.EVENTS, log.report, log.has_amount, frame=log.frame)
        _SOURCES[log] = found
    return found


def as_source(log: EventLog | EventSource) -> EventSource:
    """``log`` itself when it is a source, else its in-memory source."""
    return log if isinstance(log, EventSource) else log_source(log)
