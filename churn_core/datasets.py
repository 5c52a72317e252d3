"""The bundled demo data and a seeded synthetic event generator with a known churn mechanism.

Demo data
    ``churn_core/data/online_retail.csv.gz`` is the UCI "Online Retail" log (CC BY 4.0; see
    ``churn_core/data/README.md``), bundled so the app works without any other folder.
    :func:`load_demo` reads it through :func:`churn_core.ingest.load_events`.

Synthetic data
    :func:`synthetic_events` builds a multi-event log (view / search / cart / purchase /
    review) whose churn cause is planted and documented, so a model's explanations can be
    checked against the truth. See its docstring for the mechanism.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, overload

import numpy as np
import pandas as pd

from churn_core.events import CANONICAL_COLUMNS, EventLog

logger = logging.getLogger(__name__)

DEMO_FILE = "online_retail.csv.gz"
DEMO_SHA256 = "1fd6f8e1c00676d9a34383241e9e5c5a5cf3864b640e7834e2c84f725b67a469"

# ---- the planted mechanism (constants are public so tests and docs can quote them) ----------
PLANTED_DRIVER = "cart_to_purchase"  # churn_core.features name; LOW values = high risk
SYNTH_START = pd.Timestamp("2024-01-01")
FRUSTRATION_BETA = (2.0, 4.0)  # f ~ Beta(a, b), mean 1/3
PURCHASE_AFTER_CART_MAX = 0.95  # P(purchase follows a cart) = MAX - SLOPE * f
PURCHASE_AFTER_CART_SLOPE = 0.9
CHURN_ONSET = 0.75  # share of the timeline before which nobody churns
CHURN_HAZARD_PER_DAY = 0.006  # baseline daily hazard (at f = mean) after the onset
CHURN_HAZARD_FRUSTRATION = 10.0  # hazard multiplier exp(beta * (f - mean f))
SIGNUP_SPAN = 0.50  # users join uniformly over the first half of the timeline
RATE_SIGMA = 0.25  # lognormal spread of the per-user activity rate (independent of f)
PRIMARY_EVENT_SHARES = {"view": 0.5, "search": 0.15, "cart": 0.35}
REVIEW_AFTER_PURCHASE = 0.25
EVENTS_PER_SESSION = 3.0  # primary events come in short sessions (mean events per session)
SESSION_MINUTES = 8.0  # mean gap of a session's events after its start
N_ITEMS = 2_000
N_CATEGORIES = 20

TRUTH_COLUMNS = (
    "user_id",
    "frustration",
    "purchase_after_cart",
    "activity_rate",
    "signup",
    "churn_time",
    "churned",
)


def demo_path() -> Path:
    """Path of the bundled UCI Online Retail log (``.csv.gz``)."""
    return Path(str(resources.files("churn_core").joinpath("data", DEMO_FILE)))


def load_demo() -> EventLog:
    """The bundled UCI Online Retail log, validated (purchase and cancel events)."""
    from churn_core.ingest import load_events

    path = demo_path()
    logger.info("loading bundled demo data from %s", path)
    return load_events(path, name=DEMO_FILE)


@overload
def synthetic_events(
    n_users: int = ...,
    days: int = ...,
    seed: int = ...,
    events_per_user: float = ...,
    return_truth: Literal[False] = ...,
    treatment: Treatment | None = ...,
) -> pd.DataFrame: ...


@overload
def synthetic_events(
    n_users: int = ...,
    days: int = ...,
    seed: int = ...,
    events_per_user: float = ...,
    *,
    return_truth: Literal[True],
    treatment: Treatment | None = ...,
) -> tuple[pd.DataFrame, pd.DataFrame]: ...


def synthetic_events(
    n_users: int = 2000,
    days: int = 240,
    seed: int = 0,
    events_per_user: float = 40.0,
    return_truth: bool = False,
    treatment: Treatment | None = None,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded multi-event log in canonical columns, with a planted churn cause.

    Mechanism (all draws from ``numpy.random.default_rng(seed)``):

    1. Each user has a latent frustration ``f ~ Beta(*FRUSTRATION_BETA)``.
    2. A user joins at a uniform time in the first ``SIGNUP_SPAN`` of the timeline and is
       active until churn or the end. Their event rate is lognormal (``RATE_SIGMA``), scaled
       so the log holds about ``events_per_user * n_users`` events; it does not depend on f.
    3. Primary events are view / search / cart (``PRIMARY_EVENT_SHARES``) in short sessions
       (``EVENTS_PER_SESSION`` on average) placed uniformly over the active span. Each cart
       is followed (within hours) by a purchase with probability
       ``PURCHASE_AFTER_CART_MAX - PURCHASE_AFTER_CART_SLOPE * f``, so frustrated users
       abandon carts. A purchase is followed by a review with probability
       ``REVIEW_AFTER_PURCHASE``. Spend per purchase is lognormal with a per-user level
       that does not depend on f.
    4. Churn: nobody churns before ``CHURN_ONSET * days``. After that the daily hazard is
       ``CHURN_HAZARD_PER_DAY * exp(CHURN_HAZARD_FRUSTRATION * (f - mean f))``. A churned
       user has no event at or after the churn time (follow-up events included).

    The observable footprint of f is therefore cart abandonment: the feature
    ``PLANTED_DRIVER`` (``cart_to_purchase``, purchases per cart event) with LOW values
    meaning HIGH risk. Because churn starts late (just before the default 30-day training
    cutoffs of a 240-day log) and sessions are some days apart, recency carries only a
    small part of the signal. Linear models see the same driver as ``n_cart`` (+) together
    with ``n_purchase`` / ``n_orders`` (-), i.e. the log of the ratio.

    ``treatment`` plants a campaign effect (see :class:`Treatment`): the log is the same
    except that some treated users who would have churned get one purchase in the window;
    the truth then has a ``saved_by_treatment`` column.

    Returns the events sorted by user and time (``user_id`` str, ``timestamp``
    datetime64, ``event_type`` str, ``amount`` float (0 except purchases), ``item_id`` and
    ``category`` str); with ``return_truth=True`` also one row per user with the latent
    truth (``TRUTH_COLUMNS``; ``churn_time`` NaT when the user never churned).
    """
    if n_users < 1:
        raise ValueError(f"n_users must be at least 1, got {n_users}.")
    if days < 2:
        raise ValueError(f"days must be at least 2, got {days}.")
    if events_per_user <= 0:
        raise ValueError(f"events_per_user must be positive, got {events_per_user}.")
    rng = np.random.default_rng(seed)
    a, b = FRUSTRATION_BETA
    f = rng.beta(a, b, n_users)
    f_mean = a / (a + b)
    q = np.clip(PURCHASE_AFTER_CART_MAX - PURCHASE_AFTER_CART_SLOPE * f, 0.0, 1.0)
    signup = rng.uniform(0.0, SIGNUP_SPAN * days, n_users)
    onset = CHURN_ONSET * days
    hazard = CHURN_HAZARD_PER_DAY * np.exp(CHURN_HAZARD_FRUSTRATION * (f - f_mean))
    churn_t = np.maximum(signup, onset) + rng.exponential(1.0 / hazard)
    churned = churn_t < days
    end = np.where(churned, churn_t, float(days))
    span = end - signup

    # primary-event counts: rate independent of f, total scaled to ~events_per_user each
    level = rng.lognormal(-0.5 * RATE_SIGMA**2, RATE_SIGMA, n_users)
    p_cart = PRIMARY_EVENT_SHARES["cart"]
    per_primary = 1.0 + p_cart * q.mean() * (1.0 + REVIEW_AFTER_PURCHASE)
    lam = events_per_user / per_primary * level * span / span.mean()
    n_sessions = rng.poisson(lam / EVENTS_PER_SESSION)
    s_uid = np.repeat(np.arange(n_users), n_sessions)
    s_t = signup[s_uid] + rng.random(len(s_uid)) * span[s_uid]
    per_session = 1 + rng.poisson(EVENTS_PER_SESSION - 1.0, len(s_uid))
    uid = np.repeat(s_uid, per_session)
    t = np.repeat(s_t, per_session) + rng.exponential(SESSION_MINUTES / 1440.0, len(uid))
    kinds = np.array(list(PRIMARY_EVENT_SHARES))
    shares = np.array(list(PRIMARY_EVENT_SHARES.values()))
    etype = rng.choice(len(kinds), len(uid), p=shares / shares.sum())
    item = _items(rng, len(uid))

    # carts -> purchases (the planted behaviour) -> reviews
    cart = np.flatnonzero(etype == 2)
    bought = cart[rng.random(len(cart)) < q[uid[cart]]]
    p_uid = uid[bought]
    p_t = t[bought] + rng.exponential(2.0 / 24.0, len(bought))  # ~2 hours after the cart
    p_item = item[bought]
    spend_level = rng.lognormal(np.log(30.0), 0.5, n_users)
    p_amount = np.round(spend_level[p_uid] * rng.lognormal(0.0, 0.4, len(bought)), 2)
    r = rng.random(len(bought)) < REVIEW_AFTER_PURCHASE
    r_uid, r_item = p_uid[r], p_item[r]
    r_t = p_t[r] + rng.exponential(5.0, int(r.sum()))

    uid = np.concatenate([uid, p_uid, r_uid])
    t = np.concatenate([t, p_t, r_t])
    names = np.array([*kinds, "purchase", "review"], dtype=object)
    code = np.concatenate([etype, np.full(len(p_uid), 3), np.full(len(r_uid), 4)])
    amount = np.concatenate([np.zeros(len(etype)), p_amount, np.zeros(len(r_uid))])
    item = np.concatenate([item, p_item, r_item])
    keep = t < np.minimum(end[uid], days)  # churned users stop everything; nothing after the end
    uid, t, code, amount, item = uid[keep], t[keep], code[keep], amount[keep], item[keep]

    seconds = np.round(t * 86_400.0).astype(np.int64)
    order = np.lexsort((code, seconds, uid))
    uid, seconds, code, amount, item = (x[order] for x in (uid, seconds, code, amount, item))
    user_names = _user_names(n_users)
    item_names = np.array([f"I{i:05d}" for i in range(N_ITEMS)], dtype=object)
    cat_names = np.array([f"category_{c:02d}" for c in range(N_CATEGORIES)], dtype=object)
    frame = pd.DataFrame(
        {
            "user_id": pd.array(user_names[uid], dtype="str"),
            "timestamp": SYNTH_START.to_datetime64() + seconds.astype("timedelta64[s]"),
            "event_type": pd.array(names[code], dtype="str"),
            "amount": amount,
            "item_id": pd.array(item_names[item], dtype="str"),
            "category": pd.array(cat_names[item % N_CATEGORIES], dtype="str"),
        },
        columns=list(CANONICAL_COLUMNS),
    )
    frame["timestamp"] = frame["timestamp"].astype("datetime64[ns]")
    saved = pd.Index([], dtype=object)
    if treatment is not None:
        frame, saved = plant_treatment(frame, treatment)
    logger.debug("synthetic log: %d events, %d users, seed %d", len(frame), n_users, seed)
    if not return_truth:
        return frame
    to_time = lambda d: SYNTH_START + pd.to_timedelta(np.round(d * 86_400.0), unit="s")  # noqa: E731
    truth = pd.DataFrame(
        {
            "user_id": pd.array(user_names, dtype="str"),
            "frustration": f,
            "purchase_after_cart": q,
            "activity_rate": lam * per_primary / np.maximum(span, 1e-9),
            "signup": to_time(signup),
            "churn_time": to_time(np.where(churned, churn_t, np.nan)),
            "churned": churned,
        },
        columns=list(TRUTH_COLUMNS),
    )
    if treatment is not None:
        truth["saved_by_treatment"] = truth["user_id"].isin(saved)
    return frame, truth


def synthetic_truth(
    n_users: int = 2000, days: int = 240, seed: int = 0, events_per_user: float = 40.0
) -> pd.DataFrame:
    """The latent per-user truth behind ``synthetic_events`` with the same arguments."""
    return synthetic_events(n_users, days, seed, events_per_user, return_truth=True)[1]


def synthetic_log(
    n_users: int = 2000,
    days: int = 240,
    seed: int = 0,
    events_per_user: float = 40.0,
    treatment: Treatment | None = None,
) -> EventLog:
    """``synthetic_events`` wrapped as an :class:`EventLog` (layout ``"synthetic"``)."""
    frame = synthetic_events(n_users, days, seed, events_per_user, treatment=treatment)
    return EventLog.from_frame(frame, layout="synthetic")


@dataclass(frozen=True)
class Treatment:
    """A planted campaign effect with a known size, for checking uplift arithmetic.

    ``user_ids`` were contacted at ``start``. Each of them without activity in
    ``[start, start + horizon_days)`` (a would-be churner under the label) is kept with
    probability ``save_rate``: they get one purchase at a uniform time in that window
    (their last item, the median purchase amount of the log). Nothing before ``start``
    changes, so a campaign planned on events before ``start`` is the same with or without
    the effect. Expected uplift over a random split of a list = ``save_rate`` x the list's
    untreated churn rate (the same call without ``treatment`` gives the untreated log).
    Draws come from ``numpy.random.default_rng([seed, 1])``.
    """

    user_ids: tuple[str, ...]
    start: pd.Timestamp
    horizon_days: int
    save_rate: float
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.save_rate <= 1:
            raise ValueError(f"save_rate must be between 0 and 1, got {self.save_rate}.")
        if self.horizon_days < 1:
            raise ValueError(f"horizon_days must be at least 1, got {self.horizon_days}.")


def plant_treatment(frame: pd.DataFrame, treatment: Treatment) -> tuple[pd.DataFrame, pd.Index]:
    """``frame`` with the treatment's saved users' window purchases added, and who they are."""
    start = pd.Timestamp(treatment.start)
    end = start + pd.Timedelta(days=treatment.horizon_days)
    ts = frame["timestamp"]
    active = pd.Index(frame.loc[(ts >= start) & (ts < end), "user_id"].unique())
    known = pd.Index(frame["user_id"].unique())
    treated = pd.Index(sorted(set(map(str, treatment.user_ids))))
    candidates = treated[treated.isin(known) & ~treated.isin(active)]
    rng = np.random.default_rng([int(treatment.seed), 1])
    saved = candidates[rng.random(len(candidates)) < treatment.save_rate]
    if len(saved) == 0:
        return frame, saved
    last = frame.loc[frame["user_id"].isin(saved)].groupby("user_id").tail(1).set_index("user_id")
    last = last.reindex(saved)
    purchases = frame.loc[frame["event_type"] == "purchase", "amount"]
    amount = float(purchases.median()) if len(purchases) else 30.0
    seconds = np.floor(rng.random(len(saved)) * treatment.horizon_days * 86_400.0)
    extra = pd.DataFrame(
        {
            "user_id": pd.array(saved.to_numpy(), dtype="str"),
            "timestamp": (start + pd.to_timedelta(seconds, unit="s")).astype("datetime64[ns]"),
            "event_type": pd.array(["purchase"] * len(saved), dtype="str"),
            "amount": np.full(len(saved), amount),
            "item_id": pd.array(last["item_id"].to_numpy(), dtype="str"),
            "category": pd.array(last["category"].to_numpy(), dtype="str"),
        },
        columns=list(frame.columns),
    )
    out = pd.concat([frame, extra], ignore_index=True)
    out = out.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    return out, saved


def _user_names(n: int) -> np.ndarray:
    width = max(5, len(str(n - 1)))
    return np.array([f"u{i:0{width}d}" for i in range(n)], dtype=object)


def _items(rng: np.random.Generator, size: int) -> np.ndarray:
    """Zipf-like item popularity over ``N_ITEMS`` items."""
    weights = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.9
    cdf = np.cumsum(weights / weights.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(size)), N_ITEMS - 1)
