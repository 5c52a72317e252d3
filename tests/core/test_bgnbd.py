"""BG/NBD fit: the exact gradient matches finite differences and the fit is no worse."""

import numpy as np
from scipy.optimize import check_grad, minimize

from churn_core.bgnbd import (
    _neg_log_likelihood,
    _nll_and_gradient,
    _summaries,
    apply_bgnbd,
    bgnbd_scores,
    fit_bgnbd,
)


def _users(n: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.poisson(2.5, n).astype(float)
    T = rng.uniform(5, 200, n)
    tx = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    return _summaries(x, tx, T)


def test_gradient_matches_finite_differences_and_objective_is_the_plain_one():
    x, tx, T = _users()
    ux, count = np.unique(x, return_counts=True)
    for p in (np.log([0.5, 30, 1, 3]), np.log([2.0, 5.0, 0.3, 8.0])):

        def f(q):
            return _nll_and_gradient(q, x, tx, T, ux, count.astype(float))[0]

        def g(q):
            return _nll_and_gradient(q, x, tx, T, ux, count.astype(float))[1]

        assert abs(f(p) - _neg_log_likelihood(p, x, tx, T)) < 1e-10
        assert check_grad(f, g, p) < 1e-5 * max(1.0, np.abs(g(p)).max())


def test_fit_reaches_at_least_the_finite_difference_optimum_and_scores_are_probabilities():
    x, tx, T = _users(seed=1)
    old = minimize(
        _neg_log_likelihood,
        x0=np.log([0.5, 30.0, 1.0, 3.0]),
        args=(x, tx, T),
        method="L-BFGS-B",
        bounds=[(-8, 8)] * 4,
    )
    params = fit_bgnbd(x, tx, T)
    assert params is not None
    assert _neg_log_likelihood(np.log(params), x, tx, T) <= old.fun + 1e-9
    alive, quiet = bgnbd_scores(x, tx, T, 30.0)
    np.testing.assert_array_equal((alive, quiet), apply_bgnbd(params, x, tx, T, 30.0))
    assert ((alive > 0) & (alive <= 1) & (quiet > 0) & (quiet <= 1)).all()
    # more recent activity (larger tx at equal x, T) means more likely alive
    i = np.flatnonzero(x == 3)[:1]
    lo, _ = apply_bgnbd(params, x[i], tx[i] * 0.1, T[i], 30.0)
    hi, _ = apply_bgnbd(params, x[i], T[i] * 0.99, T[i], 30.0)
    assert hi[0] > lo[0]


def test_tiny_or_degenerate_data_give_neutral_scores():
    assert fit_bgnbd(np.zeros(50), np.zeros(50), np.ones(50)) is None
    alive, quiet = bgnbd_scores(np.ones(5), np.ones(5), np.ones(5) * 3, 30.0)
    assert (alive == 0.5).all() and (quiet == 0.5).all()
