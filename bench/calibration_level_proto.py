"""Does moving Platt's intercept to the newest training cutoff's churn rate fix the level?

Usage::

    python bench/calibration_level_proto.py [--only TEXT]

For every sweep forecast (from ``bench/quality_sweep.py``'s cache) it fits the default as
``evaluate`` does: out-of-fold scores, a Platt calibrator on them, the final model. It then
compares two probability levels at the forecast with the real churn rate:

* ``pooled``: the calibrator as fitted on every training cutoff's out-of-fold scores (the
  default);
* ``newest``: the same slope, its intercept moved so that the newest training cutoff's
  out-of-fold probabilities average that cutoff's churn rate.

Per group it prints the mean |mean probability - real rate|, the Brier score and the log
loss. Not adopted (docs/quality.md, session 9): better on the synthetic logs, worse on the
real ones.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_sweep as qs  # noqa: E402
from sweep_variants import history_ratio  # noqa: E402

sys.modules["__main__"].Context = qs.Context  # the sweep's cache pickles them as __main__.*
sys.modules["__main__"].Forecast = qs.Forecast

from churn_core.crossval import fit_final, out_of_fold_scores  # noqa: E402
from churn_core.model import Calibrator  # noqa: E402


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def levels(ctx: qs.Context) -> tuple[np.ndarray, np.ndarray]:
    """(pooled, newest) probabilities of the scored users."""
    t = ctx.train
    oof, _ = out_of_fold_scores(t, replace(ctx.config.model, cv_folds=3))
    graded = t.graded_mask()
    oof, y, cutoff = oof[graded], t.target()[graded], t.cutoff[graded]
    cal = Calibrator.fit(oof, y, "sigmoid")
    newest = cutoff == cutoff.max()
    rate, s_new = y[newest].mean(), oof[newest]
    b = brentq(lambda b: _sigmoid(cal.a * s_new + b).mean() - rate, -50, 50)
    raw = fit_final(t, ctx.config.model, ctx.config.encoder, cal, ctx.event_types).raw(ctx.score.X)
    return _sigmoid(cal.a * raw + cal.b), _sigmoid(cal.a * raw + b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="only forecasts whose key contains this text")
    ap.add_argument("--cache", default=str(Path(qs.tempfile.gettempdir()) / "churn_quality_sweep"))
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    rows = []
    for fc in qs.all_forecasts(False):
        if args.only and args.only not in fc.key:
            continue
        ctx, truth = qs.forecast_tables(fc, Path(args.cache))
        y = truth.reindex(pd.Index(ctx.score.user_id.astype(str))).to_numpy().astype(float)
        row = {"forecast": fc.key, "share": history_ratio(ctx), "rate": y.mean()}
        for name, p in zip(("pooled", "newest"), levels(ctx), strict=True):
            row |= {
                f"gap_{name}": abs(p.mean() - y.mean()),
                f"brier_{name}": float(np.mean((p - y) ** 2)),
                f"ll_{name}": _log_loss(y, p),
            }
        rows.append(row)
        print(f"{fc.key}: rate {y.mean():.3f}", file=sys.stderr, flush=True)
    d = pd.DataFrame(rows)
    groups = {
        "all": d.share >= 0,
        "short history (< 25 %)": d.share < 0.25,
        "the rest": d.share >= 0.25,
        "real logs": d.forecast.str.match("retail|tmall"),
    }
    out = []
    for name, m in groups.items():
        if not m.any():
            continue
        g = d[m]
        line = {"forecasts": name, "n": len(g)}
        for what in ("gap", "brier", "ll"):
            line[what] = f"{g[f'{what}_pooled'].mean():.4f} -> {g[f'{what}_newest'].mean():.4f}"
        line["Brier better"] = int((g.brier_newest < g.brier_pooled).sum())
        out.append(line)
    print(qs.markdown(pd.DataFrame(out)))


if __name__ == "__main__":
    main()
