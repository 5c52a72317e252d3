"""Labels + features at 5 cutoffs: the old numpy code (the test oracle) vs the shared SQL on DuckDB.

Usage: ``python scripts/measure_engine_features.py [--users 50000]`` (50k users ~ 1M events,
the synthetic log of bench/bench_core.py). Each variant runs in its own child process, in the
same run, so that peak RSS (``ru_maxrss`` minus the RSS once the log is built) is its own.
Threads are limited to 2 (BLAS env, DuckDB ``threads``). Prints a markdown table.
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
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    """CPU seconds of this process, all threads (robust to a busy shared machine)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _child(variant: str, users: int) -> dict:
    import pandas as pd

    from churn_core.config import LabelSpec
    from churn_core.datasets import synthetic_events
    from churn_core.events import EventLog
    from churn_core.features import pick_event_types
    from churn_core.labels import training_cutoffs

    log = EventLog.from_frame(synthetic_events(n_users=users, seed=0, events_per_user=20.0))
    spec = LabelSpec(horizon_days=30, n_cutoffs=5)
    cutoffs = training_cutoffs(log, spec, log.default_as_of())
    types = pick_event_types(log.frame)
    base = _rss_mb()
    out: dict = {"variant": variant, "events": log.n_events, "cutoffs": len(cutoffs)}
    t, cpu = time.perf_counter(), _cpu_s()
    if variant == "main":  # as before issue 13: BG/NBD fitted with numeric gradients
        import numpy as np
        from scipy.optimize import minimize

        from churn_core import bgnbd

        def fd_fit(repeat, last, age):
            x, tx, T = bgnbd._summaries(repeat, last, age)
            if len(x) < 20 or x.sum() == 0:
                return None
            res = minimize(
                bgnbd._neg_log_likelihood,
                x0=np.log([0.5, 30.0, 1.0, 3.0]),
                args=(x, tx, T),
                method="L-BFGS-B",
                bounds=[(-8, 8)] * 4,
            )
            return tuple(float(v) for v in np.exp(res.x))

        bgnbd.fit_bgnbd = fd_fit
    if variant in ("numpy", "main"):
        from tests.core.reference_features import reference_features, reference_labels

        parts = []
        for c in cutoffs:
            y = reference_labels(log, spec, c)
            parts.append(reference_features(log.frame, c, y.index, types, log.start, 30))
        rows = sum(len(p) for p in parts)
    else:
        from churn_core.engine import derive
        from churn_core.engine.duck import DuckEngine, DuckSettings
        from churn_core.engine.source import EventSource

        engine = DuckEngine(DuckSettings(threads=2))
        engine.register_frame(log.frame)
        src = EventSource(engine, frame=log.frame)
        lab = src.labels(spec, cutoffs)
        out["labels_s"] = time.perf_counter() - t
        raw = src.aggregates(lab, types)
        out["sql_s"] = time.perf_counter() - t - out["labels_s"]
        t_bg = time.perf_counter()
        params = derive.fit_bgnbd_params(raw)
        out["bgnbd_fit_s"] = time.perf_counter() - t_bg
        X = derive.derive_features(raw, types, src.start, 30, params)
        rows = len(X)
    out["seconds"] = time.perf_counter() - t
    out["cpu_s"] = _cpu_s() - cpu
    out["rows"] = rows
    out["peak_rss_delta_mb"] = _rss_mb() - base
    del pd
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(_child(args.child, args.users)))
        return
    res = {}
    for variant in ("main", "numpy", "sql"):
        cmd = [sys.executable, __file__, "--child", variant, "--users", str(args.users)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
        res[variant] = json.loads(line[0].removeprefix("RESULT "))
    main_, old, new = res["main"], res["numpy"], res["sql"]
    print(
        f"{new['events']:,} events, {new['cutoffs']} cutoffs, {new['rows']:,} (user, cutoff) rows"
    )
    print("| variant | labels + features, wall s | CPU s (all threads) | peak RSS delta, MiB |")
    print("|---|---|---|---|")
    print(
        f"| before (numpy per cutoff, numeric-gradient BG/NBD) | {main_['seconds']:.2f} "
        f"| {main_['cpu_s']:.2f} | {main_['peak_rss_delta_mb']:,.0f} |"
    )
    print(
        f"| numpy per cutoff (the test oracle), exact-gradient BG/NBD | {old['seconds']:.2f} "
        f"| {old['cpu_s']:.2f} "
        f"| {old['peak_rss_delta_mb']:,.0f} |"
    )
    print(
        f"| SQL on DuckDB (one query per step) | {new['seconds']:.2f} "
        f"(labels {new['labels_s']:.2f}, aggregates {new['sql_s']:.2f}, "
        f"BG/NBD fits {new['bgnbd_fit_s']:.2f}) | {new['cpu_s']:.2f} "
        f"| {new['peak_rss_delta_mb']:,.0f} |"
    )
    print(
        f"| SQL / numpy oracle | {new['seconds'] / old['seconds']:.2f} "
        f"| {new['cpu_s'] / old['cpu_s']:.2f} | |"
    )
    print(
        f"| SQL / before | {new['seconds'] / main_['seconds']:.2f} "
        f"| {new['cpu_s'] / main_['cpu_s']:.2f} | |"
    )


if __name__ == "__main__":
    main()
