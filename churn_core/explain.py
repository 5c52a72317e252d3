"""SHAP explanations of churn scores: per-user contributions, global drivers, reasons.

What is explained is the classifier's **uncalibrated raw score** (``ChurnModel.raw``:
log-odds for logistic regression and gradient boosting, the margin for a linear SVM) or,
for random forests, the uncalibrated class-1 probability. Calibration is monotonic, so the
ranking of factors is the same for the calibrated probability.

Explainer per classifier, always run on the ``prep`` step's output and mapped back to
behaviour factors (the SignedLog1p + StandardScaler preprocessing is per feature, so each
transformed column is one input feature; the encoder's ``emb_*`` columns are summed into a
single factor, :data:`SEQUENCE_FACTOR`):

* HistGradientBoosting / RandomForest / other tree ensembles: ``shap.TreeExplainer``
  (path-dependent, exact, no background needed);
* LogisticRegression / LinearSVC (anything with a single row of ``coef_``): exact linear
  SHAP values against a background sample, ``coef * (z - mean(background))`` (the same as
  ``shap.LinearExplainer`` with an ``Independent`` masker, without importing shap: 1.7 s);
* anything else: ``shap.PermutationExplainer`` with an ``Independent`` masker over a
  bounded background sample.

Users are explained in batches of :data:`BATCH` so memory stays flat.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churn_core.features import describe
from churn_core.reasons import SEQUENCE_FACTOR, top_reasons
from churn_core.table import SEQUENCE_COLUMN, Progress

logger = logging.getLogger(__name__)

BATCH = 5_000
SEED = 0
PERMUTATION_BACKGROUND = 100  # the model-agnostic explainer's masker sample
SEQUENCE_DESCRIPTION = "the order and timing of recent events, read by the sequence encoder"

__all__ = [
    "SEQUENCE_FACTOR",
    "Explanation",
    "explain_log",
    "explain_model",
    "explain_run",
]


@dataclass(frozen=True, eq=False)
class Explanation:
    """SHAP contributions per user and behaviour factor, with the values they came from.

    ``values`` and ``data`` share index (user_id, str) and columns (factors). ``base_value
    + values.sum(axis=1)`` is the explained output in ``units`` (the raw score, see the
    module docstring). ``reasons`` holds ``reason_1..reason_3`` per user.
    """

    values: pd.DataFrame
    data: pd.DataFrame
    base_value: float
    units: str
    reasons: pd.DataFrame

    @property
    def output(self) -> pd.Series:
        """The explained (uncalibrated) output per user: base value + contributions."""
        return self.base_value + self.values.sum(axis=1)

    def global_drivers(self) -> pd.DataFrame:
        """Factors by mean |SHAP|, largest first, with the direction of their effect.

        ``direction`` is the sign of corr(feature value, contribution): "raises risk" when
        larger values push the score up; factors without a single value (the sequence)
        use the sign of the mean contribution.
        """
        rows = []
        for f in self.values.columns:
            s, x = self.values[f].to_numpy(), self.data[f].to_numpy(dtype=np.float64)
            ok = np.isfinite(x)
            corr = np.nan
            if ok.sum() > 2 and np.std(x[ok]) > 0 and np.std(s[ok]) > 0:
                corr = float(np.corrcoef(x[ok], s[ok])[0, 1])
            sign = corr if np.isfinite(corr) else float(np.mean(s))
            rows.append(
                {
                    "factor": f,
                    "description": _describe(f),
                    "mean_abs_shap": float(np.mean(np.abs(s))) if len(s) else 0.0,
                    "direction": "raises risk" if sign > 0 else "lowers risk",
                }
            )
        out = pd.DataFrame(rows, columns=["factor", "description", "mean_abs_shap", "direction"])
        out = out.sort_values("mean_abs_shap", ascending=False, kind="stable")
        return out.reset_index(drop=True)

    def drivers_by_tier(self, tiers: pd.Series) -> pd.DataFrame:
        """Mean SHAP per factor within each risk tier (index low/medium/high, present ones).

        ``tiers`` is indexed by user_id (e.g. ``scores.set_index("user_id")["risk_tier"]``);
        a plain series of the same length as ``values`` is taken in row order.
        """
        t = pd.Series(tiers)
        if t.index.astype(str).isin(self.values.index).any():
            t = t.set_axis(t.index.astype(str)).reindex(self.values.index)
        elif len(t) == len(self.values):
            t = pd.Series(t.to_numpy(), index=self.values.index)
        else:
            raise ValueError("tiers must be indexed by user_id or match the explained users.")
        means = self.values.groupby(t.to_numpy()).mean()
        order = [x for x in ("low", "medium", "high") if x in means.index]
        order += [x for x in means.index if x not in order]
        out = means.reindex(order)
        out.index.name = "tier"
        return out

    def waterfall(self, user_id: str) -> pd.DataFrame:
        """One user's factors (``factor, value, contribution``) by |contribution|, largest first.

        ``attrs["base_value"]`` and ``attrs["output"]`` (base + contributions) give the ends.
        """
        uid = str(user_id)
        if uid not in self.values.index:
            from churn_core.errors import EventDataError

            raise EventDataError([f"User {uid!r} is not among the explained users."])
        c = self.values.loc[uid]
        out = pd.DataFrame(
            {"factor": c.index, "value": self.data.loc[uid].to_numpy(), "contribution": c.values}
        )
        out = out.reindex(out["contribution"].abs().sort_values(ascending=False).index)
        out = out.reset_index(drop=True)
        out.attrs["base_value"] = self.base_value
        out.attrs["output"] = float(self.base_value + c.sum())
        out.attrs["units"] = self.units
        return out


def _describe(factor: str) -> str:
    return SEQUENCE_DESCRIPTION if factor == SEQUENCE_FACTOR else describe(factor)


# ------------------------------------------------------------------------- explainers
@dataclass
class _Kernel:
    """A ready explainer: ``shap(Z) -> (n, k)`` contributions on prep outputs."""

    shap: Callable[[np.ndarray], np.ndarray]
    base_value: float
    units: str
    kind: str


def _linear_kernel(clf, Z_bg: np.ndarray, units: str) -> _Kernel:
    """Exact SHAP values of a linear score ``Z @ w + b`` against a background sample:
    ``w * (z - mean(background))``, base ``mean(background) @ w + b`` (what
    ``shap.LinearExplainer`` with an ``Independent`` masker computes, without importing shap).
    """
    w = np.asarray(clf.coef_, dtype=np.float64)[0]
    b = float(np.ravel(getattr(clf, "intercept_", 0.0))[0])
    mean = np.asarray(Z_bg, dtype=np.float64).mean(axis=0)
    return _Kernel(
        lambda Z: (np.asarray(Z, dtype=np.float64) - mean) * w, float(mean @ w + b), units, "linear"
    )


def _make_kernel(clf, Z_bg: np.ndarray) -> _Kernel:
    name = type(clf).__name__
    coef = getattr(clf, "coef_", None)
    if coef is not None and np.asarray(coef).shape[0] == 1:
        units = "margin" if name == "LinearSVC" else "log-odds"
        return _linear_kernel(clf, Z_bg, units)
    import shap

    if name in ("RandomForestClassifier", "ExtraTreesClassifier"):
        e = shap.TreeExplainer(clf)
        base = float(np.asarray(e.expected_value).ravel()[1])
        return _Kernel(
            lambda Z: _class1(e.shap_values(Z, check_additivity=False)), base, "probability", "tree"
        )
    if name in (
        "HistGradientBoostingClassifier",
        "GradientBoostingClassifier",
        "LGBMClassifier",
        "XGBClassifier",
    ):
        e = shap.TreeExplainer(clf)
        base = float(np.asarray(e.expected_value).ravel()[0])
        return _Kernel(
            lambda Z: _class1(e.shap_values(Z, check_additivity=False)), base, "log-odds", "tree"
        )
    raw = _raw_fn(clf)
    bg = Z_bg[:PERMUTATION_BACKGROUND]
    e = shap.PermutationExplainer(raw, shap.maskers.Independent(bg, max_samples=len(bg)), seed=SEED)
    base = float(np.mean(raw(bg)))

    def perm(Z: np.ndarray) -> np.ndarray:
        res = e(Z, max_evals=2 * Z.shape[1] + 1, silent=True)
        return np.asarray(res.values)

    return _Kernel(perm, base, "log-odds", "permutation")


def _class1(sv) -> np.ndarray:
    a = np.asarray(sv[1] if isinstance(sv, list) else sv)
    return a[:, :, 1] if a.ndim == 3 else a


def _raw_fn(clf) -> Callable[[np.ndarray], np.ndarray]:
    if hasattr(clf, "decision_function"):
        return lambda Z: np.asarray(clf.decision_function(Z), dtype=np.float64)

    def logit(Z):
        p = np.clip(clf.predict_proba(Z)[:, 1], 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    return logit


def explained_output(model, X: pd.DataFrame) -> np.ndarray:
    """What the explanation adds up to: the raw score, or the RF's uncalibrated probability."""
    clf = model.pipeline.named_steps["clf"]
    if type(clf).__name__ in ("RandomForestClassifier", "ExtraTreesClassifier"):
        return model.pipeline.predict_proba(X)[:, 1]
    return model.raw(X)


def _factor_of(column: str) -> str:
    """The behaviour factor a transformed column belongs to (spline bases, blend members'
    copies, embedding dims)."""
    if column.startswith("emb_"):
        return SEQUENCE_FACTOR
    return re.sub(r"(_sp_\d+|_lin|_rfm|_odds)$", "", column)  # spline bases; blend members' copies


def _grouping(names: Iterable[str]) -> tuple[list[str], np.ndarray]:
    """Factor names and the (n_columns x n_factors) 0/1 matrix summing columns into factors."""
    names = [str(n) for n in names]
    factors: list[str] = []
    for n in names:
        f = _factor_of(n)
        if f not in factors:
            factors.append(f)
    pos = {f: i for i, f in enumerate(factors)}
    G = np.zeros((len(names), len(factors)))
    for i, n in enumerate(names):
        G[i, pos[_factor_of(n)]] = 1.0
    return factors, G


def _factor_data(X: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    cols = {}
    for f in factors:
        if f == SEQUENCE_FACTOR:
            seq = X[SEQUENCE_COLUMN] if SEQUENCE_COLUMN in X else pd.Series([], dtype=object)
            cols[f] = np.asarray([len(s) for s in seq], dtype=np.float64)
        else:
            cols[f] = X[f].to_numpy(dtype=np.float64)
    return pd.DataFrame(cols)


def explain_model(
    model,
    X: pd.DataFrame,
    user_ids,
    background: pd.DataFrame,
    progress: Progress | None = None,
) -> Explanation:
    """SHAP explanation of ``model``'s uncalibrated raw score for the rows of ``X``.

    ``X`` is the model input (aggregates, plus the ``sequence`` column when the model has
    an encoder), ``user_ids`` its row labels, ``background`` a small sample of model inputs
    (used by the linear and model-agnostic explainers; keep it <= 1,000 rows). Users are
    processed in batches of :data:`BATCH`.
    """
    if len(X) != len(user_ids):
        raise ValueError(f"X has {len(X)} rows but {len(user_ids)} user ids were given.")
    prep = model.pipeline.named_steps["prep"]
    clf = model.pipeline.named_steps["clf"]
    names = list(prep.get_feature_names_out())
    factors, G = _grouping(names)
    kernel = _make_kernel(clf, np.asarray(prep.transform(background), dtype=np.float64))
    logger.info("explaining %d users with the %s explainer", len(X), kernel.kind)
    ids = pd.Index(np.asarray(user_ids).astype(str), name="user_id")
    values, data, reasons = [], [], []
    agg_cols = [c for c in X.columns if c != SEQUENCE_COLUMN]
    for start in range(0, len(X), BATCH):
        part = X.iloc[start : start + BATCH]
        Z = np.asarray(prep.transform(part), dtype=np.float64)
        v = pd.DataFrame(kernel.shap(Z) @ G, columns=factors, index=ids[start : start + BATCH])
        d = _factor_data(part, factors).set_axis(v.index)
        feats = part[agg_cols].set_axis(v.index)
        values.append(v)
        data.append(d)
        reasons.append(top_reasons(v, feats))
        if progress:
            progress("explaining", min(1.0, (start + BATCH) / max(len(X), 1)))
    if not values:
        empty = pd.DataFrame(columns=factors, index=ids, dtype=float)
        return Explanation(
            empty, empty.copy(), kernel.base_value, kernel.units, top_reasons(empty, empty)
        )
    return Explanation(
        pd.concat(values), pd.concat(data), kernel.base_value, kernel.units, pd.concat(reasons)
    )


class BackgroundSample:
    """A seeded uniform sample of up to ``size`` rows of frames seen one after another (the
    batches of an out-of-core log): each row gets a random key, the smallest keys stay.

    The keys come from one random stream, so the sample of frames added in turn is the
    sample of their concatenation: ``sample_background`` on the whole table.
    """

    def __init__(self, size: int = 1000, seed: int = SEED):
        self.size = int(size)
        self._rng = np.random.default_rng(seed)
        self._keys = np.empty(0)
        self._parts: list[pd.DataFrame] = []

    def add(self, X: pd.DataFrame) -> BackgroundSample:
        """Offer the rows of ``X`` (in order, after every frame added before)."""
        keys = np.concatenate([self._keys, self._rng.random(len(X))])
        frame = pd.concat([*self._parts, X]) if self._parts else X
        if len(keys) > self.size:
            keep = np.sort(np.argpartition(keys, self.size - 1)[: self.size])
            keys, frame = keys[keep], frame.iloc[keep]
        self._keys, self._parts = keys, [frame]
        return self

    def frame(self) -> pd.DataFrame:
        """The sample so far, rows in the order they were added."""
        return self._parts[0] if self._parts else pd.DataFrame()


def sample_background(X: pd.DataFrame, max_background: int = 1000, seed: int = SEED):
    """Up to ``max_background`` rows of ``X``, drawn without replacement with a fixed seed."""
    return BackgroundSample(max_background, seed).add(X).frame()


def explain_run(
    run,
    max_users: int | None = None,
    max_background: int = 1000,
    progress: Progress | None = None,
    *,
    log=None,
) -> Explanation:
    """Explain a :class:`~churn_core.pipeline.ChurnRun`'s scores (riskiest users first).

    ``max_users`` keeps the riskiest N. Models with a sequence encoder need the event log
    (``log``) to rebuild the sequences, since ``run.features`` holds aggregates only.
    """
    feats = run.features
    if max_users is not None:
        feats = feats.iloc[: int(max_users)]
    ids = feats["user_id"].astype(str).to_numpy()
    if run.model.max_events is None:
        X = feats.drop(columns=["user_id"])
        bg = sample_background(run.features.drop(columns=["user_id"]), max_background)
        return explain_model(run.model, X, ids, bg, progress)
    if log is None:
        raise ValueError(
            "This model reads event sequences: pass the event log, "
            "explain_run(run, log=event_log), so the sequences can be rebuilt."
        )
    return explain_log(run.model, log, run.as_of, run.config, ids, max_background, progress)


def explain_log(
    model,
    log,
    as_of: pd.Timestamp,
    config,
    user_ids=None,
    max_background: int = 1000,
    progress: Progress | None = None,
) -> Explanation:
    """Build the scoring table at ``as_of`` and explain ``user_ids`` (default: everyone)."""
    from churn_core.table import scoring_table

    table = scoring_table(
        log, as_of, model.event_types, model.max_events, config.label.horizon_days
    )
    all_ids = pd.Index(table.user_id.astype(str))
    bg = sample_background(table.X, max_background)
    if user_ids is None:
        return explain_model(model, table.X, all_ids, bg, progress)
    ids = pd.Index(np.asarray(user_ids).astype(str))
    pos = all_ids.get_indexer(ids)
    if (pos < 0).any():
        missing = ", ".join(ids[pos < 0][:5])
        raise ValueError(f"No events before {as_of:%Y-%m-%d} for user(s) {missing}.")
    return explain_model(model, table.X.iloc[pos], ids, bg, progress)
