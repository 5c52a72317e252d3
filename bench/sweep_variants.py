"""What was tried on the quality sweep and not kept (figures: docs/quality.md).

Model variants for ``bench/quality_sweep.py --variants NAME``: fixed and out-of-fold chosen
weights between the spline model and RFM + logistic regression, a C search, equal thirds
before the blend had them, BG/NBD's forecast mixed in by how short the training history is,
MBG/NBD in place of BG/NBD, and a recency column for single-purchase customers. Each takes
the sweep's ``Context`` (training rows and users to score, nothing later) and returns scores
indexed by user id; the sweep caches and grades them like its own variants.

On short-history forecasts ``ctx.train`` also holds the helper rows (``labels.helper_cutoffs``,
marked not ``graded``), as the default's training does: a variant rerun today is measured on
top of them. The figures in docs/quality.md for the variants here predate the helper rows.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_sweep import Context, _with_model, variant_p_quiet, variant_project  # noqa: E402

BLEND_GRID = np.round(np.linspace(0.0, 1.0, 11), 2)


def _unblended(ctx: Context):
    """The spline logistic regression alone (the default before the RFM blend)."""
    return replace(ctx.config.model, blend="none")


def _members_oof(ctx: Context, folds: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold raw scores (grouped folds) of the spline model and RFM + logreg."""
    from sklearn.base import clone

    from churn_core.crossval import _folds
    from churn_core.model import build_pipeline, raw_scores, rfm_pipeline

    t = ctx.train
    a_tpl = build_pipeline(_unblended(ctx), t.feature_names)
    oof = np.zeros((len(t.y), 2))
    for tr, va in _folds(t, folds, ctx.config.model.seed):
        for j, tpl in enumerate((a_tpl, rfm_pipeline())):
            pipe = clone(tpl).fit(t.X.iloc[tr], t.y[tr])
            oof[va, j] = raw_scores(pipe, t.X.iloc[va])
    return oof[:, 0], oof[:, 1]


def _blend_scores(ctx: Context, w: float) -> pd.Series:
    """w * spline log-odds + (1 - w) * RFM log-odds, both refitted on every training row."""
    from churn_core.model import build_pipeline, raw_scores, rfm_pipeline

    t = ctx.train
    a = build_pipeline(_unblended(ctx), t.feature_names).fit(t.X, t.y)
    b = rfm_pipeline().fit(t.X, t.y)
    s = w * raw_scores(a, ctx.score.X) + (1 - w) * raw_scores(b, ctx.score.X)
    return pd.Series(s, index=pd.Index(ctx.score.user_id.astype(str)))


def _best_weight(y: np.ndarray, a: np.ndarray, b: np.ndarray, rows=None) -> float:
    from sklearn.metrics import roc_auc_score

    rows = np.arange(len(y)) if rows is None else rows
    aucs = [roc_auc_score(y[rows], w * a[rows] + (1 - w) * b[rows]) for w in BLEND_GRID]
    return float(BLEND_GRID[int(np.argmax(aucs))])


def variant_blend_half(ctx: Context) -> pd.Series:
    """Fixed average of the spline model's and RFM + logreg's log-odds."""
    return _blend_scores(ctx, 0.5)


def variant_blend_cv(ctx: Context) -> pd.Series:
    """Blend weight chosen by grouped out-of-fold ROC-AUC over every training cutoff."""
    a, b = _members_oof(ctx)
    return _blend_scores(ctx, _best_weight(ctx.train.y, a, b))


def variant_blend_cv_recent(ctx: Context) -> pd.Series:
    """Blend weight chosen by out-of-fold ROC-AUC on the newest training cutoff's rows."""
    a, b = _members_oof(ctx)
    rows = np.flatnonzero(ctx.train.cutoff == ctx.train.cutoff.max())
    return _blend_scores(ctx, _best_weight(ctx.train.y, a, b, rows))


def _fixed_blend(w: float) -> Callable[[Context], pd.Series]:
    def run(ctx: Context) -> pd.Series:
        return _blend_scores(ctx, w)

    run.__doc__ = f"fixed blend, {w} x spline logreg + {1 - w:.1f} x RFM + logreg"
    run.changes = {"weight": w}
    return run


def variant_blend_cv_narrow(ctx: Context) -> pd.Series:
    """Blend weight from (0.3, 0.5, 0.7) by grouped out-of-fold ROC-AUC (all cutoffs)."""
    from sklearn.metrics import roc_auc_score

    a, b = _members_oof(ctx)
    y = ctx.train.y
    grid = (0.5, 0.3, 0.7)
    aucs = [roc_auc_score(y, w * a + (1 - w) * b) for w in grid]
    return _blend_scores(ctx, grid[int(np.argmax(aucs))])


def variant_blend3(ctx: Context) -> pd.Series:
    """Equal thirds: spline logreg, linear logreg (C = 0.1) and RFM + logreg log-odds."""
    from churn_core.model import build_pipeline, raw_scores, rfm_pipeline

    t, X = ctx.train, ctx.score.X
    m = _unblended(ctx)
    members = [
        build_pipeline(m, t.feature_names),
        build_pipeline(replace(m, spline_knots=0, C=0.1), t.feature_names),
        rfm_pipeline(),
    ]
    s = sum(raw_scores(p.fit(t.X, t.y), X) for p in members) / 3
    return pd.Series(s, index=pd.Index(ctx.score.user_id.astype(str)))


def variant_tune_c(ctx: Context) -> pd.Series:
    """Spline logreg with C chosen by grouped out-of-fold ROC-AUC from a small grid."""
    from sklearn.metrics import roc_auc_score

    from churn_core.crossval import out_of_fold_scores

    best, best_auc = None, -1.0
    for c in (0.003, 0.01, 0.03, 0.1):
        cfg = replace(_unblended(ctx), C=c, cv_folds=3)
        oof, _ = out_of_fold_scores(ctx.train, cfg)
        auc = roc_auc_score(ctx.train.y, oof)
        if auc > best_auc:
            best, best_auc = c, auc
    return _with_model(C=best, blend="none")(ctx)


def history_ratio(ctx: Context) -> float:
    """Days of log history at the newest training cutoff over those at the forecast cutoff."""
    graded = ctx.train.graded_only()  # helper rows (a shorter horizon) see more history
    return float(graded.X["history_days"].max() / ctx.score.X["history_days"].max())


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _with_p_quiet(weight: Callable[[float], float]) -> Callable[[Context], pd.Series]:
    """The default model's log-odds averaged with BG/NBD's (p_quiet), weight(history ratio)."""

    def run(ctx: Context) -> pd.Series:
        model, quiet = variant_project(ctx), variant_p_quiet(ctx)
        w = weight(history_ratio(ctx))
        z = (1 - w) * _logit(model.to_numpy()) + w * _logit(quiet.loc[model.index].to_numpy())
        return pd.Series(z, index=model.index)

    run.changes = inspect.getsource(weight)
    return run


def _fitted_default(ctx: Context):
    """(the default pipeline fitted on the training rows, the scored users' ids)."""
    from churn_core.model import build_pipeline

    pipe = build_pipeline(ctx.config.model, ctx.train.feature_names)
    return pipe.fit(ctx.train.X, ctx.train.y), pd.Index(ctx.score.user_id.astype(str))


def _quarter_scores(pipe, X: pd.DataFrame) -> np.ndarray | None:
    """(n, 4): each member's log-odds when ``pipe`` is the blend of quarters, else None."""
    from churn_core.blend import BlendedLogistic, FixedLogOdds

    clf = pipe.named_steps["clf"]
    if not (isinstance(clf, BlendedLogistic) and isinstance(clf.members_[-1], FixedLogOdds)):
        return None
    return clf.member_scores(pipe[:-1].transform(X))


def _quarters_by_history(full_at: float) -> Callable[[Context], pd.Series]:
    """The quarters with BG/NBD's weight rising as the training history shrinks: w = 1/4 at
    history ratio r >= full_at, growing linearly to 1 at r = 0 (the learned members' 3/4
    share shrinks alike). Ranks only (no calibration): ROC/PR are unchanged by it."""

    def run(ctx: Context) -> pd.Series:
        from churn_core.model import raw_scores

        pipe, index = _fitted_default(ctx)
        m = _quarter_scores(pipe, ctx.score.X)
        if m is None:
            return pd.Series(raw_scores(pipe, ctx.score.X), index=index)
        w = 0.25 + 0.75 * max(0.0, 1.0 - history_ratio(ctx) / full_at)
        return pd.Series((1 - w) * m[:, :-1].mean(axis=1) + w * m[:, -1], index=index)

    run.changes = {"full_at": full_at}
    return run


def _short_without(drop: tuple[int, ...], below: float = 0.25) -> Callable[[Context], pd.Series]:
    """The quarters, minus the members at positions ``drop`` (0 spline, 1 linear, 2 RFM,
    3 BG/NBD) when the training history ratio is under ``below`` (``history_note`` fires).
    Ranks only (no calibration)."""

    def run(ctx: Context) -> pd.Series:
        from churn_core.model import raw_scores

        pipe, index = _fitted_default(ctx)
        m = _quarter_scores(pipe, ctx.score.X) if history_ratio(ctx) < below else None
        if m is None:
            return pd.Series(raw_scores(pipe, ctx.score.X), index=index)
        keep = [i for i in range(m.shape[1]) if i not in drop]
        return pd.Series(m[:, keep].mean(axis=1), index=index)

    run.changes = {"drop": drop, "below": below}
    return run


def _unclipped(columns: tuple[str, ...]) -> Callable[[Context], pd.Series]:
    """The default with ``columns`` left unclipped in its linear and RFM members: the
    slopes learned on recency extrapolate to users quiet for longer than any training row.
    Ranks only (no calibration)."""

    def run(ctx: Context) -> pd.Series:
        from churn_core.model import RFM_COLUMNS, raw_scores

        pipe, index = _fitted_default(ctx)
        prep = pipe.named_steps["prep"]
        names = {"agg": ctx.train.feature_names, "lin": ctx.train.feature_names}
        names["rfm"] = RFM_COLUMNS
        for member, cols in names.items():
            step = prep.named_transformers_.get(member)
            if step is None or "clip" not in getattr(step, "named_steps", {}):
                continue
            clip = step.named_steps["clip"]
            for i in (list(cols).index(c) for c in columns if c in cols):
                clip.low_[i], clip.high_[i] = -np.inf, np.inf
        return pd.Series(raw_scores(pipe, ctx.score.X), index=index)

    run.changes = {"unclipped": columns}
    return run


def _without(columns: tuple[str, ...]) -> Callable[[Context], pd.Series]:
    """The default fitted and scored without ``columns`` (the RFM member keeps its own).
    Ranks only (no calibration)."""

    def run(ctx: Context) -> pd.Series:
        from churn_core.model import build_pipeline, raw_scores

        keep = [c for c in ctx.train.X.columns if c not in columns]
        pipe = build_pipeline(ctx.config.model, [c for c in keep if c in ctx.train.feature_names])
        pipe.fit(ctx.train.X[keep], ctx.train.y)
        index = pd.Index(ctx.score.user_id.astype(str))
        return pd.Series(raw_scores(pipe, ctx.score.X[keep]), index=index)

    run.changes = {"without": columns}
    return run


def _mbgnbd_fit(x: np.ndarray, tx: np.ndarray, T: np.ndarray):
    """MBG/NBD (Batislam et al. 2007) parameters (r, alpha, a, b) by maximum likelihood."""
    from scipy.optimize import minimize
    from scipy.special import gammaln

    def nll(lp):
        r, alpha, a, b = np.exp(lp)
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = gammaln(a + b) + gammaln(b + x + 1) - gammaln(b) - gammaln(a + b + x + 1)
        a3 = -(r + x) * np.log(alpha + T)
        a4 = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
        ll = a1 + a2 + a3 + np.logaddexp(a4, 0.0)
        return -ll.mean() + 1e-4 * float(np.sum(lp**2))

    if len(x) < 20 or x.sum() == 0:
        return None
    res = minimize(nll, np.log([0.5, 30.0, 1.0, 3.0]), method="L-BFGS-B", bounds=[(-8, 8)] * 4)
    return tuple(np.exp(res.x)) if np.isfinite(res.fun) else None


def _mbgnbd_apply(params, x, tx, T, horizon):
    if params is None:
        return np.full(len(x), 0.5), np.full(len(x), 0.5)
    r, alpha, a, b = params
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        odds = a / (b + x) * ((alpha + T) / (alpha + tx)) ** (r + x)
    p_alive = 1.0 / (1.0 + odds)
    p_quiet = 1.0 - p_alive * (1.0 - ((alpha + T) / (alpha + T + horizon)) ** (r + x))
    return np.nan_to_num(p_alive, nan=0.5), np.nan_to_num(p_quiet, nan=0.5)


def _with_mbgnbd(table, horizon_of) -> object:
    """``table`` with its two BG/NBD columns recomputed by MBG/NBD, fitted per cutoff."""
    from dataclasses import replace as dc_replace

    X = table.X.copy()
    x = np.maximum(X["active_days"].to_numpy() - 1, 0.0)
    tenure = X["tenure_days"].to_numpy()
    tx = np.clip(tenure - X["recency_days"].to_numpy(), 0.0, None)
    T = np.maximum(tenure, tx + 1e-6)
    graded = table.graded_mask()
    key = pd.Series(table.cutoff).astype(str).to_numpy() + np.where(graded, "g", "h")
    alive, quiet = np.empty(len(X)), np.empty(len(X))
    for k in pd.unique(key):
        m = key == k
        params = _mbgnbd_fit(x[m], tx[m], T[m])
        alive[m], quiet[m] = _mbgnbd_apply(params, x[m], tx[m], T[m], horizon_of(graded[m][0]))
    X["bgnbd_p_alive"], X["bgnbd_p_quiet"] = alive, quiet
    return dc_replace(table, X=X)


def variant_mbgnbd(ctx: Context) -> pd.Series:
    """The default with BG/NBD's two columns from MBG/NBD (a one-off buyer may have
    dropped out after the first purchase; BG/NBD keeps every one of them alive)."""
    H = ctx.config.label.horizon_days
    span = float(ctx.score.X["history_days"].iloc[0])
    helper_h = max(7, int((span - ctx.config.label.gap_days) // 2))
    train = _with_mbgnbd(ctx.train, lambda graded: H if graded else helper_h)
    score = _with_mbgnbd(ctx.score, lambda graded: H)
    return variant_project(
        Context(train, score, ctx.config, ctx.event_types, ctx.has_amount, ctx.cutoff)
    )


def _with_one_off_recency(ctx: Context) -> pd.Series:
    """The default plus ``one_off_days``: days since the only active day for users with one
    (0 for the others), so the learned members may give single-purchase customers a recency
    slope of their own. Ranks only (no calibration)."""
    from dataclasses import replace as dc_replace

    from churn_core.model import build_pipeline, raw_scores

    def plus(table):
        X = table.X.copy()
        one = X["active_days"].to_numpy() == 1
        X["one_off_days"] = np.where(one, X["recency_days"].to_numpy(), 0.0)
        return dc_replace(table, X=X)

    train, score = plus(ctx.train), plus(ctx.score)
    pipe = build_pipeline(ctx.config.model, train.feature_names).fit(
        train.X[train.feature_names], train.y
    )
    index = pd.Index(score.user_id.astype(str))
    return pd.Series(raw_scores(pipe, score.X[train.feature_names]), index=index)


EXPERIMENTS: dict[str, Callable[[Context], pd.Series]] = {
    "mbgnbd": variant_mbgnbd,
    "one_off_recency": _with_one_off_recency,
    "knots3": _with_model(spline_knots=3),
    "c003": _with_model(C=0.003),
    "no_tenure_share": _without(("tenure_over_history",)),
    "unclip_recency": _unclipped(("recency_days",)),
    "unclip_recency_all": _unclipped(
        ("recency_days", "days_since_purchase", "overdue_ratio", "recency_over_max_gap")
    ),
    "short_no_rfm": _short_without((2,)),
    "short_bgnbd_only": _short_without((0, 1, 2)),
    "short_no_rfm_half": _short_without((2,), 0.5),
    "qh_half": _quarters_by_history(0.5),
    "qh_quarter": _quarters_by_history(0.25),
    "pq_half_below_half": _with_p_quiet(lambda r: 0.5 if r < 0.5 else 0.0),
    "pq_linear": _with_p_quiet(lambda r: max(0.0, 1.0 - 2.0 * r)),
    "pq_quarter": _with_p_quiet(lambda r: 0.25),
    "pq_below_quarter": _with_p_quiet(lambda r: 1.0 if r < 0.25 else 0.0),
    "blend_half": variant_blend_half,
    "blend_cv": variant_blend_cv,
    "blend_cv_recent": variant_blend_cv_recent,
    "tune_c": variant_tune_c,
    "blend_cv_narrow": variant_blend_cv_narrow,
    "blend_w03": _fixed_blend(0.3),
    "blend_c03": _with_model(C=0.03, blend="rfm"),
    "blend_linear": _with_model(spline_knots=0, C=0.1, blend="rfm"),
    "blend3": variant_blend3,
    "blend_w04": _fixed_blend(0.4),
    "blend_w06": _fixed_blend(0.6),
    "blend_w07": _fixed_blend(0.7),
    "linear_c01": _with_model(spline_knots=0, C=0.1, blend="none"),
    "spline_c003": _with_model(C=0.003, blend="none"),
    "spline_c03": _with_model(C=0.03, blend="none"),
}
