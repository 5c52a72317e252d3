"""Prototype of horizon-relative features on the quality sweep (issue 12), before any SQL.

Usage::

    python bench/adaptive_windows_proto.py [--quick] [--variants project,hw_all,...]

Computes candidate features in pandas from the leak-free log (events before each row's
cutoff), appends them to the sweep's cached tables and fits the project model on the wider
table; prints the sweep's summary (and per-log means). Only for choosing what to build.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_sweep as qs  # noqa: E402

sys.modules["__main__"].Context = qs.Context  # the sweep's cache pickles them as __main__.*
sys.modules["__main__"].Forecast = qs.Forecast

from churn_core.events import CANCEL_EVENTS, PURCHASE  # noqa: E402
from churn_core.table import FeatureTable  # noqa: E402

DAY_NS = 86_400 * 10**9
KS = (0.5, 1.0, 2.0, 4.0)
_MEMO: dict = {}
START: dict = {}
CURRENT: dict[str, qs.Forecast] = {}
_PROTO_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]


def windows(h: float) -> list[int]:
    return [max(1, int(k * h)) for k in KS]


def extra_features(
    frame: pd.DataFrame, users: np.ndarray, cutoffs: np.ndarray, h: float
) -> pd.DataFrame:
    """Candidate features per row (user, cutoff), from events strictly before the cutoff."""
    act = frame.loc[~frame["event_type"].isin(CANCEL_EVENTS)]
    ts = act["timestamp"].to_numpy().astype("datetime64[ns]").astype(np.int64)
    uid = act["user_id"].astype(str).to_numpy()
    buy = (act["event_type"] == PURCHASE).to_numpy()
    amt = act["amount"].fillna(0.0).to_numpy(dtype=float)
    out = []
    ws = windows(h)
    names = ["h_half", "h_1", "h_2", "h_4"]
    for c in pd.unique(cutoffs):
        m = cutoffs == c
        cns = np.datetime64(c, "ns").astype(np.int64)
        keep = ts < cns
        age = (cns - ts[keep]) / DAY_NS
        off = cns % DAY_NS
        gday = np.floor((ts[keep] - off) / DAY_NS)
        cday = (cns - off) // DAY_NS
        didx = gday - cday
        df = pd.DataFrame(
            {"u": uid[keep], "age": age, "buy": buy[keep], "amt": amt[keep], "didx": didx}
        )
        g = df.groupby("u")
        f = pd.DataFrame(index=pd.Index(pd.unique(df["u"])))
        f["n"] = g.size()
        days = df.drop_duplicates(["u", "didx"])[["u", "didx"]].sort_values(["u", "didx"])
        dg = days.groupby("u")
        f["ad"] = dg.size()
        f["rec_day"] = -dg["didx"].max()
        span = (cns - START["ns"]) / DAY_NS
        f["tenure_share"] = g["age"].max() / span
        f["events_per_tenure_day"] = f["n"] / (g["age"].max() + 1.0)
        for w, nm in zip(ws, names, strict=True):
            inw = df["age"] < w
            f[f"events_{nm}"] = df.loc[inw].groupby("u").size()
            f[f"active_days_{nm}"] = days.loc[days["didx"] >= -w].groupby("u").size()
            b = df.loc[inw & df["buy"]]
            f[f"orders_{nm}"] = b.groupby("u")["age"].nunique()
            f[f"spend_{nm}"] = b.groupby("u")["amt"].sum()
        days["gap"] = days.groupby("u")["didx"].diff()
        gaps = days.dropna(subset=["gap"])
        gg = gaps.groupby("u")
        f["n_gaps"] = gg.size()
        f["gaps_over_h"] = gaps.loc[gaps["gap"] >= h].groupby("u").size()
        f = f.fillna(0.0)
        f["share_events_h"] = f["events_h_1"] / f["n"]
        f["share_active_days_h"] = f["active_days_h_1"] / f["ad"]
        # empirical chance that a gap is at least the horizon long (smoothed towards 1/2)
        f["gap_over_h_rate"] = (f["gaps_over_h"] + 0.5) / (f["n_gaps"] + 1.0)
        rows = pd.Index(users[m].astype(str))
        part = f.reindex(rows).fillna(0.0)
        part.index = np.flatnonzero(m)
        out.append(part)
    res = pd.concat(out).sort_index()
    return res.drop(columns=["n", "ad", "rec_day", "n_gaps", "gaps_over_h"])


SETS = {
    "hw_counts": lambda c: c.startswith(("events_h", "active_days_h")),
    "hw_events": lambda c: c.startswith("events_h"),
    "hw_active": lambda c: c.startswith("active_days_h"),
    "hw_buy": lambda c: c.startswith(("orders_h", "spend_h")),
    "hw_share": lambda c: c.startswith("share_"),
    "hw_gap": lambda c: c == "gap_over_h_rate",
    "hw_share_gap": lambda c: c.startswith("share_") or c == "gap_over_h_rate",
    "hw_all": lambda c: True,
    "hw_nobuy": lambda c: not c.startswith(("orders_h", "spend_h")),
    "hw_short": lambda c: c.startswith(
        ("events_h_half", "active_days_h_half", "events_h_1", "active_days_h_1")
    ),
    "hw_counts_share": lambda c: c.startswith(("events_h", "active_days_h", "share_")),
    "hw_tenure": lambda c: c in ("tenure_share", "events_per_tenure_day"),
    "hw_tenure_share": lambda c: c == "tenure_share",
    "hw_per_tenure_day": lambda c: c == "events_per_tenure_day",
    "hw_counts_buy": lambda c: c.startswith(("events_h", "active_days_h", "orders_h", "spend_h")),
    "hw_counts_tenure": lambda c: c.startswith(("events_h", "active_days_h", "tenure_share")),
}
# replacements of the fixed windows by the horizon-relative ones
DROP_FIXED = {
    "hr_counts": lambda c: c.startswith(("events_h", "active_days_h")),
    "hr_all": lambda c: True,
}
FIXED = [f"{p}_{w}d" for p in ("events", "active_days") for w in (7, 30, 90, 180)]


def _with_extra(ctx: qs.Context, keep, drop_fixed: bool = False) -> qs.Context:
    fc = CURRENT["fc"]
    hist = qs.load_log(fc.log).before(fc.cutoff)
    frame = hist.frame
    START["ns"] = np.datetime64(hist.start, "ns").astype(np.int64)
    h = float(fc.horizon)

    def widen(t: FeatureTable) -> FeatureTable:
        memo = (fc.key, len(t.user_id), t.y is None)
        if memo not in _MEMO:
            _MEMO.clear() if len(_MEMO) > 4 else None
            _MEMO[memo] = extra_features(frame, t.user_id, t.cutoff, h)
        extra = _MEMO[memo]
        extra = extra[[c for c in extra.columns if keep(c)]].reset_index(drop=True)
        X = t.X.reset_index(drop=True)
        if drop_fixed:
            X = X.drop(columns=[c for c in FIXED if c in X.columns])
        return FeatureTable(pd.concat([X, extra], axis=1), t.y, t.user_id, t.cutoff)

    return qs.Context(
        widen(ctx.train),
        widen(ctx.score),
        ctx.config,
        ctx.event_types,
        ctx.has_amount,
        ctx.cutoff,
    )


def _variant(keep, drop_fixed=False, tag=""):
    def run(ctx: qs.Context) -> pd.Series:
        return qs.variant_project(_with_extra(ctx, keep, drop_fixed))

    run.changes = {"proto": _PROTO_HASH, "tag": tag}
    return run


for _name, _keep in SETS.items():
    qs.VARIANTS[_name] = _variant(_keep, tag=_name)
for _name, _keep in DROP_FIXED.items():
    qs.VARIANTS[_name] = _variant(_keep, True, tag=_name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--variants", default="project,hw_all")
    ap.add_argument("--only")
    ap.add_argument("--cache", default="/tmp/aw_sweep")
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--csv")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    variants = args.variants.split(",")
    forecasts = qs.all_forecasts(args.quick)
    if args.only:
        forecasts = [f for f in forecasts if args.only in f.key]
    table = qs.grade_all(
        forecasts, variants, Path(args.cache), args.n_boot, lambda fc: CURRENT.update(fc=fc)
    )
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(qs.markdown(qs.summarise(table)))
    table["log"] = table["forecast"].str.split("_").str[0].str.split("-").str[0]
    real = table.loc[table["forecast"] != "retail_2011-01-01_H30"]
    per = real.groupby(["variant", "log"], sort=False)[["d_roc", "d_pr"]].mean().round(4)
    print(per.unstack("log").to_string())


if __name__ == "__main__":
    main()
