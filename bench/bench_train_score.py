"""``churn train`` + ``churn score`` from the CLI against the naive pandas reference (issue 13).

Usage::

    python bench/bench_train_score.py [--quick] [--rounds 3] [--baseline-tree /work/main ...]

The seeded synthetic log of ``bench_core.py`` (50k users, about 1M events; ``--quick``: 5k
users, about 100k events) is generated once and cached as a CSV under ``bench/.cache/``
(gitignored). Every measurement is a child process, as a user would run it:

* ``python -m churn_core train LOG --horizon-days 30 --model-dir DIR`` (5-fold CV,
  out-of-time backtest, calibration, final fit, bundle),
* ``python -m churn_core score LOG --model-dir DIR --out at_risk.csv`` (with reasons),
* ``python bench/naive_reference.py LOG --horizon-days 30`` (the naive pandas script),
* with ``--baseline-tree``, the same train + score from another checkout (e.g. main).

They alternate round by round (naive, train, score, ...) so that the load of a shared machine
hits all alike; the table gives the median over rounds of wall seconds, CPU seconds (user +
system of the child) and peak RSS (the child's ``ru_maxrss``), and the ratios of wall and CPU
to the naive reference. Threads are limited to 2 (OMP/BLAS variables). On a busy machine read
the CPU ratio as well as the wall one.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
FULL_USERS, QUICK_USERS, EVENTS_PER_USER, HORIZON = 50_000, 5_000, 20.0, 30
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cached_log(n_users: int) -> Path:
    """The synthetic log as a CSV, generated on first use (seed 0, 20 events per user)."""
    path = CACHE / f"synthetic_{n_users}u.csv"
    if not path.exists():
        sys.path.insert(0, str(ROOT))
        from churn_core.datasets import synthetic_events

        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        events = synthetic_events(n_users=n_users, seed=0, events_per_user=EVENTS_PER_USER)
        events.to_csv(tmp, index=False)
        tmp.rename(path)
    return path


def raise_on_failure(rc: int, cmd: list[str], out: str, err: str) -> None:
    """A failed child is a failed benchmark: its command and the ends of its output."""
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({rc}):\n{out[-2000:]}\n{err[-3000:]}")


def measure(cmd: list[str], tree: Path) -> dict[str, float]:
    """Run ``cmd`` in ``tree`` and reap it with ``os.wait4``: wall, CPU seconds, peak RSS."""
    path = os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, **dict.fromkeys(THREAD_VARS, "2")}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        raise_on_failure(proc.returncode, cmd, out.read(), err.read())
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024.0,  # Linux: KiB
    }


def commands(log: Path, work: Path, tag: str) -> dict[str, list[str]]:
    """The train and score command lines of one tree (bundle and output under ``work``)."""
    py = sys.executable
    model, out = work / f"model_{tag}", work / f"at_risk_{tag}.csv"
    common = [str(log), "-q"]
    train = [py, "-m", "churn_core", "train", *common, "--horizon-days", str(HORIZON)]
    score = [py, "-m", "churn_core", "score", *common, "--out", str(out)]
    return {
        "train": [*train, "--model-dir", str(model)],
        "score": [*score, "--model-dir", str(model)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5k users, about 100k events")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (median kept)")
    ap.add_argument(
        "--baseline-tree",
        type=Path,
        action="append",
        default=[],
        help="another checkout to time the same way (repeatable)",
    )
    args = ap.parse_args()

    log = cached_log(QUICK_USERS if args.quick else FULL_USERS).resolve()
    trees = {"this tree": ROOT}
    for other in args.baseline_tree:
        trees[other.resolve().name] = other.resolve()
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        naive = [sys.executable, str(ROOT / "bench" / "naive_reference.py"), str(log)]
        naive += ["--horizon-days", str(HORIZON), "--out", str(work / "naive.csv")]
        for r in range(args.rounds):
            runs.setdefault("naive pandas reference", []).append(measure(naive, ROOT))
            for name, tree in trees.items():
                cmds = commands(log, work, f"{name.replace(' ', '_')}{r}")
                train = measure(cmds["train"], tree)
                score = measure(cmds["score"], tree)
                both = {
                    "wall": train["wall"] + score["wall"],
                    "cpu": train["cpu"] + score["cpu"],
                    "rss_mb": max(train["rss_mb"], score["rss_mb"]),
                }
                runs.setdefault(f"train ({name})", []).append(train)
                runs.setdefault(f"score ({name})", []).append(score)
                runs.setdefault(f"train + score ({name})", []).append(both)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    med = {k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in runs.items()}
    ref = med["naive pandas reference"]
    n_events = sum(1 for _ in log.open()) - 1
    print(
        f"log: {log.name} ({n_events:,} events), horizon {HORIZON}; {args.rounds} rounds, "
        f"medians; threads 2; cpu count {os.cpu_count()}; python {platform.python_version()}\n"
    )
    print("| run | wall s | CPU s | peak RSS MiB | wall / naive | CPU / naive |")
    print("|---|---|---|---|---|---|")
    for name, m in med.items():
        print(
            f"| {name} | {m['wall']:.2f} | {m['cpu']:.2f} | {m['rss_mb']:,.0f} | "
            f"{m['wall'] / ref['wall']:.2f} | {m['cpu'] / ref['cpu']:.2f} |"
        )


if __name__ == "__main__":
    main()
