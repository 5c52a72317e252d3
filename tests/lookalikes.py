"""Generated logs in the formats of the public layouts in ../shared/data (no real rows).

Same columns and value formats as Taobao UserBehavior, REES46, Tmall 2013 and Instacart
orders, with seeded random values, written to CSV text and read back with ``read_events``
like a file. Tests of layout and column detection use them when ../shared is absent.
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd

from churn_core.loading import read_events


def _events(rng: np.random.Generator, n_users: int, per_user: int) -> tuple[np.ndarray, ...]:
    users = np.repeat(np.arange(n_users), per_user)
    order = np.arange(len(users))
    return users, order


def taobao(rng: np.random.Generator, n_users: int = 300) -> pd.DataFrame:
    users, _ = _events(rng, n_users, 30)
    n = len(users)
    start = 1511539200  # 2017-11-25
    return pd.DataFrame(
        {
            "user_id": users + 1,
            "item_id": rng.choice(rng.integers(1_000_000, 5_000_000, 3000), n),
            "category_id": rng.choice(rng.integers(1_000_000, 5_000_000, 400), n),
            "behavior_type": rng.choice(
                ["pv", "cart", "fav", "buy"], n, p=[0.89, 0.06, 0.03, 0.02]
            ),
            "timestamp": np.sort(rng.integers(start, start + 9 * 86_400, n)),
        }
    )


def rees46(rng: np.random.Generator, n_users: int = 300) -> pd.DataFrame:
    """Sessions of a few events within an hour; each session belongs to one user."""
    n_sessions, per = 1500, 4
    owner = rng.choice(rng.integers(500_000_000, 570_000_000, n_users), n_sessions)
    start = rng.integers(0, 31 * 86_400, n_sessions)
    seconds = np.repeat(start, per) + rng.integers(0, 3600, n_sessions * per)
    session = np.repeat(
        [str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**62, n_sessions)], per
    )
    n = len(seconds)
    codes = ["electronics.smartphone", "appliances.kitchen.kettle", "apparel.shoes", ""]
    frame = pd.DataFrame(
        {
            "event_time": (
                pd.Timestamp("2019-10-01") + pd.to_timedelta(seconds, unit="s")
            ).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "event_type": rng.choice(["view", "cart", "purchase"], n, p=[0.9, 0.06, 0.04]),
            "product_id": rng.choice(rng.integers(1_000_000, 60_000_000, 2000), n),
            "category_id": rng.choice(
                rng.integers(2_053_013_552_000_000_000, 2_175_419_595_000_000_000, 300), n
            ),
            "category_code": rng.choice(codes, n),
            "brand": rng.choice(["samsung", "apple", "xiaomi", "shiseido", ""], n),
            "price": np.round(rng.lognormal(4, 1, n), 2),
            "user_id": np.repeat(owner, per),
            "user_session": session,
        }
    )
    return frame.iloc[np.argsort(seconds, kind="stable")].reset_index(drop=True)


def tmall(rng: np.random.Generator, n_users: int = 300) -> pd.DataFrame:
    per = 40  # the file is grouped by user, each user's visits in date order
    ids = rng.choice(np.arange(10_000_000, 13_000_000), n_users, replace=False)
    n = n_users * per
    offsets = np.sort(rng.integers(0, 120, (n_users, per)), axis=1).ravel()
    days = pd.Timestamp("2013-04-15") + pd.to_timedelta(offsets, "D")
    return pd.DataFrame(
        {
            "user_id": np.repeat(ids, per),
            "brand_id": rng.integers(1, 30_000, n),
            "type": rng.choice([0, 1, 2, 3], n, p=[0.95, 0.03, 0.015, 0.005]),
            "visit_datetime": [f"{d.month}-{d.day}" for d in days],
        }
    )


def instacart(rng: np.random.Generator, n_users: int = 300) -> pd.DataFrame:
    rows = []
    order_id = 1_000_000
    for user in range(1, n_users + 1):
        for number in range(1, int(rng.integers(4, 30)) + 1):
            order_id += int(rng.integers(1, 50))
            gap = "" if number == 1 else str(int(rng.integers(0, 31)))
            rows.append(
                (
                    order_id,
                    user,
                    "prior",
                    number,
                    int(rng.integers(0, 7)),
                    int(rng.integers(0, 24)),
                    gap,
                )
            )
    return pd.DataFrame(
        rows,
        columns=[
            "order_id",
            "user_id",
            "eval_set",
            "order_number",
            "order_dow",
            "order_hour_of_day",
            "days_since_prior_order",
        ],
    )


MAKERS = {
    "taobao-userbehavior": taobao,
    "rees46": rees46,
    "tmall-2013": tmall,
    "instacart-orders": instacart,
}


def lookalike(layout: str, seed: int = 0) -> pd.DataFrame:
    """A generated raw frame in ``layout``'s format, read back from CSV text like a file."""
    frame = MAKERS[layout](np.random.default_rng(seed))
    return read_events(frame.to_csv(index=False).encode())
