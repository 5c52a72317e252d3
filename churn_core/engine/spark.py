"""``--engine spark``: a SparkSession, canonical ``events`` read from paths, the shared SQL.

The feature and label definitions are the SQL text of :mod:`churn_core.engine.sql`, run here
with ``spark.sql``; the pandas step after it is :mod:`churn_core.engine.derive`, the same code
every engine runs. Nothing in this module defines a feature.

Local mode (tests, one machine) is the default; under ``spark-submit`` the session that
spark-submit configured (master, executors, memory) is used as it is. Either way the session
runs offline: no UI, no package downloads, UTC session time zone (``ts_us`` is tz-naive).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from churn_core.config import SchemaConfig
from churn_core.errors import EventDataError
from churn_core.events import ValidationReport
from churn_core.layouts import detect_schema
from churn_core.loading import _clean_header, _has_header, _sniff_delimiter
from churn_core.pii import find_personal_columns
from churn_core.roles import SAMPLE_ROWS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from churn_core.engine.source import EventSource

log = logging.getLogger(__name__)

EVENTS_VIEW = "events"
# PySpark 4.3 warns on every import under pandas 3; the Arrow paths used here are tested
_PANDAS_NOTICE = "PySpark does not yet fully support pandas"
MAX_UNREADABLE_TIMES = 0.05  # as churn_core.ingest: more unreadable timestamps is a problem
# SQL settings every session gets (also under spark-submit): the shared SQL relies on them
SESSION_SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",  # ts_us is tz-naive: parse and print times as UTC
    "spark.sql.ansi.enabled": "false",  # unreadable casts give NULL, as DuckDB's TRY_CAST
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",  # an unreadable date is NULL, no error
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
}


def spark_session(
    cores: int | None = None,
    driver_memory: str = "1g",
    shuffle_partitions: int | None = None,
    master: str | None = None,
    app_name: str = "churn",
) -> SparkSession:
    """The active SparkSession, or a new local-mode one (``local[cores]``).

    Under ``spark-submit`` (or when a session is already active) that session is returned
    with only the SQL settings of :data:`SESSION_SQL_CONF` applied; ``cores``,
    ``driver_memory`` and ``master`` then come from spark-submit. A local session has no
    UI, ``shuffle_partitions`` (default ``2 * cores``) small partitions and Arrow on, and
    its Python workers run this interpreter.
    """
    warnings.filterwarnings("ignore", _PANDAS_NOTICE, FutureWarning)
    try:
        from pyspark import SparkConf
        from pyspark.sql import SparkSession
    except ImportError as exc:  # the optional extra is not installed
        raise EventDataError(
            ["--engine spark needs PySpark: pip install 'churn-core[spark]' (and Java 17)."]
        ) from exc
    active = SparkSession.getActiveSession()
    submitted = os.environ.get("PYSPARK_GATEWAY_PORT") and SparkConf().contains("spark.master")
    if active is None and not submitted:
        cores = cores or max(1, min(os.cpu_count() or 1, 4))
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        # the Python workers inherit this: no pandas-version notice per task on stderr
        os.environ.setdefault("PYTHONWARNINGS", f"ignore:{_PANDAS_NOTICE}:FutureWarning")
        conf = {
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.memory": driver_memory,
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.sql.shuffle.partitions": str(shuffle_partitions or 2 * cores),
            "spark.default.parallelism": str(shuffle_partitions or 2 * cores),
            "spark.sql.adaptive.enabled": "true",
            "spark.python.worker.reuse": "true",
            **SESSION_SQL_CONF,
        }
        builder = SparkSession.builder.master(master or f"local[{cores}]").appName(app_name)
        for key, value in conf.items():
            builder = builder.config(key, value)
        try:
            active = builder.getOrCreate()
        except Exception as exc:  # Java missing or too old: py4j/pyspark raise several types
            raise EventDataError(
                [
                    f"Spark could not start ({type(exc).__name__}: {str(exc)[:200]}). It needs "
                    "Java 17: install openjdk-17-jre-headless, or use --engine local."
                ]
            ) from exc
        active.sparkContext.setLogLevel("ERROR")
    else:
        active = active or SparkSession.builder.getOrCreate()
    for key, value in SESSION_SQL_CONF.items():
        active.conf.set(key, value)
    return active


def collect(frame: DataFrame) -> pd.DataFrame:
    """A Spark frame on the driver as pandas (via Arrow): only for bounded results."""
    return cast(pd.DataFrame, frame.toPandas())


class SparkEngine:
    """The engine protocol of :class:`churn_core.engine.source.EventSource` on Spark:
    shared SQL text in, pandas out. Relations are Spark temp views."""

    part_events: int | None = None  # the executors share a big aggregation out themselves

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self._persisted: dict[str, DataFrame] = {}

    def frame(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` and collect the whole result (via Arrow)."""
        return collect(self.spark.sql(sql))

    def batches(self, sql: str, rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """Run ``sql`` and yield the result in frames of at most ``rows`` rows, one Spark
        partition at a time, so the driver holds one batch (plus one partition)."""
        result = self.spark.sql(sql)
        columns = result.columns
        chunk: list = []
        for row in result.toLocalIterator(prefetchPartitions=False):
            chunk.append(tuple(row))
            if len(chunk) >= rows:
                yield pd.DataFrame.from_records(chunk, columns=columns)
                chunk = []
        if chunk:
            yield pd.DataFrame.from_records(chunk, columns=columns)

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """A pandas frame as the temp view ``name`` (e.g. a population table)."""
        self.spark.createDataFrame(frame).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def materialize(self, name: str, sql: str) -> None:
        """The result of ``sql`` computed once (cached, spilling to disk) as view ``name``."""
        from pyspark import StorageLevel

        result = self.spark.sql(sql).persist(StorageLevel.MEMORY_AND_DISK)
        result.createOrReplaceTempView(name)
        self._persisted[name] = result

    def append(self, name: str, sql: str) -> None:
        """Add the rows of ``sql`` to a relation made by :meth:`materialize`."""
        from pyspark import StorageLevel

        old = self._persisted[name]
        result = old.unionByName(self.spark.sql(sql)).persist(StorageLevel.MEMORY_AND_DISK)
        result.createOrReplaceTempView(name)
        self._persisted[name] = result
        old.unpersist()

    def drop(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        found = self._persisted.pop(name, None)
        if found is not None:
            found.unpersist()


def _paths(paths: str | os.PathLike | list) -> list[str]:
    items = paths if isinstance(paths, (list, tuple)) else [paths]
    out = [str(p) for p in items]
    if not out:
        raise EventDataError(["No event file given. Pass a CSV, CSV.gz or Parquet path."])
    return out


def _is_parquet(paths: list[str]) -> bool:
    """Parquet by name, a local folder holding Parquet files (partitioned or not), or a
    cluster folder (``hdfs://…/events/``, ``s3a://…``) whose name has no text-file suffix."""
    for p in paths:
        name = p.rstrip("/").lower()
        if name.endswith((".parquet", ".pq")):
            return True
        if name.endswith(_TEXT_SUFFIXES):
            continue
        local = Path(p.removeprefix("file://"))
        if "://" not in p or p.startswith("file://"):
            if local.is_dir() and next(local.rglob("*.parquet"), None) is not None:
                return True
        elif "." not in name.rsplit("/", 1)[-1]:
            return True
    return False


_TEXT_SUFFIXES = (".csv", ".csv.gz", ".gz", ".txt", ".tsv", ".tsv.gz", ".bz2")


def _check_local_paths(paths: list[str]) -> None:
    """A missing plain local path: the loader's message (cluster URIs are not checked)."""
    for p in paths:
        if "://" not in p and not any(ch in p for ch in "*?[") and not Path(p).exists():
            raise EventDataError([f"File '{p}' was not found. Check the path and file name."])


def read_raw(spark: SparkSession, paths: list[str]) -> DataFrame:
    """The raw Spark frame: every CSV cell as text (delimiter and header sniffed) or Parquet."""
    _check_local_paths(paths)
    if _is_parquet(paths):
        return spark.read.parquet(*paths)
    lines = [r[0] for r in spark.read.text(paths).limit(60).collect()]
    text = "\n".join(line for line in lines if line is not None)
    if not text.strip():
        raise EventDataError([f"'{paths[0]}' is empty. Export the event log again."])
    delimiter = _sniff_delimiter(text)
    header = _has_header(text, delimiter)
    frame = spark.read.options(
        sep=delimiter, header=str(header).lower(), inferSchema="false", mode="PERMISSIVE"
    ).csv(paths)
    names = _clean_header(pd.Index(frame.columns)) if header else None
    if names is None:
        names = [f"column_{i + 1}" for i in range(len(frame.columns))]
    return frame.toDF(*names)


@dataclass(frozen=True, eq=False)
class SparkEvents:
    """The canonical ``events`` of ENGINE.md as a Spark DataFrame, with ``EventLog``'s metadata.

    ``frame`` has ``user_id``, ``ts_us``, ``event_type``, ``amount``, ``item_id``,
    ``category``; ``upper_us`` (exclusive) bounds it in time (see :meth:`before`).
    """

    spark: Any  # SparkSession (Any: pyspark is optional)
    frame: Any  # pyspark DataFrame of the canonical columns
    report: ValidationReport
    has_amount: bool = False
    upper_us: int | None = None

    @cached_property
    def stats(self) -> dict[str, Any]:
        """n_events, n_users, start/end (microseconds), event types: one Spark job, cached."""
        from pyspark.sql import functions as sf

        row = self.frame.agg(
            sf.count(sf.lit(1)).alias("n"),
            sf.countDistinct("user_id").alias("users"),
            sf.min("ts_us").alias("lo"),
            sf.max("ts_us").alias("hi"),
            sf.sort_array(sf.collect_set("event_type")).alias("types"),
        ).collect()[0]
        return row.asDict()

    @property
    def n_events(self) -> int:
        return int(self.stats["n"])

    @property
    def n_users(self) -> int:
        return int(self.stats["users"])

    @property
    def start(self) -> pd.Timestamp:
        return _ts(self.stats["lo"])

    @property
    def end(self) -> pd.Timestamp:
        return _ts(self.stats["hi"])

    @property
    def event_types(self) -> list[str]:
        return list(self.stats["types"] or [])

    @cached_property
    def has_categories(self) -> bool:
        """Whether any event has a category (an encoder's sequences then carry them)."""
        return self.frame.where(self.frame["category"].isNotNull()).limit(1).count() > 0

    def default_as_of(self) -> pd.Timestamp:
        """Just after the last event: the start of the next calendar day."""
        return self.end.floor("D") + pd.Timedelta(days=1)

    def before(self, t: pd.Timestamp) -> SparkEvents:
        """Only the events strictly before ``t`` (the leak-free view at cutoff ``t``)."""
        from churn_core.engine.sql import cutoff_us

        bound = cutoff_us(t)
        if self.upper_us is not None:
            bound = min(bound, self.upper_us)
        frame = self.frame.where(self.frame["ts_us"] < bound)
        return SparkEvents(self.spark, frame, self.report, self.has_amount, bound)

    def register(self, name: str = EVENTS_VIEW) -> str:
        """Make ``frame`` the temp view ``name`` that the shared SQL reads; returns ``name``."""
        self.frame.createOrReplaceTempView(name)
        return name

    def sql(self, text: str) -> DataFrame:
        """Run shared SQL text over this log (registered as ``events`` first)."""
        self.register()
        return self.spark.sql(text)

    def source(self) -> EventSource:
        """This log as an :class:`~churn_core.engine.source.EventSource` on a
        :class:`SparkEngine`: what ``pipeline.train`` and the shared tables read."""
        from churn_core.engine.source import EventSource

        name = f"events_spark_{id(self.frame)}"
        self.frame.createOrReplaceTempView(name)
        until = None if self.upper_us is None else pd.Timestamp(self.upper_us, unit="us")
        return EventSource(SparkEngine(self.spark), name, self.report, self.has_amount, until=until)

    def event_type_counts(self) -> pd.Series:
        """Events per type (for ``pick_event_types``), most frequent first."""
        counts = collect(self.frame.groupBy("event_type").count())
        return counts.set_index("event_type")["count"].sort_values(ascending=False)


def _ts(us: int | None) -> pd.Timestamp:
    if us is None:
        raise EventDataError(["No events: the log (or the part before the cutoff) is empty."])
    return pd.Timestamp(int(us), unit="us")


def read_events(
    spark: SparkSession,
    paths: str | os.PathLike | list,
    schema: SchemaConfig | None = None,
    sample_rows: int = SAMPLE_ROWS,
    cache: bool = True,
) -> SparkEvents:
    """Read CSV / CSV.gz / Parquet paths (local, HDFS, S3 …) into canonical ``events``.

    The mapping is resolved on the first ``sample_rows`` rows by the local detection
    (``churn_core.layouts.detect_schema``, explicit ``schema`` fields win), then applied to
    every row in Spark. Rows are dropped for the reasons and with the wording of
    ``churn_core.ingest`` and counted in ``report.dropped``; problems that make the log
    unusable raise one :class:`EventDataError`. Personal-data columns not named in
    ``schema`` are never read past the sample (they are listed in the report).
    """
    schema = schema or SchemaConfig()
    paths_ = _paths(paths)
    raw = read_raw(spark, paths_)
    texts = raw.select([raw[f"`{c}`"].cast("string").alias(c) for c in raw.columns])
    sample = collect(texts.limit(sample_rows)).astype("str")
    if sample.empty:
        raise EventDataError([f"'{paths_[0]}' has no data rows. Export the whole log again."])
    det = detect_schema(sample, schema)
    named = {getattr(schema, f, None) for f in ("user_col", "time_col", "event_col")}
    personal = [p for p in find_personal_columns(sample) if p.column not in named]
    from churn_core.engine.spark_columns import canonical_columns

    cols = canonical_columns(raw, det, sample, schema.year)
    tagged = raw.select(
        *[expr.alias(name) for name, expr in cols.columns.items()],
        cols.drop_reason.alias("drop_reason"),
        cols.bad_amounts.alias("bad_amount"),
    )
    if cache:  # one pass over the files: the counts fill the cache the features read
        tagged = tagged.persist()
    counts = _drop_counts(tagged)
    frame = tagged.where(tagged["drop_reason"].isNull()).select(*cols.columns)
    rows_read = int(sum(c["rows"] for c in counts))
    dropped = tuple((c["drop_reason"], int(c["rows"])) for c in counts if c["drop_reason"])
    kept = [c for c in counts if c["drop_reason"] is None]
    rows_kept = int(kept[0]["rows"]) if kept else 0
    n_bad_amount = int(kept[0]["bad"]) if kept else 0
    has_amount = bool(kept and kept[0]["nonzero"])
    problems, notes = _problems(det.time_col, dropped, rows_read, rows_kept, n_bad_amount)
    if problems:
        raise EventDataError(problems)
    report = ValidationReport(
        rows_read=rows_read,
        rows_kept=rows_kept,
        dropped=dropped,
        warnings=tuple(notes),
        mapping=cols.mapping,
        layout=det.layout,
        detection=tuple(det.lines()),
        personal_columns=tuple((p.column, p.kind) for p in personal),
    )
    events = SparkEvents(spark, frame, report, has_amount)
    if events.n_users < 2:
        raise EventDataError(
            [
                "Only one user is in the data; churn needs many users. Check that --user-col "
                "names the customer column."
            ]
        )
    log.info("spark events from %s: %s", paths_, "; ".join(report.lines()))
    return events


def _drop_counts(tagged: DataFrame) -> list[dict]:
    """Rows per drop reason (None = kept), with non-numeric amounts and non-zero amounts kept."""
    from pyspark.sql import functions as sf

    rows = (
        tagged.groupBy("drop_reason")
        .agg(
            sf.count(sf.lit(1)).alias("rows"),
            sf.sum("bad_amount").alias("bad"),
            sf.max((sf.col("amount") != 0).cast("int")).alias("nonzero"),
        )
        .collect()
    )
    order = {r: i for i, r in enumerate(_REASON_ORDER)}
    out = [r.asDict() for r in rows]
    return sorted(out, key=lambda r: order.get(_reason_kind(r["drop_reason"]), 99))


_REASON_ORDER = ("repeated", "missing user", "missing timestamp", "unparseable", "missing event")


def _reason_kind(reason: str | None) -> str:
    if reason is None:
        return ""
    return next((k for k in _REASON_ORDER if reason.startswith(k)), reason)


def _problems(
    time_col: str | None,
    dropped: tuple[tuple[str, int], ...],
    rows_read: int,
    rows_kept: int,
    n_bad_amount: int,
) -> tuple[list[str], list[str]]:
    """Problems that make the log unusable, and notes, from the per-reason counts."""
    problems: list[str] = []
    notes: list[str] = []
    unreadable = sum(n for r, n in dropped if r.startswith("unparseable"))
    before_time = rows_kept + sum(
        n for r, n in dropped if not r.startswith(("repeated", "missing user", "missing time"))
    )
    fix = "Pass --time-format or choose another column with --time-col."
    if unreadable and unreadable == before_time:
        problems.append(f"No value in column {time_col} could be read as a timestamp. {fix}")
    elif rows_kept == 0:
        reasons = "; ".join(f"{n:,} {r}" for r, n in dropped)
        problems.append(f"No usable rows remain ({reasons}). Check the column mapping.")
    elif unreadable >= MAX_UNREADABLE_TIMES * max(before_time, 1):
        problems.append(
            f"{unreadable:,} of {before_time:,} values in column {time_col} "
            f"({unreadable / before_time:.0%}) could not be read as timestamps. {fix}"
        )
    if n_bad_amount * 2 > max(rows_kept, 1):
        problems.append(
            f"The amount column is not numeric in {n_bad_amount:,} of {rows_kept:,} rows. "
            "Choose another column with --amount-col (or --quantity-col / --price-col)."
        )
    elif n_bad_amount:
        notes.append(f"{n_bad_amount:,} non-numeric amounts were read as 0.")
    return problems, notes


def to_pandas_events(events: SparkEvents) -> pd.DataFrame:
    """The canonical rows with ``timestamp`` (datetime64) as an ``EventLog`` frame has them:
    for tests and small logs only (it collects every event to the driver)."""
    frame = collect(events.frame)
    frame["timestamp"] = pd.to_datetime(frame.pop("ts_us").to_numpy(np.int64), unit="us")
    cols = ["user_id", "timestamp", "event_type", "amount", "item_id", "category"]
    return frame[cols].sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
