"""Many true forecasts, the project model against RFM + logistic regression on each.

Usage::

    python bench/quality_sweep.py [--quick] [--variants project,before,rfm_half] [--only retail]
                                  [--cache DIR] [--clear] [--n-boot 500]

Each forecast trains on events before a cutoff T only and is graded on what happened in
[T, T+H), exactly like ``churn_core.evaluation`` and ``../shared/referee``: every month-end
cutoff of the bundled UCI retail log that leaves a complete window (H = 30, 60, 90 days), the
same forecasts on that log reduced to the referee's canonical ``user_id, timestamp, amount``
("retailmin": the shape of other shops' order lines), several Tmall cutoffs (when
``../shared/data`` is present), the synthetic generator with several seeds, and purchase-only
logs from a process nobody tuned for (``churn_core.purchase_logs``: BG/NBD's buy till you
die, a CDNOW-like cohort shop and a grocery-like open one, two seeds each, 2-9 months of
history before the cutoff). For each forecast and model variant it prints ROC-AUC and PR-AUC, the
difference to RFM + logistic regression fitted on the same training cutoffs and the paired
bootstrap standard error of that difference; then per variant the win / tie / loss count
(a tie is a difference within one standard error; in brackets the losses beyond two, which
chance alone explains poorly), the mean difference (with the standard
error of the mean, treating forecasts as independent, which overlapping cutoffs of one log
are not) and the worst difference.

Feature tables and scores are cached per (forecast, variant) in ``--cache`` (default: a
folder in the system temp dir), keyed by a hash of the code they depend on, so a rerun after
an unrelated edit is cheap. Threads are limited to 1: the machine is shared.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import inspect  # noqa: E402
import logging  # noqa: E402
import pickle  # noqa: E402  (a private cache of our own objects, never shipped)
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import churn_core.evaluation  # noqa: E402, F401  (load every core module before hashing them)
from churn_core.config import ChurnConfig, SchemaConfig  # noqa: E402
from churn_core.events import EventLog  # noqa: E402
from churn_core.features import pick_event_types  # noqa: E402
from churn_core.labels import build_labels, helper_cutoffs, training_cutoffs  # noqa: E402
from churn_core.metrics import paired_differences  # noqa: E402
from churn_core.purchase_logs import (  # noqa: E402
    SALE_WEEK,
    SHOPS,
    START,
    purchase_log,
    sale_forecasts,
    with_sale,
)
from churn_core.purchase_logs import forecasts as purchase_forecasts  # noqa: E402
from churn_core.table import FeatureTable, scoring_table, training_table  # noqa: E402

SYNTH_USERS = 2000
TABLE_MODULES = (
    *("features.py", "table.py", "labels.py", "bgnbd.py", "events.py", "ingest.py"),
    *("engine/sql.py", "engine/derive.py", "engine/source.py", "engine/duck.py"),
    "purchase_logs.py",  # the generated logs: a change there must regenerate them
)  # the feature definitions live in engine/: a change there must rebuild the tables


@dataclass(frozen=True)
class Forecast:
    """One leak-free forecast: a log, a cutoff and a horizon."""

    # "retail", "retailmin", "tmall", "synth-<seed>-<days>", "bgnbd-<shape>-<seed>" or
    # "sale-<shape>-<seed>" (the same shop with a sale week of one-off buyers)
    log: str
    cutoff: pd.Timestamp
    horizon: int

    @property
    def key(self) -> str:
        return f"{self.log}_{self.cutoff:%Y-%m-%d}_H{self.horizon}"


@dataclass(frozen=True, eq=False)
class Context:
    """What a model variant may use: training rows and the users to score, nothing later."""

    train: FeatureTable
    score: FeatureTable
    config: ChurnConfig
    event_types: tuple[str, ...]
    has_amount: bool
    cutoff: pd.Timestamp


# ---------------------------------------------------------------- model variants ------------


def variant_project(ctx: Context) -> pd.Series:
    """The default model, exactly as ``evaluate`` fits it."""
    from churn_core.evaluation import _forecast

    users, p = _forecast(
        ctx.train, ctx.score, ctx.config, ctx.event_types, ctx.has_amount, ctx.cutoff
    )
    return pd.Series(p, index=pd.Index(users.astype(str)))


def variant_rfm(ctx: Context) -> pd.Series:
    """The reference: RFM + logistic regression on the same cutoffs (``evaluate``'s baseline)."""
    from churn_core.model import rfm_pipeline

    train = ctx.train.graded_only()  # the requested horizon only, as the referee fits it
    model = rfm_pipeline().fit(train.X, train.y)
    p = model.predict_proba(ctx.score.X)[:, 1]
    return pd.Series(p, index=pd.Index(ctx.score.user_id.astype(str)))


def _with_model(**changes) -> Callable[[Context], pd.Series]:
    """A variant: the project pipeline with some ``ModelConfig`` fields changed."""

    def run(ctx: Context) -> pd.Series:
        cfg = ctx.config.with_(model=changes)
        return variant_project(
            Context(ctx.train, ctx.score, cfg, ctx.event_types, ctx.has_amount, ctx.cutoff)
        )

    run.__doc__ = f"project with {changes}"
    run.changes = changes  # part of the cache key
    return run


def variant_p_quiet(ctx: Context) -> pd.Series:
    """No training at all: BG/NBD's probability of no event in the horizon, fitted on the
    scoring cutoff's own history (the ``bgnbd_p_quiet`` column)."""
    p = ctx.score.X["bgnbd_p_quiet"].fillna(ctx.score.X["bgnbd_p_quiet"].median())
    return pd.Series(p.to_numpy(), index=pd.Index(ctx.score.user_id.astype(str)))


VARIANTS: dict[str, Callable[[Context], pd.Series]] = {
    "project": variant_project,
    "p_quiet": variant_p_quiet,
    "rfm": variant_rfm,
    "thirds": _with_model(blend="thirds", clip_to_training=False),  # the default before quarters
    "thirds_clip": _with_model(blend="thirds"),
    "quarters_noclip": _with_model(clip_to_training=False),
    "before": _with_model(blend="none"),  # the default until the blend (spline logreg)
    "rfm_half": _with_model(blend="rfm"),  # half spline logreg, half RFM + logreg (core)
}


def all_variants() -> dict[str, Callable[[Context], pd.Series]]:
    """Every variant: the ones above and the experiments of ``bench/sweep_variants.py``."""
    sys.modules.setdefault("quality_sweep", sys.modules[__name__])  # one module as a script too
    import sweep_variants

    return {**VARIANTS, **sweep_variants.EXPERIMENTS}


REFERENCE = "rfm"


# ---------------------------------------------------------------- forecasts -----------------


def shared_data() -> Path | None:
    """``../shared/data`` (or ``$CHURN_SHARED_DATA``) when present."""
    candidates = [os.environ.get("CHURN_SHARED_DATA"), ROOT.parent / "shared" / "data"]
    candidates.append(ROOT.parent.parent / "shared" / "data")
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return None


def _month_ends(first: str, last: str) -> list[pd.Timestamp]:
    return list(pd.date_range(first, last, freq="MS"))  # midnight after each month's end


def all_forecasts(quick: bool) -> list[Forecast]:
    """Every forecast of the sweep (``quick``: six of them, one per kind)."""
    out: list[Forecast] = []
    # UCI retail: 2010-12-01 .. 2011-12-09; every month-end cutoff with a complete window and
    # at least one training cutoff after the log's start
    # "retailmin": the same log and forecasts in the referee's canonical columns only
    for log in ("retail", "retailmin"):
        for h, first, last in ((30, "2011-01-01", "2011-11-01"), (60, "2011-02-01", "2011-10-01")):
            out += [Forecast(log, t, h) for t in _month_ends(first, last)]
        out += [Forecast(log, t, 90) for t in _month_ends("2011-04-01", "2011-09-01")]
        out.append(Forecast(log, pd.Timestamp("2011-09-10"), 90))  # the shared figure
    if shared_data() is not None:  # Tmall 2013: Apr 15 .. Aug 15, day resolution
        for t, h in (
            ("2013-06-01", 30),
            ("2013-06-16", 30),
            ("2013-07-01", 30),
            ("2013-07-16", 31),  # the shared figure
            ("2013-06-16", 60),
            ("2013-07-16", 14),
            ("2013-08-01", 14),
        ):
            out.append(Forecast("tmall", pd.Timestamp(t), h))
    for seed in (0, 1, 2, 3):  # churn starts at 75 % of the timeline
        for days, h in ((240, 30), (480, 60)) if seed < 2 else ((300, 30),):
            t = pd.Timestamp("2024-01-01") + pd.Timedelta(days=days - h)
            out.append(Forecast(f"synth-{seed}-{days}", t, h))
    for shape in ("cohort", "open", "replenish"):  # buy till you die (churn_core/purchase_logs.py)
        for seed in (0, 1):
            out += [Forecast(f"bgnbd-{shape}-{seed}", t, h) for t, h in purchase_forecasts(shape)]
            out += [Forecast(f"bgnbd-{shape}-{seed}", t, h) for t, h in _short_history(shape)]
    for shape in SALE_WEEK:  # the same shops with a sale week of one-off buyers before T - H
        for seed in (0, 1):
            out += [Forecast(f"sale-{shape}-{seed}", t, h) for t, h in sale_forecasts(shape)]
    if quick:
        keep = {
            "retail_2011-06-01_H90",
            "retail_2011-09-10_H90",
            "retailmin_2011-09-10_H90",
            "retail_2011-10-01_H60",
            "retail_2011-04-01_H30",
            "tmall_2013-07-16_H31",
            "synth-0-240_2024-07-29_H30",
            "bgnbd-open-0_2020-03-09_H30",
        }
        out = [f for f in out if f.key in keep]
    return out


def _short_history(shape: str) -> list[tuple[pd.Timestamp, int]]:
    """Forecasts whose newest training cutoff T - H lies 3 or 14 days after the log's start
    (a young log and a long horizon: 2 months of history and H = 60 reach it), H = 30 or 60,
    with the label window inside the log."""
    end = START + pd.Timedelta(weeks=SHOPS[shape].weeks)
    out = []
    for days, h in ((3, 30), (14, 30), (3, 60), (14, 60)):
        t = START + pd.Timedelta(days=days + h)
        if t + pd.Timedelta(days=h) <= end:
            out.append((t, h))
    return out


_LOGS: dict[str, EventLog] = {}


def load_log(name: str) -> EventLog:
    """The named log (loaded once per process)."""
    if name not in _LOGS:
        from churn_core.datasets import load_demo, synthetic_log
        from churn_core.ingest import load_events

        if name == "retail":
            _LOGS[name] = load_demo()
        elif name == "retailmin":
            _LOGS[name] = load_events(_minimal_retail(), name="retailmin.csv")
        elif name.startswith(("bgnbd-", "sale-")):
            kind, shape, seed = name.split("-")
            code = _hash(_sources(("purchase_logs.py",)))

            def frame() -> pd.DataFrame:
                shop = purchase_log(shape, int(seed))
                return shop if kind == "bgnbd" else with_sale(shop, SALE_WEEK[shape], 0.25, 7)

            path = _written(f"{name}-{code}.csv", frame)
            _LOGS[name] = load_events(path, name=f"{name}.csv")
        elif name == "tmall":
            path = shared_data() / "tmall-brand-rec-2014" / "tmall_brand_rec_2014.csv.gz"
            _LOGS[name] = load_events(path, SchemaConfig(year=2013))
        else:
            _, seed, days = name.split("-")
            _LOGS[name] = synthetic_log(SYNTH_USERS, int(days), int(seed))
    return _LOGS[name]


def _written(name: str, frame: Callable[[], pd.DataFrame]) -> Path:
    """``frame()`` as a CSV in the sweep's temp folder, written once (atomically)."""
    path = Path(tempfile.gettempdir()) / "churn_quality_sweep" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        frame().to_csv(path.with_suffix(".tmp"), index=False)
        path.with_suffix(".tmp").replace(path)
    return path


def _minimal_retail() -> Path:
    """The bundled retail log as ``../shared/referee`` hands a log to a scorer in its canonical
    form (``user_id, timestamp, amount``: no invoices, items, countries or cancellations), the
    shape of the hidden purchase logs of other shops; written once to the temp dir."""
    from churn_core.datasets import demo_path

    def frame() -> pd.DataFrame:
        df = pd.read_csv(demo_path(), dtype={"CustomerID": str, "InvoiceNo": str})
        df = df[df.CustomerID.notna() & ~df.InvoiceNo.str.startswith("C") & (df.Quantity > 0)]
        out = pd.DataFrame(
            {
                "user_id": df.CustomerID.str.replace(r"\.0$", "", regex=True),
                "timestamp": pd.to_datetime(df.InvoiceDate),
                "amount": df.Quantity * df.UnitPrice,
            }
        )
        return out.sort_values(["timestamp", "user_id"], kind="stable")

    return _written("retailmin.csv", frame)


# ---------------------------------------------------------------- cache ---------------------


def _hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
    return h.hexdigest()[:12]


def _sources(names: tuple[str, ...] | None = None) -> str:
    core = ROOT / "churn_core"
    files = sorted(core.glob("*.py")) if names is None else [core / n for n in names]
    return "".join(f.read_text() for f in files)


_CORE_SOURCES = _sources()  # read once: the code this process imported, not later edits
_TABLE_SOURCES = _sources(TABLE_MODULES)


def variant_key(name: str) -> str:
    fn = all_variants()[name]
    extra = repr(getattr(fn, "changes", ""))
    return _hash(_CORE_SOURCES, inspect.getsource(fn), extra)


def _cached(path: Path, build: Callable[[], object]) -> object:
    if path.exists():
        with path.open("rb") as fh:
            return pickle.load(fh)  # noqa: S301 - our own temp files
    obj = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(obj, fh)
    tmp.replace(path)
    return obj


def forecast_tables(fc: Forecast, cache: Path) -> tuple[Context, pd.Series]:
    """Training and scoring tables for ``fc`` and the truth it is graded on (cached)."""

    def build() -> tuple[Context, pd.Series]:
        log_ = load_log(fc.log)
        cfg = ChurnConfig().with_(label={"horizon_days": fc.horizon})
        hist = log_.before(fc.cutoff)
        truth = build_labels(log_, cfg.label, fc.cutoff)
        truth.index = truth.index.astype(str)
        event_types = pick_event_types(hist.frame)
        cutoffs = training_cutoffs(hist, cfg.label, fc.cutoff)
        helpers = helper_cutoffs(hist, cfg.label, fc.cutoff, cutoffs)  # as ``train`` builds it
        train = training_table(hist, cfg.label, cutoffs, event_types, helpers=helpers)
        score = scoring_table(hist, fc.cutoff, event_types, None, fc.horizon)
        return Context(train, score, cfg, event_types, hist.has_amount, fc.cutoff), truth

    key = _hash(_TABLE_SOURCES, fc.key)
    ctx, truth = _cached(cache / "tables" / f"{fc.key}-{key}.pkl", build)
    # the cached tables keep the config they were built with: models use today's defaults
    return replace(ctx, config=ChurnConfig().with_(label={"horizon_days": fc.horizon})), truth


def forecast_scores(fc: Forecast, variant: str, cache: Path) -> tuple[pd.Series, float]:
    """(scores indexed by user id, fit seconds) of ``variant`` on ``fc`` (cached)."""

    def build() -> tuple[pd.Series, float]:
        ctx, _ = forecast_tables(fc, cache)
        t0 = time.perf_counter()
        s = all_variants()[variant](ctx)
        return s, time.perf_counter() - t0

    path = cache / "scores" / f"{fc.key}-{variant}-{variant_key(variant)}.pkl"
    return _cached(path, build)


# ---------------------------------------------------------------- grading -------------------


def grade_all(
    forecasts: list[Forecast],
    variants: list[str],
    cache: Path,
    n_boot: int,
    before: Callable[[Forecast], None] | None = None,
) -> pd.DataFrame:
    """``grade`` of every forecast, one progress line each on stderr; ``before(fc)`` runs
    ahead of each forecast (a prototype script's hook)."""
    rows: list[dict] = []
    t0 = time.perf_counter()
    for i, fc in enumerate(forecasts):
        if before is not None:
            before(fc)
        rows += grade(fc, variants, cache, n_boot)
        done = "  ".join(
            f"{r['variant']} {r['d_roc']:+.4f}±{r['se_roc']:.4f}" for r in rows[-len(variants) :]
        )
        print(
            f"[{i + 1}/{len(forecasts)} {time.perf_counter() - t0:.0f}s] {fc.key}: {done}",
            file=sys.stderr,
            flush=True,
        )
    return pd.DataFrame(rows)


def grade(fc: Forecast, variants: list[str], cache: Path, n_boot: int) -> list[dict]:
    """One row per variant: its metrics, the reference's and the paired differences."""
    _, truth = forecast_tables(fc, cache)
    y = truth.to_numpy().astype(float)

    def aligned(name: str) -> tuple[np.ndarray, float]:
        s, secs = forecast_scores(fc, name, cache)
        s = s.reindex(truth.index)
        return s.fillna(s.mean()).to_numpy(), secs

    ref, _ = aligned(REFERENCE)
    rows = []
    for name in variants:
        score, secs = aligned(name)
        d = paired_differences(y, score, ref, n_boot=n_boot)
        from sklearn.metrics import average_precision_score, roc_auc_score

        rows.append(
            {
                "forecast": fc.key,
                "variant": name,
                "n": len(y),
                "churn_rate": float(y.mean()),
                "roc_auc": roc_auc_score(y, score),
                "pr_auc": average_precision_score(y, score),
                "ref_roc_auc": roc_auc_score(y, ref),
                "ref_pr_auc": average_precision_score(y, ref),
                "d_roc": d["roc_auc"][0],
                "se_roc": d["roc_auc"][1],
                "d_pr": d["pr_auc"][0],
                "se_pr": d["pr_auc"][1],
                "seconds": secs,
            }
        )
    return rows


def verdict(d: float, se: float) -> str:
    """win / tie / loss: a difference within one standard error is a tie."""
    if d > se:
        return "win"
    if d < -se:
        return "loss"
    return "tie"


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per variant: win/tie/loss, mean and worst difference to the reference.

    Beside W/T/L, in brackets: the losses beyond two standard errors. Where the model and
    the reference are truly level, the test sample alone puts one forecast in six below one
    standard error and one in forty-four below two: the losses in brackets are the ones
    chance explains poorly.
    """
    out = []
    for name, g in table.groupby("variant", sort=False):
        row = {"variant": name, "forecasts": len(g)}
        for m in ("roc", "pr"):
            d, se = g[f"d_{m}"].to_numpy(), g[f"se_{m}"].to_numpy()
            v = [verdict(a, b) for a, b in zip(d, se, strict=True)]
            wtl = f"{v.count('win')}/{v.count('tie')}/{v.count('loss')}"
            row[f"{m} W/T/L"] = f"{wtl} ({int(np.sum(d < -2 * se))})"
            se_mean = float(np.sqrt((g[f"se_{m}"] ** 2).sum()) / len(g))
            row[f"{m} mean"] = f"{g[f'd_{m}'].mean():+.4f} ± {se_mean:.4f}"
            worst = g.loc[g[f"d_{m}"].idxmin()]
            row[f"{m} worst"] = f"{worst[f'd_{m}']:+.4f} ± {worst[f'se_{m}']:.4f}"
        row["fit s (sum)"] = round(float(g["seconds"].sum()), 1)
        out.append(row)
    return pd.DataFrame(out)


def markdown(df: pd.DataFrame) -> str:
    """A plain markdown table (no extra dependency)."""
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="six forecasts, one of each kind")
    known = all_variants()
    ap.add_argument("--variants", default="project", help="comma-separated: " + ",".join(known))
    ap.add_argument("--only", help="only forecasts whose key contains this text")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "churn_quality_sweep"))
    ap.add_argument("--clear", action="store_true", help="empty the cache first")
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--per-forecast", action="store_true", help="print every forecast's row")
    ap.add_argument("--csv", help="also write the per-forecast rows to this CSV")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    cache = Path(args.cache)
    if args.clear and cache.exists():
        import shutil

        shutil.rmtree(cache)
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in known]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; known: {', '.join(known)}")
    forecasts = all_forecasts(args.quick)
    if args.only:
        forecasts = [f for f in forecasts if args.only in f.key]
    table = grade_all(forecasts, variants, cache, args.n_boot)
    if args.csv:
        table.to_csv(args.csv, index=False)
    if args.per_forecast:
        show = table.copy()
        show["roc"] = [
            f"{a:.3f} vs {b:.3f} ({d:+.4f} ± {s:.4f})"
            for a, b, d, s in zip(
                show.roc_auc, show.ref_roc_auc, show.d_roc, show.se_roc, strict=True
            )
        ]
        show["pr"] = [
            f"{a:.3f} vs {b:.3f} ({d:+.4f} ± {s:.4f})"
            for a, b, d, s in zip(show.pr_auc, show.ref_pr_auc, show.d_pr, show.se_pr, strict=True)
        ]
        cols = ["forecast", "variant", "n", "churn_rate", "roc", "pr"]
        show["churn_rate"] = show["churn_rate"].map("{:.3f}".format)
        print(markdown(show[cols]))
        print()
    print(markdown(summarise(table)))


if __name__ == "__main__":
    main()
