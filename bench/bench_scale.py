"""Time and peak memory of ``churn train`` + ``churn score`` per engine at 1M, 10M and 50M events.

Usage::

    python bench/bench_scale.py [--sizes 1M,10M,50M] [--engines local,duckdb,spark] [--quick]
                                [--campaign]

``--quick``: 100k events, naive reference at 100k (a smoke test of the harness, < 1 min).
``--config FILE.toml`` is passed to ``train`` (e.g. ``[engine] memory_limit = "2GB"``); the
bundle keeps those engine settings for ``score``. The table then names the engine
``duckdb [FILE.toml]``.

Logs come from ``bench/biglog.py`` (seeded synthetic views/searches/carts/purchases/reviews,
~20 events per user, generated once in chunks and cached in ``bench/.cache/``). Every step is
the real CLI as an analyst would run it, in a child process::

    python -m churn_core train LOG --model-dir DIR --horizon-days 30 [--engine E]
    python -m churn_core score LOG --model-dir DIR --out scores.csv [--engine E]
    python -m churn_core campaign LOG --model-dir DIR --out list.csv [--engine E]  # --campaign

Measured per step: wall time of the child (interpreter start and imports included) and peak
RSS of its whole process tree (the child plus everything it starts, e.g. Spark's JVM), polled
from ``/proc`` every 0.1 s in the child's session and merged with the child's own
``ru_maxrss``. A watchdog kills the tree when it goes above ``--mem-limit-gb`` (default 12 GB,
lowered to what the machine has available minus 1.5 GB) or runs past ``--timeout``, and the
table says "over limit" / "timeout" instead of a figure. When train does not finish at a
size, score still runs there with the bundle trained at the previous size (said in a note).
The in-memory ``local`` engine is not started at a size where its peak, extrapolated from the
previous size (0.4 GB of imports plus a part linear in the events), would pass the limit
("skipped" in the table). The watchdog also kills a child when the machine has less than
1 GB available (other people's processes).

The naive pandas reference (``bench/naive_reference.py``, features at two cutoffs, logistic
regression and gradient boosting, no CV; it reads CSV, so it gets the 1M log as CSV.gz, from
which ``--format csv.gz`` runs the engines too) runs in the same run; the 1M rows show
time and memory as ratios against it. Below the table: the 10M -> 50M growth of train+score
time per engine (target <= 5x for 5x events, i.e. no worse than linear) and the peak RSS at
50M (target <= 4 GB). Results also go to ``bench/.cache/bench_scale_<time>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from biglog import CACHE, ensure_log, parse_size, size_label  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAIVE = ROOT / "bench" / "naive_reference.py"
HORIZON = 30
THREADS = "2"
POLL_S = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")
GB = 1024**3
IMPORTS_GB = 0.4  # RSS of the CLI after its imports, not proportional to the log
LOW_MEMORY = 1 * GB  # the watchdog also kills a child when the machine has less available


@dataclass
class Step:
    """One measured child process."""

    status: str  # ok | failed | over limit | timeout | skipped | not available
    wall_s: float | None = None
    peak_rss_gb: float | None = None
    note: str = ""


@dataclass
class Cell:
    """One engine at one size: train then score."""

    engine: str
    size: str
    events: int
    users: int
    train: Step
    score: Step
    campaign: Step | None = None  # with --campaign: `churn campaign` with the same bundle
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.train.status == "ok" and self.score.status == "ok"

    @property
    def total_s(self) -> float | None:
        return self.train.wall_s + self.score.wall_s if self.ok else None

    @property
    def peak_gb(self) -> float | None:
        peaks = [s.peak_rss_gb for s in (self.train, self.score) if s.peak_rss_gb is not None]
        return max(peaks) if peaks else None


# ---- measuring a child process ------------------------------------------------------------


def _session_rss(sid: int) -> int:
    """Summed RSS (bytes) of every process whose session id is ``sid``."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        # after "pid (comm) ": state ppid pgrp session ... rss is field 24 overall (index 21 here)
        if int(fields[3]) == sid:
            total += int(fields[21]) * PAGE
    return total


def _kill_session(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def measure(cmd: list[str], limit_bytes: int, timeout_s: float, log_path: Path) -> Step:
    """Run ``cmd`` in its own session; wall time, peak tree RSS, watchdog on memory and time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = THREADS
    with open(log_path, "w") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        peak, killed = 0, ""
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = _session_rss(proc.pid)
            peak = max(peak, rss)
            if rss > limit_bytes:
                killed = "over limit"
            elif mem_available() < LOW_MEMORY:
                killed = "machine low on memory"
            elif time.perf_counter() - t0 > timeout_s:
                killed = "timeout"
            if killed:
                _kill_session(proc.pid)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(POLL_S)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    _kill_session(proc.pid)  # anything the child left behind (a JVM, workers)
    peak = max(peak, usage.ru_maxrss * 1024)
    if killed == "over limit":
        return Step("over limit", None, peak / GB, f"killed above {limit_bytes / GB:.1f} GB")
    if killed == "machine low on memory":
        return Step("over limit", None, peak / GB, "killed: machine below 1 GB available")
    if killed:
        return Step("timeout", None, peak / GB, f"killed after {timeout_s:.0f} s")
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        return Step("failed", wall, peak / GB, f"exit {proc.returncode}: {tail[0][:120]}")
    return Step("ok", wall, peak / GB)


# ---- engines ------------------------------------------------------------------------------


def cli_engines() -> list[str] | None:
    """Engine choices of ``churn train --engine`` on this branch, or None without the flag."""
    out = subprocess.run(
        [sys.executable, "-m", "churn_core", "train", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    m = re.search(r"--engine \{([^}]*)\}", out)
    if m:
        return [e.strip() for e in m.group(1).split(",")]
    return [] if "--engine" in out else None


def engine_args(engine: str, choices: list[str] | None) -> list[str] | None:
    """CLI arguments selecting ``engine``; None when this branch's CLI does not offer it."""
    if choices is None:  # no --engine flag yet: today's path is the local engine
        return [] if engine == "local" else None
    if choices and engine not in choices:
        return None
    return ["--engine", engine]


# ---- the run ------------------------------------------------------------------------------


def run_cell(
    engine: str,
    events: int,
    meta: dict,
    path: str,
    args: argparse.Namespace,
    choices: list[str] | None,
    work: Path,
    limit: int,
    fallback: tuple[str, str] | None = None,
) -> Cell:
    """Train then score with one engine on one log.

    When train does not finish and ``fallback`` (size, bundle folder) holds a bundle trained
    by the same engine on a smaller log, score still runs with that bundle (said in a note),
    so that the memory of scoring is measured at this size too. The bundle folder of a
    finished train is kept in ``cell.extra["model_dir"]``.
    """
    label = size_label(events)
    cell = Cell(
        engine_name(engine, args),
        label,
        meta["rows"],
        meta["users"],
        Step("skipped"),
        Step("skipped"),
    )
    extra = engine_args(engine, choices)
    if extra is None:
        cell.train = cell.score = Step("not available", note="no such --engine on this branch")
        return cell
    model_dir = work / f"model_{engine}_{label}"
    py = [sys.executable, "-m", "churn_core"]
    train = [*py, "train", path, "--model-dir", str(model_dir)]
    train += ["--horizon-days", str(HORIZON), *extra]
    if args.config:  # score takes the engine settings from the bundle
        train += ["--config", str(args.config)]
    logs = CACHE / "logs"
    logs.mkdir(exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", cell.engine).strip("_") + f"_{label}"
    print(f"  {engine} {label}: train ...", flush=True)
    cell.train = measure(train, limit, args.timeout, logs / f"{slug}_train.log")
    print(f"    {_step_text(cell.train)}", flush=True)
    note = ""
    if cell.train.status == "ok":
        cell.extra["model_dir"] = str(model_dir)
    elif fallback is None:
        cell.score = Step("skipped", note="train did not finish")
        return cell
    else:
        model_dir = Path(fallback[1])
        note = f"scored with the {fallback[0]} bundle (train {cell.train.status})"
    out = work / f"scores_{engine}_{label}.csv"
    score = [*py, "score", path, "--model-dir", str(model_dir), "--out", str(out), *extra]
    print(f"  {engine} {label}: score{' ' + note if note else ''} ...", flush=True)
    cell.score = measure(score, limit, args.timeout, logs / f"{slug}_score.log")
    cell.score.note = "; ".join(x for x in (note, cell.score.note) if x)
    print(f"    {_step_text(cell.score)}", flush=True)
    if out.exists():
        with open(out) as fh:
            cell.extra["scored_rows"] = sum(1 for _ in fh) - 1
        out.unlink()
    if args.campaign and cell.score.status == "ok":
        plan = work / f"campaign_{engine}_{label}.csv"
        campaign = [*py, "campaign", path, "--model-dir", str(model_dir), "--out", str(plan)]
        print(f"  {engine} {label}: campaign ...", flush=True)
        cell.campaign = measure(
            [*campaign, *extra], limit, args.timeout, logs / f"{slug}_campaign.log"
        )
        print(f"    {_step_text(cell.campaign)}", flush=True)
        plan.unlink(missing_ok=True)
    return cell


def engine_name(engine: str, args: argparse.Namespace) -> str:
    """The engine as the table shows it: with the config file's name when one is given."""
    return f"{engine} [{Path(args.config).name}]" if args.config else engine


def run_naive(path: str, args: argparse.Namespace, limit: int) -> Step:
    """The naive pandas reference on ``path``, measured like the CLI steps."""
    if not NAIVE.exists():
        return Step("not available", note=f"{NAIVE.relative_to(ROOT)} is not on this branch")
    out = Path(tempfile.gettempdir()) / f"bench_scale_naive_{os.getpid()}.csv"
    cmd = [sys.executable, str(NAIVE), path, "--horizon-days", str(HORIZON), "--out", str(out)]
    print("  naive reference ...", flush=True)
    step = measure(cmd, limit, args.timeout, CACHE / "logs" / "naive.log")
    print(f"    {_step_text(step)}", flush=True)
    out.unlink(missing_ok=True)
    return step


def _step_text(step: Step) -> str:
    if step.status == "ok":
        return f"{step.wall_s:.1f} s, {step.peak_rss_gb:.2f} GB"
    rss = f" (peak {step.peak_rss_gb:.2f} GB)" if step.peak_rss_gb else ""
    return f"{step.status}{rss}" + (f": {step.note}" if step.note else "")


def skip_reason(engine: str, meta: dict, prev: Cell | None, limit: int) -> str:
    """Why not to run ``engine`` on this log given the previous (smaller) size; "" to run."""
    if prev is None or prev.train.status == "not available":
        return ""
    if not prev.ok:
        return f"{prev.train.status}/{prev.score.status} at {prev.size}"
    if engine == "local" and prev.peak_gb:
        grow = max(prev.peak_gb - IMPORTS_GB, 0.0) * meta["rows"] / prev.events
        expected = IMPORTS_GB + grow
        if expected * GB > limit:
            return (
                f"~{expected:.0f} GB expected ({IMPORTS_GB} GB + linear from {prev.size}) "
                f"> {limit / GB:.1f} GB watchdog"
            )
    return ""


def mem_available() -> int:
    """MemAvailable from /proc/meminfo, bytes."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


# ---- the table ----------------------------------------------------------------------------


def _fmt_s(step: Step) -> str:
    return f"{step.wall_s:.1f}" if step.status == "ok" else step.status


def _fmt_gb(step: Step) -> str:
    return f"{step.peak_rss_gb:.2f}" if step.peak_rss_gb is not None else "–"


def table(cells: list[Cell], naive: Step | None, naive_size: str) -> str:
    """The markdown table plus the growth and memory verdicts."""
    head = (
        "| engine | log | events | users | train s | train peak GB | score s | score peak GB "
        f"| train+score s | events/s | time / naive@{naive_size} | peak RSS / naive |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    naive_ok = naive is not None and naive.status == "ok"
    if naive is not None:
        one = "1.00" if naive_ok else ""
        lines.append(
            f"| naive pandas reference | {naive_size} | | | {_fmt_s(naive)} | {_fmt_gb(naive)} "
            f"| | | {_fmt_s(naive)} | | {one} | {one} |"
        )
    for c in cells:
        total = f"{c.total_s:.1f}" if c.ok else "–"
        rate = f"{c.events / c.total_s:,.0f}" if c.ok else "–"
        t_ratio = m_ratio = ""
        if naive_ok and c.size == naive_size and c.ok:
            t_ratio = f"{c.total_s / naive.wall_s:.2f}"
            m_ratio = f"{c.peak_gb / naive.peak_rss_gb:.2f}"
        lines.append(
            f"| {c.engine} | {c.size} | {c.events:,} | {c.users:,} | {_fmt_s(c.train)} "
            f"| {_fmt_gb(c.train)} | {_fmt_s(c.score)} | {_fmt_gb(c.score)} | {total} | {rate} "
            f"| {t_ratio} | {m_ratio} |"
        )
    notes = [f"- naive reference: {naive.status}: {naive.note}"] if naive and naive.note else []
    notes += [
        f"- {c.engine} {c.size}: {s.status} ({name}): {s.note}"
        for c in cells
        for name, s in (("train", c.train), ("score", c.score))
        if s.note
    ]
    verdicts = []
    for engine in dict.fromkeys(c.engine for c in cells):
        by = {c.size: c for c in cells if c.engine == engine}
        a, b = by.get("10M"), by.get("50M")
        if a and b and a.ok and b.ok:
            growth = b.total_s / a.total_s
            ok = "meets" if growth <= 5.0 else "misses"
            verdicts.append(
                f"- {engine}: train+score time 10M -> 50M grows {growth:.2f}x for "
                f"{b.events / a.events:.2f}x events ({ok} the <= 5x target)"
            )
        if b and b.peak_gb is not None:
            ok = "meets" if b.ok and b.peak_gb <= 4.0 else "misses"
            verdicts.append(
                f"- {engine}: peak RSS at 50M {b.peak_gb:.2f} GB "
                f"({b.train.status}/{b.score.status}; {ok} the <= 4 GB target)"
            )
    parts = ["\n".join(lines)]
    planned = [c for c in cells if c.campaign is not None]
    if planned:
        rows = [
            "| engine | log | campaign s | campaign peak GB | campaign / score time |",
            "|---|---|---:|---:|---:|",
        ]
        for c in planned:
            ratio = ""
            if c.campaign.status == "ok" and c.score.status == "ok":
                ratio = f"{c.campaign.wall_s / c.score.wall_s:.2f}"
            took, peak = _fmt_s(c.campaign), _fmt_gb(c.campaign)
            rows.append(f"| {c.engine} | {c.size} | {took} | {peak} | {ratio} |")
        parts.append("\n".join(rows))
        notes += [
            f"- {c.engine} {c.size}: campaign {c.campaign.status}: {c.campaign.note}"
            for c in planned
            if c.campaign.note
        ]
    if notes:
        parts.append("\n".join(notes))
    if verdicts:
        parts.append("\n".join(verdicts))
    return "\n\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1M,10M,50M", help="comma-separated, e.g. 1M,10M")
    ap.add_argument("--engines", default=None, help="default: every --engine choice of the CLI")
    ap.add_argument("--quick", action="store_true", help="100k events only (harness smoke test)")
    ap.add_argument("--format", choices=("parquet", "csv.gz"), default="parquet")
    ap.add_argument("--naive-size", default="1M", help="log size for the naive reference")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive reference")
    ap.add_argument("--mem-limit-gb", type=float, default=12.0, help="watchdog (process tree)")
    ap.add_argument(
        "--config", help="TOML passed to train (e.g. an [engine] memory_limit); score inherits it"
    )
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per step")
    ap.add_argument(
        "--campaign",
        action="store_true",
        help="also run `churn campaign` (score, plan, reasons and items of the list) per cell",
    )
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.naive_size = "100k", "100k"
    sizes = sorted({parse_size(s) for s in args.sizes.split(",")})
    choices = cli_engines()
    engines = args.engines.split(",") if args.engines else (choices or ["local"])
    avail = mem_available()
    limit = int(min(args.mem_limit_gb * GB, avail - 1.5 * GB))
    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    print(
        f"{started}; cpus {os.cpu_count()}; load avg {load0[0]:.1f}; MemAvailable "
        f"{avail / GB:.1f} GB; watchdog {limit / GB:.1f} GB; engines on this CLI: {choices}",
        flush=True,
    )
    naive_events = parse_size(args.naive_size)
    formats = (args.format,)
    metas = {n: ensure_log(n, formats) for n in sizes}

    naive = None
    if not args.no_naive:  # it reads CSV (pandas.read_csv), so it gets the CSV.gz
        naive_log = ensure_log(naive_events, ("csv.gz",))["files"]["csv.gz"]
        naive = run_naive(naive_log, args, limit)
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        for engine in engines:
            prev: Cell | None = None
            bundle: tuple[str, str] | None = None  # (size, folder) of the last finished train
            for n in sizes:
                meta = metas[n]
                why = skip_reason(engine, meta, prev, limit)
                if why:
                    cell = Cell(
                        engine_name(engine, args),
                        size_label(n),
                        meta["rows"],
                        meta["users"],
                        Step("skipped", note=why),
                        Step("skipped"),
                    )
                else:
                    path = meta["files"][args.format]
                    cell = run_cell(engine, n, meta, path, args, choices, Path(tmp), limit, bundle)
                    if "model_dir" in cell.extra:
                        bundle = (cell.size, cell.extra.pop("model_dir"))
                cells.append(cell)
                prev = cell
    load1 = os.getloadavg()
    print(
        f"\nfinished {time.strftime('%H:%M')}; load avg {load0[0]:.1f} at start, "
        f"{load1[0]:.1f} at end (2 cores shared with other jobs: times are noisy); "
        f"logs {args.format}; python {platform.python_version()}\n"
    )
    print(table(cells, naive, size_label(naive_events)))
    record = {
        "started": started,
        "cpus": os.cpu_count(),
        "load": [load0[0], load1[0]],
        "format": args.format,
        "naive": asdict(naive) if naive else None,
        "cells": [{**asdict(c), "total_s": c.total_s} for c in cells],
    }
    out = CACHE / f"bench_scale_{time.strftime('%Y%m%d_%H%M%S')}.json"
    out.write_text(json.dumps(record, indent=1))
    print(f"\n(results: {out.relative_to(ROOT)}; child logs: {(CACHE / 'logs').relative_to(ROOT)})")


if __name__ == "__main__":
    main()
