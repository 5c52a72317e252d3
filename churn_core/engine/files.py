"""Event files opened out of core: CSV, CSV.gz, Parquet or a folder of Parquet -> DuckDB ``events``.

The mapping is the in-memory one (``churn_core.ingest``): detection (layouts, roles, time
formats, personal-data columns) runs in pandas on the first ``sample_rows`` rows, read with
the pandas loader; the mapping found there is then written as SQL and run by DuckDB over the
whole file (every column read as text, ``TRY_CAST`` / ``strptime`` with the detected format;
``churn_core.engine.file_rules``). Validation is the same too, in SQL: rows dropped by
reason (the same reasons, in the same order, with the same example rows), the same
problems raised as one ``EventDataError``, the same warnings. The result is the table
``events`` with the canonical columns of the engine contract: ``user_id`` VARCHAR,
``ts_us`` BIGINT (microseconds since 1970, tz-naive), ``event_type`` VARCHAR, ``amount``
DOUBLE (0 where unknown), ``item_id`` and ``category`` VARCHAR (nullable).

What the in-memory path does that this one does not: XLSX files, Instacart's relative times
(``days since prior order``) and ``--pseudonymize`` (each refused with a message that says
to use ``--engine local``), and the per-value "mixed formats" fallback for timestamps that
match neither the detected format nor ISO 8601 (such rows are counted as unparseable).
"""

from __future__ import annotations

import glob
import gzip
import itertools
import logging
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from churn_core.config import EngineConfig, SchemaConfig
from churn_core.engine.file_rules import USE_LOCAL, FileRules, Scan, lit
from churn_core.errors import EventDataError
from churn_core.events import ValidationReport
from churn_core.ingest import (
    _drop_personal_columns,
)
from churn_core.ingest import _Validation as _SampleChecks
from churn_core.layouts import detect_schema
from churn_core.loading import NA_VALUES, read_events
from churn_core.timestamps import (
    DAYS_SINCE_PRIOR,
)

if TYPE_CHECKING:
    from churn_core.engine.source import EventSource

logger = logging.getLogger(__name__)
Progress = Callable[[str, float], None]

SAMPLE_ROWS = 50_000
_DEFAULT_SCHEMA = SchemaConfig()  # frozen, so sharing one default is safe
_DEFAULT_ENGINE = EngineConfig(kind="duckdb")
_CSV_BUFFER = 4 * 2**20  # DuckDB's default (32 MiB) alone exceeds a small memory_limit
_GZIP = b"\x1f\x8b"


@dataclass(frozen=True)
class FileLog:
    """What opening a file produced: the ``events`` table is in the connection."""

    name: str
    report: ValidationReport
    has_amount: bool
    n_events: int
    n_users: int
    start_us: int
    end_us: int
    event_types: tuple[str, ...]


def open_events(
    con: duckdb.DuckDBPyConnection,
    path: str | os.PathLike,
    schema: SchemaConfig = _DEFAULT_SCHEMA,
    sample_rows: int = SAMPLE_ROWS,
    table: str = "events",
    progress: Progress | None = None,
) -> FileLog:
    """Validate ``path`` out of core into the table ``table`` of ``con``.

    ``path`` is a CSV, CSV.gz or Parquet file, a folder of (hive-partitioned) Parquet or
    CSV files, or a glob. Raises :class:`EventDataError` listing every problem, like
    ``churn_core.ingest.validate_events``.
    """
    say = progress or (lambda stage, fraction: None)
    con.execute("SET TimeZone = 'UTC'")
    say("detecting the columns on a sample", 0.0)
    sample, scan = _sample_and_scan(con, path, sample_rows)
    sample, personal = _drop_personal_columns(sample, schema)
    det = detect_schema(sample, schema)
    checks = _SampleChecks(sample, det, schema, personal)
    checks._source_notes()
    checks._check_columns()
    if checks.problems:
        raise EventDataError(checks.problems)
    if det.time_format == DAYS_SINCE_PRIOR:
        raise EventDataError(
            [f"Relative times (days since the prior order) are not read out of core. {USE_LOCAL}"]
        )
    build = FileRules(con, scan, sample, det, schema, table)
    build.notes = list(checks.notes)
    build.say = say
    log = build.run()
    report = ValidationReport(
        rows_read=build.rows_read,
        rows_kept=log["n_events"],
        dropped=tuple(build.dropped.items()),
        warnings=tuple(build.notes),
        mapping=tuple(build.mapping),
        layout=det.layout,
        detection=tuple(det.lines()),
        personal_columns=tuple((p.column, p.kind) for p in personal),
    )
    logger.info("opened %s out of core: %s", scan.name, "; ".join(report.lines()))
    return FileLog(scan.name, report, **log)


# -- reading ---------------------------------------------------------------------------------


def event_files(path: str | os.PathLike) -> tuple[list[str], str]:
    """The files behind ``path`` (a file, folder or glob) and a name for messages."""
    text = str(path)
    if any(ch in text for ch in "*?["):
        found = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
        if not found:
            raise EventDataError([f"No file matches '{text}'. Check the pattern."])
        return found, text
    p = Path(text)
    if p.is_dir():
        for pattern in ("**/*.parquet", "**/*.csv", "**/*.csv.gz"):
            found = sorted(str(f) for f in p.glob(pattern) if f.is_file())
            if found:
                return found, p.name
        raise EventDataError(
            [f"Folder '{p}' holds no .parquet, .csv or .csv.gz file. Check the folder."]
        )
    if not p.is_file():
        raise EventDataError([f"File '{p}' was not found. Check the path and file name."])
    return [str(p)], p.name


def _magic(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4)


def _sample_and_scan(
    con: duckdb.DuckDBPyConnection, path: str | os.PathLike, n: int
) -> tuple[pd.DataFrame, Scan]:
    files, name = event_files(path)
    magic = _magic(files[0])
    if magic == b"PK\x03\x04":
        raise EventDataError([f"'{name}' is a ZIP archive or Excel workbook. {USE_LOCAL}"])
    if magic == b"PAR1":
        listed = ", ".join(lit(f) for f in files)
        sql = f"read_parquet([{listed}], hive_partitioning = true, union_by_name = true)"
        try:
            sample = con.sql(f"SELECT * FROM {sql} LIMIT {int(n)}").df()
        except duckdb.Error as exc:
            raise EventDataError(
                [f"'{name}' looks like Parquet but cannot be read ({exc}). Export it again."]
            ) from exc
        sample.columns = [str(c).strip() for c in sample.columns]
        sample = sample.astype("str")  # as churn_core.loading reads Parquet: every column as text
        sample.attrs.update({"source_name": name, "format": "parquet"})
        return sample, Scan(sql, name, _types(con, sql))
    sample = read_events(_head(files[0], n, name), name=name)
    attrs = sample.attrs
    encoding = {"utf-16": "utf-16", "cp1252": "latin-1", "latin-1": "latin-1"}.get(
        attrs.get("encoding"), "utf-8"
    )
    columns = ", ".join(f"{lit(c)}: 'VARCHAR'" for c in sample.columns)
    nulls = ", ".join(lit(v) for v in NA_VALUES)
    listed = ", ".join(lit(f) for f in files)
    sql = (
        f"read_csv([{listed}], delim = {lit(attrs['delimiter'])}, quote = '\"', "
        f"escape = '\"', header = {str(bool(attrs['header'])).lower()}, "
        f"columns = {{{columns}}}, auto_detect = false, nullstr = [{nulls}], "
        f"null_padding = true, encoding = {lit(encoding)}, buffer_size = {_CSV_BUFFER}, "
        f"compression = {lit('gzip' if magic[:2] == _GZIP else 'none')})"
    )
    return sample, Scan(sql, name, dict.fromkeys(sample.columns, "VARCHAR"))


def _head(path: str, n: int, name: str) -> bytes:
    """The first ``n`` data lines (and the header) of a text file, decompressed."""
    opener = gzip.open if _magic(path)[:2] == _GZIP else open
    try:
        with opener(path, "rb") as fh:
            return b"".join(itertools.islice(fh, n + 1))
    except (OSError, EOFError, zlib.error) as exc:
        raise EventDataError(
            [f"'{name}' cannot be read ({exc}). The file is probably truncated: export it again."]
        ) from exc


def _types(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, str]:
    rel = con.sql(f"SELECT * FROM {sql}")
    return {str(c).strip(): str(t) for c, t in zip(rel.columns, rel.types, strict=True)}


def open_source(
    path: str | os.PathLike,
    schema: SchemaConfig = _DEFAULT_SCHEMA,
    engine: EngineConfig = _DEFAULT_ENGINE,
    progress: Progress | None = None,
) -> EventSource:
    """``path`` opened out of core as an :class:`EventSource` on a DuckDB engine with the
    ``[engine]`` settings (threads, memory limit, spill directory); see :func:`open_events`."""
    from churn_core.engine.duck import DuckEngine, DuckSettings
    from churn_core.engine.source import EventSource

    settings = DuckSettings(engine.threads, engine.memory_limit, engine.temp_directory)
    duck = DuckEngine(settings)
    try:
        opened = open_events(duck.con, path, schema, engine.sample_rows, progress=progress)
    except BaseException:
        duck.close()
        raise
    source = EventSource(duck, "events", opened.report, opened.has_amount)
    source._cache["types"] = sorted(opened.event_types)  # known already: no second scan
    return source
