"""BG/NBD ("buy till you die", Fader, Hardie & Lee 2005) as an unsupervised churn feature.

Fitted per cutoff on the users' own repeat-activity summaries (no labels involved, so no
leakage): it turns frequency, recency and age into the probability that a user is still
"alive" and the probability of no activity in the next ``horizon`` days.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

log = logging.getLogger(__name__)


def _neg_log_likelihood(log_params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray):
    r, alpha, a, b = np.exp(log_params)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + tx)
    a4 = np.where(x > 0, a4, -np.inf)
    ll = a1 + a2 + np.logaddexp(a3, a4)
    return -(ll.sum()) / len(x) + 1e-4 * float(np.sum(log_params**2))


def _nll_and_gradient(
    log_params: np.ndarray,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
    ux: np.ndarray,
    ux_count: np.ndarray,
) -> tuple[float, np.ndarray]:
    """:func:`_neg_log_likelihood` and its exact gradient in the log parameters.

    One pass instead of the five a finite-difference gradient costs (L-BFGS-B), and the
    gamma-function terms, which depend on ``x`` only, are evaluated once per distinct
    ``x`` (``ux``, weighted by ``ux_count``) rather than once per user.
    """
    r, alpha, a, b = np.exp(log_params)
    n = len(x)
    # terms of x alone: sum over users = sum over distinct x, weighted by their counts
    s_a12 = ux_count @ (
        gammaln(r + ux)
        - gammaln(r)
        + gammaln(a + b)
        + gammaln(b + ux)
        - gammaln(b)
        - gammaln(a + b + ux)
    )
    d_r = ux_count @ (digamma(r + ux) - digamma(r))
    d_a = ux_count @ (digamma(a + b) - digamma(a + b + ux))
    d_b = ux_count @ (digamma(a + b) + digamma(b + ux) - digamma(b) - digamma(a + b + ux))
    ln_at, ln_atx = np.log(alpha + T), np.log(alpha + tx)
    bx1 = np.maximum(b + x - 1, 1e-12)
    a3 = -(r + x) * ln_at
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.log(a) - np.log(bx1) - (r + x) * ln_atx
    a4 = np.where(x > 0, a4, -np.inf)
    mix = np.logaddexp(a3, a4)
    w3, w4 = np.exp(a3 - mix), np.exp(a4 - mix)  # weights of the two terms (sum to 1)
    ll_sum = s_a12 + n * r * np.log(alpha) + mix.sum()
    d_r += n * np.log(alpha) - (w3 * ln_at + w4 * ln_atx).sum()
    d_alpha = n * r / alpha - ((r + x) * (w3 / (alpha + T) + w4 / (alpha + tx))).sum()
    d_a += w4.sum() / a
    d_b -= np.where(b + x - 1 > 1e-12, w4 / bx1, 0.0).sum()
    grad = -np.array([d_r, d_alpha, d_a, d_b]) / n * np.array([r, alpha, a, b])
    return -ll_sum / n + 1e-4 * float(np.sum(log_params**2)), grad + 2e-4 * log_params


BgNbdParams = tuple[float, float, float, float]  # (r, alpha, a, b)


def _summaries(
    repeat: np.ndarray, last: np.ndarray, age: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(repeat, dtype=float)
    tx = np.asarray(last, dtype=float)
    T = np.maximum(np.asarray(age, dtype=float), tx + 1e-6)
    return x, tx, T


def fit_bgnbd(repeat: np.ndarray, last: np.ndarray, age: np.ndarray) -> BgNbdParams | None:
    """Fitted ``(r, alpha, a, b)`` on the users' summaries, or None (tiny/degenerate data).

    ``repeat``: active days after the first; ``last``: days from first to last active
    day; ``age``: days from first active day to the cutoff. None means "neutral scores".
    """
    x, tx, T = _summaries(repeat, last, age)
    if len(x) < 20 or x.sum() == 0:
        return None
    ux, ux_count = np.unique(x, return_counts=True)
    res = minimize(
        _nll_and_gradient,
        x0=np.log([0.5, 30.0, 1.0, 3.0]),
        args=(x, tx, T, ux, ux_count.astype(np.float64)),
        method="L-BFGS-B",
        jac=True,
        bounds=[(-8, 8)] * 4,
    )
    if not np.isfinite(res.fun):
        log.warning("BG/NBD fit failed; using neutral scores")
        return None
    r, alpha, a, b = (float(v) for v in np.exp(res.x))
    return (r, alpha, a, b)


def apply_bgnbd(
    params: BgNbdParams | None,
    repeat: np.ndarray,
    last: np.ndarray,
    age: np.ndarray,
    horizon: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(P(alive), P(no activity in the next ``horizon``)) per user with fitted ``params``.

    Pure per row, so it can run per partition (Spark) once the parameters are known;
    ``params`` None gives the neutral 0.5.
    """
    x, tx, T = _summaries(repeat, last, age)
    if params is None:
        return np.full(len(x), 0.5), np.full(len(x), 0.5)
    r, alpha, a, b = params
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        odds = np.where(
            x > 0, a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + tx)) ** (r + x), 0.0
        )
    p_alive = 1.0 / (1.0 + odds)
    p_quiet_if_alive = ((alpha + T) / (alpha + T + horizon)) ** (r + x)
    p_none = 1.0 - p_alive * (1.0 - p_quiet_if_alive)
    return np.nan_to_num(p_alive, nan=0.5), np.nan_to_num(p_none, nan=0.5)


def bgnbd_scores(
    repeat: np.ndarray, last: np.ndarray, age: np.ndarray, horizon: float
) -> tuple[np.ndarray, np.ndarray]:
    """(P(alive), P(no activity in the next ``horizon``)) for every user: fit, then apply.

    Falls back to neutral values when the fit fails (tiny or degenerate data).
    """
    params = fit_bgnbd(repeat, last, age)
    return apply_bgnbd(params, repeat, last, age, horizon)
