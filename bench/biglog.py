"""Large synthetic e-commerce logs (1M, 10M, 50M events), generated once in chunks and cached.

Usage: ``python bench/biglog.py [--sizes 1M,10M,50M] [--csv]`` prints the cached paths
(generating what is missing). ``bench/bench_scale.py`` calls :func:`ensure_log`.

What a log is
    The concatenation of independent chunks of ``CHUNK_USERS`` users each. Chunk ``k`` is
    ``churn_core.datasets.synthetic_events(n_users=CHUNK_USERS, seed=k, events_per_user=20)``
    (views, searches, carts, purchases with amounts, reviews; items and categories; the planted
    cart-abandonment churn cause, over the same 240-day timeline) with its user ids shifted to
    ``u{k * CHUNK_USERS + i:07d}``. So chunk 0 is exactly bench/bench_core.py's 1M-event log (up
    to the user-id width), the 1M log is a prefix of the 10M log, which is a prefix of the 50M
    log, and every size has ~20 events per user (1M: 50k users, 10M: 500k, 50M: 2.5M).
    Within a chunk the rows are sorted by user and time; chunks follow each other by user id.

Bounded memory
    One chunk (~1M events) is held at a time and appended to a ``pyarrow.parquet.ParquetWriter``
    (row groups of ``ROW_GROUP`` rows; timestamps as ``timestamp[us]`` so Spark reads them) and,
    when asked, to a gzip CSV stream. Peak RSS stays well under 1 GB whatever the size.

Cache
    ``bench/.cache/`` (gitignored): ``biglog_<size>.parquet``, ``biglog_<size>.csv.gz`` and a
    ``.json`` sidecar (rows, users, generator version, seconds). A file is written under a
    temporary name and renamed when complete, so an interrupted run never leaves a truncated
    log that looks finished. Delete the folder to regenerate.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CACHE = Path(__file__).resolve().parent / ".cache"
CHUNK_USERS = 50_000  # ~1.007M events per chunk at 20 events per user
EVENTS_PER_USER = 20.0
DAYS = 240
ROW_GROUP = 250_000
VERSION = 1  # bump when the generator changes; cached files of another version are rebuilt
FORMATS = ("parquet", "csv.gz")


def parse_size(text: str) -> int:
    """``"1M"`` -> 1_000_000, ``"100k"`` -> 100_000, ``"2500000"`` -> 2_500_000 (events)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if m is None:
        raise ValueError(f"size {text!r}: write a number of events such as 1M, 10M or 100k.")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    events = int(float(m.group(1)) * scale)
    if events < 1_000:
        raise ValueError(f"size {text!r}: at least 1k events.")
    return events


def size_label(events: int) -> str:
    """1_000_000 -> ``"1M"``, 100_000 -> ``"100k"``."""
    if events % 1_000_000 == 0:
        return f"{events // 1_000_000}M"
    if events % 1_000 == 0:
        return f"{events // 1_000}k"
    return str(events)


def plan(events: int) -> tuple[int, int]:
    """(users per chunk, number of chunks) for a log of about ``events`` events."""
    users = max(1, round(events / EVENTS_PER_USER))
    chunk = min(CHUNK_USERS, users)
    return chunk, max(1, round(users / chunk))


def chunks(events: int) -> Iterator[pd.DataFrame]:
    """The log's chunks in order, each a canonical frame with globally numbered user ids."""
    from churn_core.datasets import synthetic_events

    chunk_users, n_chunks = plan(events)
    for k in range(n_chunks):
        frame = synthetic_events(
            n_users=chunk_users, days=DAYS, seed=k, events_per_user=EVENTS_PER_USER
        )
        local = frame["user_id"].str.slice(1).astype(np.int64).to_numpy()
        offset = k * chunk_users
        frame["user_id"] = pd.array([f"u{offset + i:07d}" for i in local], dtype="str")
        yield frame


def _schema():  # pyarrow imported lazily: --help stays fast
    import pyarrow as pa

    return pa.schema(
        [
            ("user_id", pa.string()),
            ("timestamp", pa.timestamp("us")),
            ("event_type", pa.string()),
            ("amount", pa.float64()),
            ("item_id", pa.string()),
            ("category", pa.string()),
        ]
    )


def paths(events: int) -> dict[str, Path]:
    """Cached file per format, plus ``"meta"`` (the JSON sidecar)."""
    stem = CACHE / f"biglog_{size_label(events)}"
    return {
        "parquet": stem.with_suffix(".parquet"),
        "csv.gz": stem.with_suffix(".csv.gz"),
        "meta": stem.with_suffix(".json"),
    }


def _meta(events: int) -> dict:
    p = paths(events)["meta"]
    if not p.exists():
        return {}
    meta = json.loads(p.read_text())
    return meta if meta.get("version") == VERSION else {}


def ensure_log(events: int, formats: tuple[str, ...] = ("parquet",), log=print) -> dict:
    """Generate the missing formats of the ``events``-sized log; returns its metadata.

    Metadata: ``rows``, ``users``, ``version``, ``files`` (format -> path) and
    ``generate_s`` (format -> seconds it took to write, in the run that wrote it).
    """
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r}: choose from {', '.join(FORMATS)}.")
    CACHE.mkdir(parents=True, exist_ok=True)
    p = paths(events)
    meta = _meta(events)
    missing = [f for f in formats if not (p[f].exists() and f in meta.get("files", {}))]
    if not missing:
        return meta
    import pyarrow as pa
    import pyarrow.parquet as pq

    log(f"generating {size_label(events)} events ({', '.join(missing)}) in {CACHE} ...")
    tmp = {f: p[f].with_name(p[f].name + ".part") for f in missing}
    schema = _schema()
    rows = users = 0
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        writer = gz = None
        if "parquet" in tmp:
            writer = stack.enter_context(pq.ParquetWriter(tmp["parquet"], schema))
        if "csv.gz" in tmp:
            gz = stack.enter_context(gzip.open(tmp["csv.gz"], "wt", compresslevel=6, newline=""))
        for i, frame in enumerate(chunks(events)):
            rows += len(frame)
            users += frame["user_id"].nunique()
            if writer is not None:
                table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
                writer.write_table(table, row_group_size=ROW_GROUP)
            if gz is not None:
                frame.to_csv(gz, index=False, header=i == 0, date_format="%Y-%m-%d %H:%M:%S")
            if (i + 1) % 10 == 0:
                log(f"  {rows:,} rows ({time.perf_counter() - t0:.0f} s)")
    seconds = time.perf_counter() - t0
    for f, path in tmp.items():
        os.replace(path, p[f])
    meta = {
        "version": VERSION,
        "rows": rows,
        "users": users,
        "files": {**meta.get("files", {}), **{f: str(p[f]) for f in missing}},
        "generate_s": {**meta.get("generate_s", {}), "+".join(missing): round(seconds, 1)},
    }
    p["meta"].write_text(json.dumps(meta, indent=1))
    log(f"  done: {rows:,} rows, {users:,} users in {seconds:.0f} s")
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1M,10M,50M", help="comma-separated, e.g. 1M,10M")
    ap.add_argument("--csv", action="store_true", help="also write CSV.gz (always for 1M)")
    args = ap.parse_args()
    for text in args.sizes.split(","):
        events = parse_size(text)
        formats = ("parquet", "csv.gz") if args.csv or events <= 1_000_000 else ("parquet",)
        meta = ensure_log(events, formats)
        for f in formats:
            print(f"{size_label(events)}\t{meta['rows']:,} rows\t{meta['files'][f]}")


if __name__ == "__main__":
    main()
