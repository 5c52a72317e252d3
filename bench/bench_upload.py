"""Peak memory of a 200 MB upload in the dashboard, next to the bare parse of the same file.

The file (a synthetic event log written as plain CSV, ``--mb`` MB) is generated once into
``$TMPDIR/churn-bench/`` and reused. Each row runs in a fresh child process and reports its
RSS before the step, its peak RSS during the step (``VmHWM``, reset before the step) and its
RSS after the step (after ``gc`` and ``malloc_trim``, with the result still held; pyarrow
uses the system allocator here so that freed memory is visible):

- bare parse: ``churn_core.ingest.load_events(path)`` (the baseline);
- app upload (this tree): AppTest uploads the file's bytes (as the Streamlit server holds
  them), the Data page streams them to a temp file, frees Streamlit's copy, parses from disk;
- app upload (``--old-ref``, default the commit before background runs): the same with the
  previous app (``churn_app/`` and ``app.py`` at that commit, today's ``churn_core``), whose
  Data page parsed the bytes through a global ``st.cache_data``.

Run: ``python bench/bench_upload.py [--mb 200] [--old-ref REF]``. The old tree is extracted
with ``git archive`` into a temp folder (the row is left out when that fails).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(tempfile.gettempdir()) / "churn-bench"
OLD_REF = "915a89d"  # the Data page before uploads were streamed to disk


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _reset_peak() -> None:
    """Start the peak (VmHWM) afresh, so earlier steps (the demo log) do not count."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_mb() -> float:
    hwm = _status_mb("VmHWM")
    return hwm if hwm == hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _settle() -> float:
    """RSS after garbage collection and handing freed heap back to the OS."""
    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return _rss_mb()


def make_file(mb: int) -> Path:
    """A synthetic event log of about ``mb`` MB as CSV (written once, then reused)."""
    path = CACHE / f"events_{mb}mb.csv"
    if path.is_file():
        return path
    sys.path.insert(0, str(REPO))
    from churn_core.datasets import synthetic_events

    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    target, part = mb * 1_000_000, 0
    with tmp.open("w") as out:
        while out.tell() < target:
            frame = synthetic_events(n_users=2_000, seed=part)
            frame["user_id"] = frame["user_id"] + f"_{part}"
            frame.to_csv(out, index=False, header=part == 0)
            part += 1
    tmp.replace(path)
    return path


def child(mode: str, file: Path, root: Path) -> dict:
    """One measurement in this (fresh) process."""
    sys.path.insert(0, str(root))
    os.chdir(root)
    if mode == "bare":
        from churn_core.ingest import load_events

        before = _settle()
        _reset_peak()
        t0 = time.perf_counter()
        log = load_events(file)
        seconds = time.perf_counter() - t0
        users = log.n_users
    else:
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(root / "app.py"), default_timeout=1800)
        at.run()
        before = _settle()
        _reset_peak()
        data = file.read_bytes()  # the server's copy of the uploaded file
        t0 = time.perf_counter()
        at.file_uploader(key="upload").upload(file.name, data, "text/csv").run()
        seconds = time.perf_counter() - t0
        if at.exception or at.session_state["data_name"] != file.name:
            raise SystemExit(f"upload failed: {at.exception or at.error}")
        users = at.session_state["log"].n_users
        del data
    peak = _peak_mb()
    return {"before": before, "peak": peak, "after": _settle(), "s": seconds, "users": users}


def _run_child(mode: str, file: Path, root: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--file", str(file), "--root", str(root)]
    # pyarrow's own allocator keeps freed memory; the system one lets malloc_trim return it
    env = {**os.environ, "PYTHONPATH": str(root), "ARROW_DEFAULT_MEMORY_POOL": "system"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _old_tree(ref: str) -> Path | None:
    dest = Path(tempfile.mkdtemp(prefix="churn-old-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref], capture_output=True, check=False
    )
    if archive.returncode != 0:
        print(f"(old tree {ref} not available: {archive.stderr.decode().strip()})")
        return None
    tar = dest / "old.tar"
    tar.write_bytes(archive.stdout)
    with tarfile.open(tar) as t:
        t.extractall(dest, filter="data")
    # only the app is old: today's core, so the row measures the Data page's change alone
    shutil.rmtree(dest / "churn_core")
    shutil.copytree(REPO / "churn_core", dest / "churn_core")
    return dest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=int, default=200)
    p.add_argument("--old-ref", default=OLD_REF)
    p.add_argument("--child")
    p.add_argument("--file", type=Path)
    p.add_argument("--root", type=Path, default=REPO)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.file, args.root)))
        return
    file = make_file(args.mb)
    size = file.stat().st_size / 1e6
    rows = [("bare parse: load_events(path) (baseline)", _run_child("bare", file, REPO))]
    rows.append(
        ("app upload, this tree (temp file, parsed from disk)", _run_child("app", file, REPO))
    )
    old = _old_tree(args.old_ref)
    if old is not None:
        rows.append(
            (
                f"app upload, app at {args.old_ref} (bytes via st.cache_data)",
                _run_child("app", file, old),
            )
        )
    base = rows[0][1]
    inc0 = base["peak"] - base["before"]
    print(f"File: {file} ({size:,.0f} MB, {base['users']:,} users)\n")
    print(
        "| step | s | RSS before MB | peak RSS MB | peak − before MB | ratio to bare parse "
        "| RSS after MB | held after − before MB |\n|---|---|---|---|---|---|---|---|"
    )
    for name, r in rows:
        inc = r["peak"] - r["before"]
        print(
            f"| {name} | {r['s']:.1f} | {r['before']:,.0f} | {r['peak']:,.0f} | {inc:,.0f} "
            f"| {inc / inc0:.2f} | {r['after']:,.0f} | {r['after'] - r['before']:,.0f} |"
        )


if __name__ == "__main__":
    main()
