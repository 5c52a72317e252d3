"""BG/NBD ("buy till you die", Fader, Hardie & Lee 2005) as an unsupervised churn feature.

Fitted per cutoff on the users' own repeat-activity summaries (no labels involved, so no
leakage): it turns frequency, recency and age into the probability that a user is still
"alive" and the probability of no activity in the next ``horizon`` days.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

log = logging.getLogger(__name__)

MAX_FIT_USERS = 5_000


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
    res = minimize(
        _neg_log_likelihood,
        x0=np.log([0.5, 30.0, 1.0, 3.0]),
        args=(x, tx, T),
        method="L-BFGS-B",
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
