"""bench/biglog.py (chunked cached logs) and bench/bench_scale.py (measuring children)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import bench_scale  # noqa: E402
import biglog  # noqa: E402

from churn_core.datasets import synthetic_events  # noqa: E402


def test_sizes_parse_and_print():
    assert biglog.parse_size("1M") == 1_000_000
    assert biglog.parse_size("100k") == 100_000
    assert biglog.parse_size("2.5M") == 2_500_000
    assert biglog.size_label(50_000_000) == "50M"
    assert biglog.size_label(100_000) == "100k"
    with pytest.raises(ValueError, match="number of events"):
        biglog.parse_size("lots")


def test_chunks_are_seeded_synthetic_logs_with_disjoint_users(monkeypatch):
    monkeypatch.setattr(biglog, "CHUNK_USERS", 60)
    parts = list(biglog.chunks(6_000))  # 300 users -> 5 chunks of 60
    assert len(parts) == 5
    first = synthetic_events(n_users=60, days=biglog.DAYS, seed=0, events_per_user=20.0)
    expected = first.assign(user_id=first["user_id"].str.replace("u", "u00", n=1))
    pd.testing.assert_frame_equal(parts[0], expected)
    users = [set(p["user_id"]) for p in parts]
    assert sum(map(len, users)) == len(set().union(*users))
    assert min(parts[4]["user_id"]) >= "u0000240"


def test_ensure_log_writes_complete_files_once(monkeypatch, tmp_path):
    monkeypatch.setattr(biglog, "CACHE", tmp_path)
    monkeypatch.setattr(biglog, "CHUNK_USERS", 50)
    meta = biglog.ensure_log(4_000, ("parquet", "csv.gz"), log=lambda _: None)
    table = pq.read_table(meta["files"]["parquet"])
    csv = pd.read_csv(meta["files"]["csv.gz"])
    assert table.num_rows == len(csv) == meta["rows"]
    assert table.column("user_id").to_pandas().nunique() == meta["users"]
    assert str(table.schema.field("timestamp").type) == "timestamp[us]"
    assert not list(tmp_path.glob("*.part"))
    stamp = Path(meta["files"]["parquet"]).stat().st_mtime_ns
    again = biglog.ensure_log(4_000, ("parquet",), log=lambda _: None)
    assert again == meta
    assert Path(meta["files"]["parquet"]).stat().st_mtime_ns == stamp


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_measure_reports_peak_rss_of_a_child(tmp_path):
    step = bench_scale.measure(
        _py(
            "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
            "time.sleep(0.5)"
        ),  # fmt: skip
        limit_bytes=4 * 2**30,
        timeout_s=60,
        log_path=tmp_path / "log",
    )
    assert step.status == "ok"
    assert 0.29 < step.peak_rss_gb < 1.0


def test_measure_kills_a_child_over_the_memory_limit(tmp_path):
    code = "import time; b = bytearray(600 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
    step = bench_scale.measure(
        _py(code + "time.sleep(30)"),
        limit_bytes=200 * 2**20,
        timeout_s=60,
        log_path=tmp_path / "log",
    )
    assert step.status == "over limit"
    assert step.wall_s is None


def test_measure_reports_a_failing_child(tmp_path):
    step = bench_scale.measure(_py("raise SystemExit('no such log')"), 2**30, 60, tmp_path / "log")
    assert step.status == "failed"
    assert "no such log" in step.note


def _cell(engine: str, size: str, events: int, seconds: float, gb: float) -> bench_scale.Cell:
    train = bench_scale.Step("ok", seconds * 0.7, gb)
    score = bench_scale.Step("ok", seconds * 0.3, gb / 2)
    return bench_scale.Cell(engine, size, events, events // 20, train, score)


def test_table_ratios_and_targets():
    naive = bench_scale.Step("ok", 10.0, 0.5)
    cells = [
        _cell("duckdb", "1M", 1_000_000, 5.0, 1.0),
        _cell("duckdb", "10M", 10_000_000, 40.0, 2.0),
        _cell("duckdb", "50M", 50_000_000, 160.0, 3.0),
        _cell("local", "1M", 1_000_000, 20.0, 1.0),
        _cell("local", "10M", 10_000_000, 100.0, 6.0),
        _cell("local", "50M", 50_000_000, 900.0, 5.0),
    ]
    text = bench_scale.table(cells, naive, "1M")
    row = "| duckdb | 1M | 1,000,000 | 50,000 | 3.5 | 1.00 | 1.5 | 0.50 | 5.0 | 200,000 "
    assert row + "| 0.50 | 2.00 |" in text
    assert "duckdb: train+score time 10M -> 50M grows 4.00x" in text
    assert "meets the <= 5x target" in text
    assert "local: train+score time 10M -> 50M grows 9.00x for 5.00x events (misses" in text
    assert "duckdb: peak RSS at 50M 3.00 GB (ok/ok; meets the <= 4 GB target)" in text
    assert "local: peak RSS at 50M 5.00 GB (ok/ok; misses the <= 4 GB target)" in text


def test_local_engine_is_skipped_where_linear_memory_would_pass_the_limit():
    prev = _cell("local", "10M", 10_000_000, 100.0, 6.0)
    reason = bench_scale.skip_reason("local", {"rows": 50_000_000}, prev, 12 * 2**30)
    assert "~28 GB expected" in reason
    assert bench_scale.skip_reason("duckdb", {"rows": 50_000_000}, prev, 12 * 2**30) == ""
    failed = bench_scale.Cell("duckdb", "10M", 10, 1, bench_scale.Step("timeout"), prev.score)
    assert bench_scale.skip_reason("duckdb", {"rows": 50}, failed, 2**30) == "timeout/ok at 10M"
