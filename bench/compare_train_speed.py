"""End-to-end ``pipeline.train`` on bench_core's 1M-event synthetic log: this tree vs another.

Usage::

    python bench/compare_train_speed.py --other /work/main [--rounds 2] [--users 50000]

Each tree trains in its own child process (its own imports), alternating A B A B so that the
load of a shared machine hits both alike. Prints wall and CPU seconds (user + system of the
child, both BLAS threads counted) and their ratios to the other tree; on a busy machine read
the CPU ratio. Threads are limited to 2, like ``bench_core.py``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "2"

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _child(root: str, csv: str) -> None:
    sys.dont_write_bytecode = True  # never write into the other tree
    sys.path.insert(0, root)
    warnings.filterwarnings("ignore")
    from threadpoolctl import threadpool_limits

    from churn_core.config import ChurnConfig
    from churn_core.ingest import load_events
    from churn_core.pipeline import train

    with threadpool_limits(2):
        log = load_events(csv)
        cfg = ChurnConfig().with_(label={"horizon_days": 30})
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        run = train(log, cfg)
        wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
    auc = float(run.cv.summary.loc["roc_auc", "mean"])
    print(json.dumps({"wall": wall, "cpu": cpu, "cv_auc": auc}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", required=True, help="the other checkout (read only)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return
    sys.path.insert(0, str(ROOT))
    from churn_core.datasets import synthetic_events

    trees = {"this": str(ROOT), "other": str(Path(args.other).resolve())}
    results: dict[str, list[dict]] = {k: [] for k in trees}
    with tempfile.TemporaryDirectory() as tmp:
        csv = str(Path(tmp) / "synthetic.csv")
        synthetic_events(n_users=args.users, seed=0, events_per_user=20.0).to_csv(csv, index=False)
        for _ in range(args.rounds):
            for name, root in (("other", trees["other"]), ("this", trees["this"])):
                cmd = [sys.executable, "-B", __file__, "--other", args.other, "--child", root, csv]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                results[name].append(json.loads(out.strip().splitlines()[-1]))
    med = {
        k: {m: sorted(r[m] for r in v)[len(v) // 2] for m in ("wall", "cpu")}
        for k, v in results.items()
    }
    print("| tree | wall s (median) | CPU s (median) | CV ROC-AUC |")
    print("|---|---|---|---|")
    for k in ("other", "this"):
        auc = results[k][-1]["cv_auc"]
        print(f"| {k} ({trees[k]}) | {med[k]['wall']:.1f} | {med[k]['cpu']:.1f} | {auc:.3f} |")
    ratio_w = med["this"]["wall"] / med["other"]["wall"]
    ratio_c = med["this"]["cpu"] / med["other"]["cpu"]
    print(f"\nthis / other: wall {ratio_w:.2f}x, CPU {ratio_c:.2f}x ({args.rounds} rounds)")


if __name__ == "__main__":
    main()
