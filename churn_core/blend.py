"""The blend's building blocks: column transforms and the averaged logistic regressions.

The default model (``[model] blend``, built by :func:`churn_core.model.build_pipeline`) is
the average of several members' log-odds: a spline logistic regression on every aggregate,
a plain one, RFM + logistic regression as the baseline fits it, and BG/NBD's own forecast
taken as it is. Each member reads its own copy of the columns, made by the transforms here
(log, clip to the training range, rename); :class:`BlendedLogistic` fits the members on
their column blocks and is itself one linear score, explained like a logistic regression.
Saved bundles name these classes (``churn_core.blend.*``, on the bundle's allow-list).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted


class SignedLog1p(BaseEstimator, TransformerMixin):
    """``sign(x) * log1p(|x|)``: tames counts and spend before a linear model."""

    def fit(self, X, y=None):  # noqa: D102 - sklearn contract
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):  # noqa: D102
        check_is_fitted(self, "n_features_in_")
        X = np.asarray(X, dtype=np.float64)
        return np.sign(X) * np.log1p(np.abs(X))

    def get_feature_names_out(self, input_features=None):  # noqa: D102
        return np.asarray(input_features, dtype=object)


class ClipToTraining(BaseEstimator, TransformerMixin):
    """Clip each column to the range it had in the training rows (NaN stays NaN).

    A linear model extrapolates its slopes to values it never saw: when the training
    cutoffs had a few days of log history and the forecast months, tenure, counts and spend
    at the forecast lie far outside the training rows, and the slopes learned inside them
    (or noise, when the training rows barely vary) decide the ranking. Clipped, such users
    get the score of the most extreme users the model did see; what happens beyond is left
    to the members that need no training labels (BG/NBD's forecast in the blend).
    """

    def fit(self, X, y=None):  # noqa: D102 - sklearn contract
        X = np.asarray(X, dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        with warnings.catch_warnings():  # an all-NaN column: no bounds, no clipping
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
        self.low_ = np.where(np.isnan(low), -np.inf, low)
        self.high_ = np.where(np.isnan(high), np.inf, high)
        return self

    def transform(self, X):  # noqa: D102
        check_is_fitted(self, "low_")
        X = np.asarray(X, dtype=np.float64)
        return np.where(np.isnan(X), X, np.clip(X, self.low_, self.high_))

    def get_feature_names_out(self, input_features=None):  # noqa: D102
        return np.asarray(input_features, dtype=object)


class Suffixed(BaseEstimator, TransformerMixin):
    """Identity that renames its columns ``name + suffix`` (a second view of a feature)."""

    def __init__(self, suffix: str = "_rfm"):
        self.suffix = suffix

    def fit(self, X, y=None):  # noqa: D102 - sklearn contract
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):  # noqa: D102
        check_is_fitted(self, "n_features_in_")
        return np.asarray(X, dtype=np.float64)

    def get_feature_names_out(self, input_features=None):  # noqa: D102
        return np.asarray([f"{f}{self.suffix}" for f in input_features], dtype=object)


class LogOdds(BaseEstimator, TransformerMixin):
    """``log(p / (1 - p))`` of probability columns (clipped to [1e-6, 1 - 1e-6]), renamed
    ``name + "_odds"``: another model's forecast as a blend member's log-odds."""

    def fit(self, X, y=None):  # noqa: D102 - sklearn contract
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):  # noqa: D102
        check_is_fitted(self, "n_features_in_")
        p = np.clip(np.asarray(X, dtype=np.float64), 1e-6, 1 - 1e-6)
        return np.log(p / (1.0 - p))

    def get_feature_names_out(self, input_features=None):  # noqa: D102
        return np.asarray([f"{f}_odds" for f in input_features], dtype=object)


class FixedLogOdds(ClassifierMixin, BaseEstimator):
    """A blend member that learns nothing: its log-odds are its one input column as given
    (coefficient 1, intercept 0), e.g. BG/NBD's own forecast through :class:`LogOdds`."""

    def fit(self, X, y):  # noqa: D102 - sklearn contract
        X = np.asarray(X, dtype=np.float64)
        if X.shape[1] != 1:
            raise ValueError("FixedLogOdds takes exactly one column of log-odds.")
        self.classes_ = np.unique(y)
        self.coef_ = np.ones((1, 1))
        self.intercept_ = np.zeros(1)
        return self

    def decision_function(self, X) -> np.ndarray:  # noqa: D102
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=np.float64)[:, 0]


class BlendedLogistic(ClassifierMixin, BaseEstimator):
    """Logistic regressions on consecutive column blocks, one linear score: the average of
    their log-odds.

    ``tail`` gives the sizes of the trailing blocks (the first block is every column
    before them) and ``Cs`` each member's inverse regularisation, first block first; a C of
    ``None`` makes that member a :class:`FixedLogOdds` (its one column is its log-odds). The
    average is itself linear in the inputs (``coef_``, ``intercept_``), so the blend is
    explained like one logistic regression. ``member_scores`` gives each member's log-odds.
    The narrow members (all but the first) are fitted on a seeded sample of at most
    ``max_member_rows`` rows: a few dozen coefficients settle long before that.
    """

    def __init__(
        self,
        tail: tuple[int, ...] = (8,),
        Cs: tuple[float | None, ...] = (0.01, 1.0),
        class_weight: str | None = None,
        max_member_rows: int = 20_000,
    ):
        self.tail = tail
        self.Cs = Cs
        self.class_weight = class_weight
        self.max_member_rows = max_member_rows

    def _blocks(self, n_columns: int) -> list[slice]:
        ends = np.cumsum([n_columns - sum(self.tail), *self.tail])
        return [slice(int(e - w), int(e)) for e, w in zip(ends, [ends[0], *self.tail], strict=True)]

    def fit(self, X, y):  # noqa: D102 - sklearn contract
        X = np.asarray(X, dtype=np.float64)
        if len(self.Cs) != len(self.tail) + 1 or sum(self.tail) >= X.shape[1]:
            raise ValueError("BlendedLogistic: Cs needs one value per block; tail < columns.")
        y = np.asarray(y)
        rows = np.arange(len(y))
        if len(y) > self.max_member_rows:  # the narrow members need fewer rows to settle
            rng = np.random.default_rng(0)
            rows = np.sort(rng.choice(len(y), self.max_member_rows, replace=False))
        self.members_ = []
        for i, (block, c) in enumerate(zip(self._blocks(X.shape[1]), self.Cs, strict=True)):
            if c is None:
                self.members_.append(FixedLogOdds().fit(X[:, block], y))
                continue
            # the wide spline block: L-BFGS on every row; the narrow ones: a few exact Newton
            # steps (L-BFGS crawls on their collinear columns) on at most max_member_rows rows
            solver = "lbfgs" if i == 0 else "newton-cholesky"
            lr = LogisticRegression(
                C=c,
                class_weight=self.class_weight,
                solver=solver,
                max_iter=2000,
                tol=1e-3 if i == 0 else 1e-4,
            )
            if i == 0:
                self.members_.append(lr.fit(X[:, block], y))
            else:
                cols = np.arange(block.start, block.stop)
                self.members_.append(lr.fit(X[np.ix_(rows, cols)], y[rows]))
        self.classes_ = self.members_[0].classes_
        self.n_features_in_ = X.shape[1]
        m = len(self.members_)
        self.coef_ = np.hstack([lr.coef_ for lr in self.members_]) / m
        self.intercept_ = sum(lr.intercept_ for lr in self.members_) / m
        return self

    def member_scores(self, X) -> np.ndarray:
        """(n, members): each member's log-odds, first block first."""
        check_is_fitted(self, "coef_")
        X = np.asarray(X, dtype=np.float64)
        blocks = self._blocks(X.shape[1])
        return np.column_stack(
            [lr.decision_function(X[:, b]) for lr, b in zip(self.members_, blocks, strict=True)]
        )

    def decision_function(self, X) -> np.ndarray:  # noqa: D102
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=np.float64) @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:  # noqa: D102
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:  # noqa: D102
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
