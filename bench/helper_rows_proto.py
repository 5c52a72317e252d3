"""The helper-row variants measured before ``labels.helper_cutoffs`` became the default (issue 12).

Usage::

    python bench/helper_rows_proto.py [--band short|mid|rest] [--horizon half-history|half-H]
                                      [--only TEXT] [--n-boot 200]

For each sweep forecast in the band (by the newest training cutoff's share of the forecast's
history: ``short`` under 25 %, ``mid`` 25-50 %, ``rest`` 25 % and over), it fits the default
model three ways and grades each against RFM + logreg on the requested horizon's rows:

* ``base``: the requested horizon's rows only (the default before the helper rows);
* ``shrink``: the helper rows only;
* ``union``: both (what ``train`` now does under 25 %).

Helper rows are labelled over half the history before T (``--horizon half-history``, the
default's rule) or over H / 2 (``half-H``). Ranks only, no calibration. Figures:
docs/quality.md ("helper rows when the training history is short").
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_sweep as qs  # noqa: E402
from sweep_variants import history_ratio  # noqa: E402

sys.modules["__main__"].Context = qs.Context  # the sweep's cache pickles them as __main__.*
sys.modules["__main__"].Forecast = qs.Forecast

from churn_core.config import ChurnConfig  # noqa: E402
from churn_core.labels import training_cutoffs  # noqa: E402
from churn_core.metrics import paired_differences  # noqa: E402
from churn_core.model import build_pipeline, raw_scores  # noqa: E402
from churn_core.table import training_table  # noqa: E402

BANDS = {"short": (0.0, 0.25), "mid": (0.25, 0.5), "rest": (0.25, np.inf)}


def variants(
    fc: qs.Forecast, ctx: qs.Context, rule: str, min_share: float = 0.0
) -> tuple[int, dict[str, np.ndarray]]:
    """(helper horizon, raw scores of base / shrink / union on the scored users); helper
    cutoffs seeing under ``min_share`` of the forecast's history are left out."""
    hist = qs.load_log(fc.log).before(fc.cutoff)
    span = (fc.cutoff - pd.Timestamp(hist.start)) / pd.Timedelta(days=1)
    h = int(max(7, span // 2 if rule == "half-history" else fc.horizon // 2))
    spec = ChurnConfig().with_(label={"horizon_days": h}).label
    start = pd.Timestamp(hist.start)
    cuts = [
        c
        for c in training_cutoffs(hist, spec, fc.cutoff)
        if (c - start) / pd.Timedelta(days=1) >= min_share * span
    ]
    helpers = training_table(hist, spec, cuts, ctx.event_types)
    graded, cols, cfg = ctx.train.graded_only(), ctx.train.feature_names, ctx.config.model
    both_X = pd.concat([graded.X[cols], helpers.X[cols]], ignore_index=True)
    both_y = np.concatenate([graded.target(), helpers.target()])
    fits = {
        "base": (graded.X[cols], graded.target()),
        "shrink": (helpers.X[cols], helpers.target()),
        "union": (both_X, both_y),
    }
    return h, {
        name: raw_scores(build_pipeline(cfg, cols).fit(X, y), ctx.score.X)
        for name, (X, y) in fits.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--band", choices=list(BANDS), default="short")
    ap.add_argument("--horizon", choices=["half-history", "half-H"], default="half-history")
    ap.add_argument(
        "--min-share", type=float, default=0.0, help="leave out helper cutoffs under this share"
    )
    ap.add_argument("--only", help="only forecasts whose key contains this text")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--cache", default=str(Path(qs.tempfile.gettempdir()) / "churn_quality_sweep"))
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    low, high = BANDS[args.band]
    cache, rows = Path(args.cache), []
    for fc in qs.all_forecasts(False):
        if args.only and args.only not in fc.key:
            continue
        ctx, truth = qs.forecast_tables(fc, cache)
        share = history_ratio(ctx)
        if not low <= share < high:
            continue
        users = pd.Index(ctx.score.user_id.astype(str))
        y = truth.reindex(users).to_numpy().astype(float)
        ref = qs.forecast_scores(fc, qs.REFERENCE, cache)[0].reindex(users).to_numpy()
        h, scores = variants(fc, ctx, args.horizon, args.min_share)
        for name, s in scores.items():
            d = paired_differences(y, s, ref, n_boot=args.n_boot)
            rows.append(
                {
                    "forecast": fc.key,
                    "share": round(share, 3),
                    "helper_h": h,
                    "variant": name,
                    "d_roc": d["roc_auc"][0],
                    "se_roc": d["roc_auc"][1],
                    "d_pr": d["pr_auc"][0],
                    "se_pr": d["pr_auc"][1],
                    "seconds": 0.0,
                }
            )
        done = "  ".join(f"{r['variant']} {r['d_roc']:+.3f}" for r in rows[-3:])
        print(f"{fc.key} share {share:.2f} h={h}: {done}", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    print(qs.markdown(qs.summarise(table).drop(columns=["fit s (sum)"])))


if __name__ == "__main__":
    main()
