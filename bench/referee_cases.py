"""The odd-but-valid purchase logs ``bench/referee_shapes.py`` runs through the referee.

Each :class:`Case` builds a source log nobody tuned for (``churn_core.purchase_logs`` shops and
the synthetic generator, then transformed: dates only, ISO "T…Z" / "+01:00" stamps, no amount,
returns and outliers, numeric / zero-padded / quoted ids, very short or missing training
history, few or many customers, nearly everyone or nobody churning, one purchase per customer,
many lines per order, ``event_type`` columns, unsorted rows with duplicates) with its forecast
cutoff T and horizon H. ``CASES`` is the main table; ``GRID`` the replenishment shop with the
newest training cutoff T - H 1-28 days after the log's first event.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from churn_core.datasets import synthetic_events  # noqa: E402
from churn_core.purchase_logs import SHOPS, START, purchase_log  # noqa: E402


@dataclass(frozen=True)
class Case:
    """One source log, the forecast cutoff T and the horizon H."""

    name: str
    build: Callable[[], pd.DataFrame]
    cutoff: str
    horizon: int
    note: str = ""


def _shop(shape: str, seed: int = 0, users: int | None = None, **changes) -> pd.DataFrame:
    """``purchase_log`` of ``shape`` with some ``Shop`` fields changed."""
    if not changes:
        return purchase_log(shape, seed, users)
    key = f"_{shape}_{seed}_{sorted(changes.items())}"
    SHOPS[key] = replace(SHOPS[shape], **changes)
    try:
        return purchase_log(key, seed, users)
    finally:
        del SHOPS[key]


def _day(weeks: float) -> str:
    return f"{START + pd.Timedelta(weeks=weeks):%Y-%m-%d}"


def _fmt(frame: pd.DataFrame, fmt: str) -> pd.DataFrame:
    return frame.assign(timestamp=frame.timestamp.dt.strftime(fmt))


def _dates_only() -> pd.DataFrame:
    return _fmt(_shop("cohort", 1), "%Y-%m-%d")


def _iso_z() -> pd.DataFrame:
    return _fmt(_shop("open", 1, 30_000), "%Y-%m-%dT%H:%M:%SZ")


def _iso_offset() -> pd.DataFrame:
    return _fmt(_shop("open", 2, 30_000), "%Y-%m-%dT%H:%M:%S+01:00")


def _no_amount() -> pd.DataFrame:
    return _shop("replenish", 1, 25_000).drop(columns="amount")


def _odd_amounts() -> pd.DataFrame:
    frame = _shop("open", 3, 30_000)
    rng = np.random.default_rng(3)
    u = rng.random(len(frame))
    amount = frame.amount.to_numpy().copy()
    amount[u < 0.15] = 0.0  # free items
    amount[(u >= 0.15) & (u < 0.20)] *= -1  # returns
    amount[u > 0.9995] = 1e7  # huge outliers
    return frame.assign(amount=amount)


def _numeric_ids() -> pd.DataFrame:
    frame = _shop("cohort", 2)
    return frame.assign(user_id=frame.user_id.str[1:].astype(int) + 100_000)


def _zero_ids() -> pd.DataFrame:
    frame = _shop("replenish", 2, 25_000)
    return frame.assign(user_id="000" + frame.user_id.str[1:])


def _quoted_ids() -> pd.DataFrame:
    frame = _shop("replenish", 3, 25_000)
    num = frame.user_id.str[1:]
    return frame.assign(user_id='Shop "A", id ' + num + " x")


def _short() -> pd.DataFrame:
    return _shop("open", 4, 30_000)  # the log starts at START; earlier purchases are cut


def _few(n: int) -> Callable[[], pd.DataFrame]:
    return lambda: _shop("cohort", 5, n)


def _big() -> pd.DataFrame:
    return _shop("cohort", 6, 28_000)


def _churn_high() -> pd.DataFrame:
    # CDNOW-like customers who almost all leave after one or two orders, long after joining
    return _shop("cohort", 7, 26_000, a=6.0, b=1.0, join_to=4)


def _churn_low() -> pd.DataFrame:
    # loyal weekly shoppers: about 3 orders a week, almost nobody leaves
    return _shop("open", 8, 25_000, r=6.0, alpha=2.0, a=0.3, b=200.0, join_from=-52, join_to=0)


def _one_purchase() -> pd.DataFrame:
    return _shop("cohort", 9, 26_000, a=3.0, b=0.8)


def _many_lines() -> pd.DataFrame:
    return _shop("open", 10, 30_000, lines=12.0)


def _event_purchase() -> pd.DataFrame:
    return _shop("replenish", 4, 25_000).assign(event_type="purchase")


def _event_odd() -> pd.DataFrame:
    frame = _shop("open", 11, 30_000)
    rng = np.random.default_rng(11)
    refund = rng.random(len(frame)) < 0.05
    return frame.assign(
        event_type=np.where(refund, "refund", "order"),
        amount=np.where(refund, -frame.amount, frame.amount),
    )


def _unsorted_dups() -> pd.DataFrame:
    frame = _shop("open", 12, 30_000)
    rng = np.random.default_rng(12)
    dups = frame.sample(frac=0.1, random_state=12)
    both = pd.concat([frame, dups], ignore_index=True)
    return both.iloc[rng.permutation(len(both))]


def _multi_event() -> pd.DataFrame:
    ev = synthetic_events(n_users=2500, days=240, seed=4, events_per_user=30)
    return ev[["user_id", "timestamp", "amount", "event_type"]]


def _iso_dst() -> pd.DataFrame:
    frame = _shop("open", 13, 30_000)  # Europe/Berlin: +01:00 in winter, +02:00 from March 29
    local = frame.timestamp.dt.tz_localize("Europe/Berlin", nonexistent="shift_forward")
    return frame.assign(timestamp=local.map(lambda t: t.isoformat()))


def _iso_naive() -> pd.DataFrame:
    return _fmt(_shop("open", 14, 30_000), "%Y-%m-%dT%H:%M:%S")


def _millis() -> pd.DataFrame:
    frame = _shop("open", 15, 30_000)
    jitter = np.random.default_rng(15).integers(0, 60_000, len(frame))
    return frame.assign(timestamp=frame.timestamp + pd.to_timedelta(jitter, unit="ms"))


def _missing_ids() -> pd.DataFrame:
    frame = _shop("cohort", 16).astype({"user_id": object})
    ids = frame.user_id.str[1:].astype(int) + 500_000
    blank = np.random.default_rng(16).random(len(frame)) < 0.005
    return frame.assign(user_id=ids.where(~blank))


def _missing_amounts() -> pd.DataFrame:
    frame = _shop("open", 17, 30_000)
    blank = np.random.default_rng(17).random(len(frame)) < 0.03
    return frame.assign(amount=frame.amount.where(~blank))


def _missing_events() -> pd.DataFrame:
    frame = _shop("replenish", 18, 25_000)
    blank = np.random.default_rng(18).random(len(frame)) < 0.02
    return frame.assign(event_type=np.where(blank, None, "purchase"))


def _ids(transform: Callable[[pd.Series], pd.Series], shape: str, seed: int) -> Callable:
    def build() -> pd.DataFrame:
        frame = _shop(shape, seed, 25_000 if shape != "cohort" else None)
        return frame.assign(user_id=transform(frame.user_id.str[1:].astype(int)))

    return build


def _names(num: pd.Series) -> pd.Series:
    first = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hans", "Ida", "Jonas"]
    last = ["Schmidt", "Meyer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter"]
    double = [f"{a}-{b}" for a in last for b in last]  # 64 surnames
    n = num.to_numpy()
    given = [f"{first[i % 10]} {chr(65 + (i // 10) % 26)}." for i in n]  # 260 given names
    return pd.Series(
        [f"{g} {double[(i // 260) % 64]}{'' if i < 16640 else ' Jr'}" for g, i in zip(given, n)],
        index=num.index,
    )


def _subscription() -> pd.DataFrame:
    rng = np.random.default_rng(19)
    n = 25_000
    start = rng.integers(0, 240, n)  # day of the first payment
    months = rng.geometric(0.12, n)  # renewals until they cancel
    day = START + pd.to_timedelta(start, unit="D")
    users = np.repeat(np.arange(n), months)
    k = np.concatenate([np.arange(m) for m in months])
    stamp = day[users] + pd.to_timedelta(k * 30, unit="D")
    frame = pd.DataFrame({"user_id": [f"S{u:05d}" for u in users], "timestamp": stamp})
    frame["amount"] = 9.99
    return frame[frame.timestamp < START + pd.Timedelta(days=300)].sort_values("timestamp")


def _weekly_batch() -> pd.DataFrame:
    frame = _shop("replenish", 20, 25_000)
    return frame.assign(timestamp=frame.timestamp.dt.to_period("W-SUN").dt.start_time)


def _bot() -> pd.DataFrame:
    frame = _shop("open", 21, 30_000)
    stamps = pd.date_range(START, START + pd.Timedelta(weeks=17), periods=150_000)
    bot = pd.DataFrame({"user_id": "C99999", "timestamp": stamps.floor("min"), "amount": 1.0})
    return pd.concat([frame, bot], ignore_index=True)


def _event_codes() -> pd.DataFrame:
    ev = _multi_event()  # Tmall-style numeric codes instead of names
    codes = {"view": 0, "purchase": 1, "review": 2, "cart": 3, "search": 4}
    return ev.assign(event_type=ev.event_type.map(codes))


def _rees_events() -> pd.DataFrame:
    ev = _multi_event()
    drop = (ev.event_type == "review") & (np.random.default_rng(28).random(len(ev)) < 0.5)
    return ev.assign(event_type=ev.event_type.where(~drop, "remove_from_cart"))


def _blank_view_amounts() -> pd.DataFrame:
    ev = _multi_event()  # amounts only on purchases, blank on every other event
    return ev.assign(amount=ev.amount.where(ev.event_type == "purchase"))


def _mostly_blank_amounts() -> pd.DataFrame:
    frame = _shop("open", 32, 30_000)  # a purchase log where most lines carry no amount
    blank = np.random.default_rng(32).random(len(frame)) < 0.7
    return frame.assign(amount=frame.amount.where(~blank))


def _all_negative() -> pd.DataFrame:
    frame = _shop("replenish", 29, 25_000)
    return frame.assign(amount=-frame.amount)  # debits written as negative numbers


def _outage() -> pd.DataFrame:
    frame = _shop("cohort", 30)
    gap = (frame.timestamp >= _day(20)) & (frame.timestamp < _day(22))
    return frame[~gap]  # two weeks missing from the export, inside the training window


def _launch(first_day_users: int) -> Callable[[], pd.DataFrame]:
    def build() -> pd.DataFrame:  # a new shop: only a few customers on its first day
        frame = _shop("cohort", 31, 25_000)
        day0 = frame.timestamp < START + pd.Timedelta(days=1)
        keep = set(frame.user_id[day0].drop_duplicates().head(first_day_users))
        return frame[~day0 | frame.user_id.isin(keep)]

    return build


def _spike() -> pd.DataFrame:
    frame = _shop("replenish", 35, 24_000)  # plus a sale week of one-off buyers before T - H
    rng = np.random.default_rng(35)
    n = 6_000
    day = pd.Timestamp(_day(6)) + pd.to_timedelta(rng.uniform(0, 7, n), unit="D")
    sale = pd.DataFrame({"user_id": [f"S{i:05d}" for i in range(n)], "timestamp": day.floor("D")})
    sale["amount"] = np.round(rng.lognormal(3, 0.5, n), 2)
    return pd.concat([frame, sale]).sort_values("timestamp", kind="stable")


def _event_caps() -> pd.DataFrame:
    frame = _shop("open", 22, 30_000)
    rng = np.random.default_rng(22)
    kinds = rng.choice(["Purchase", "ORDER", "Refund"], len(frame), p=[0.6, 0.35, 0.05])
    return frame.assign(event_type=kinds)


CASES = [
    Case("dates_only", _dates_only, _day(26), 60, "cohort, YYYY-MM-DD"),
    Case("iso_T_Z", _iso_z, _day(9), 30, "open, ...T..Z (tz-aware)"),
    Case("iso_T_offset", _iso_offset, _day(13), 28, "open, ...T..+01:00"),
    Case("no_amount", _no_amount, _day(13), 60, "replenish, no amount column"),
    Case("odd_amounts", _odd_amounts, _day(9), 56, "zeros, returns, 1e7 outliers"),
    Case("numeric_ids", _numeric_ids, _day(39), 90, "cohort, int ids"),
    Case("zero_ids", _zero_ids, _day(20), 30, "replenish, ids 000xxxxx"),
    Case("quoted_ids", _quoted_ids, _day(13), 60, 'ids with , " and spaces'),
    Case("short_1d", _short, f"{START + pd.Timedelta(days=31):%Y-%m-%d}", 30, "T-H = first+1d"),
    Case("short_7d", _short, f"{START + pd.Timedelta(days=37):%Y-%m-%d}", 30, "T-H = first+7d"),
    Case("short_7d_h90", _short, f"{START + pd.Timedelta(days=97):%Y-%m-%d}", 90, "first+7d"),
    Case("before_first", _short, f"{START + pd.Timedelta(days=20):%Y-%m-%d}", 30, "T-H<first"),
    Case("few_150", _few(150), _day(26), 60, "cohort, 150 customers"),
    Case("few_400", _few(400), _day(26), 30, "cohort, 400 customers"),
    Case("big_28k", _big, _day(39), 90, "cohort, 28k customers"),
    Case("churn_high", _churn_high, _day(30), 30, "cohort, most leave at once"),
    Case("churn_low", _churn_low, _day(13), 30, "open, loyal weekly shoppers"),
    Case("one_purchase", _one_purchase, _day(26), 90, "cohort, most buy once"),
    Case("many_lines", _many_lines, _day(9), 30, "open, ~13 lines per order"),
    Case("event_purchase", _event_purchase, _day(13), 60, "event_type = purchase"),
    Case("event_odd", _event_odd, _day(13), 28, "event_type order / refund"),
    Case("unsorted_dups", _unsorted_dups, _day(9), 56, "shuffled, 10% duplicated rows"),
    Case("multi_event", _multi_event, "2024-07-01", 30, "synthetic view/cart/purchase"),
    Case("iso_T_Z_awareT", _iso_z, _day(9) + "T00:00:00Z", 30, "…Z stamps, T with Z"),
    Case("iso_T_offset_awareT", _iso_offset, _day(13) + "T00:00:00+01:00", 28, "+01:00, T too"),
    Case("iso_dst", _iso_dst, _day(13) + "T00:00:00+01:00", 28, "+01:00 / +02:00 (DST)"),
    Case("iso_naive", _iso_naive, _day(13), 28, "...T10:00:00, no offset"),
    Case("millis", _millis, _day(9), 30, "timestamps with milliseconds"),
    Case("missing_ids", _missing_ids, _day(26), 60, "int ids, 0.5% blank (referee: 123.0)"),
    Case("missing_amounts", _missing_amounts, _day(9), 30, "3% blank amounts"),
    Case("missing_events", _missing_events, _day(13), 30, "2% blank event_type"),
    Case(
        "email_ids",
        _ids(lambda u: "user" + u.astype(str) + "@example.com", "open", 23),
        _day(9),
        30,
        "ids are e-mail addresses",
    ),
    Case(
        "phone_ids",
        _ids(lambda u: u + 4915112000000, "replenish", 24),
        _day(13),
        30,
        "ids like phone numbers",
    ),
    Case("name_ids", _ids(_names, "replenish", 25), _day(13), 60, "ids are people's names"),
    Case(
        "uuid_ids",
        _ids(
            lambda u: u.map(lambda v: f"{int(v) * 2654435761 * 10**20 % 2**128:032x}"), "open", 26
        ),
        _day(13),
        28,
        "hex ids",
    ),
    Case("subscription", _subscription, _day(34), 30, "monthly renewals, same amount"),
    Case("weekly_batch", _weekly_batch, _day(20), 30, "stamps only on Mondays"),
    Case("bot_user", _bot, _day(9), 30, "one id with 150k events"),
    Case("event_caps", _event_caps, _day(13), 28, "Purchase / ORDER / Refund"),
    Case("zero_days", _short, f"{START + pd.Timedelta(days=30):%Y-%m-%d}", 30, "T-H = first"),
    Case("h14", _ids(lambda u: "C" + u.astype(str), "open", 27), _day(9), 14, "H = 14"),
    Case("h120", _big, _day(39), 120, "cohort, H = 120"),
    Case("h45", _one_purchase, _day(30), 45, "cohort, most buy once, H = 45"),
    Case("event_codes", _event_codes, "2024-07-01", 30, "event_type 0..4 codes"),
    Case("rees_events", _rees_events, "2024-07-01", 30, "view/cart/remove_from_cart/purchase"),
    Case(
        "blank_view_amounts", _blank_view_amounts, "2024-07-01", 30, "amount blank but on purchases"
    ),
    Case("mostly_blank_amounts", _mostly_blank_amounts, _day(9), 30, "70% of amounts blank"),
    Case("all_negative", _all_negative, _day(13), 30, "every amount negative"),
    Case("outage", _outage, _day(26), 30, "two weeks missing before T - H"),
    Case(
        "launch_1",
        _launch(1),
        f"{START + pd.Timedelta(days=61):%Y-%m-%d}",
        60,
        "1 customer before T - H",
    ),
    Case(
        "launch_5",
        _launch(5),
        f"{START + pd.Timedelta(days=61):%Y-%m-%d}",
        60,
        "5 customers before T - H",
    ),
    Case(
        "launch_20",
        _launch(20),
        f"{START + pd.Timedelta(days=61):%Y-%m-%d}",
        60,
        "20 customers before T - H",
    ),
    Case(
        "launch_40",
        _launch(40),
        f"{START + pd.Timedelta(days=61):%Y-%m-%d}",
        60,
        "40 customers before T - H",
    ),
    Case(
        "open_long",
        lambda: _shop("open", 33, 40_000, weeks=53),
        _day(39),
        90,
        "grocery shop, 9 months, H = 90",
    ),
    Case(
        "replenish_long",
        lambda: _shop("replenish", 34, 30_000, weeks=53),
        _day(39),
        60,
        "replenishment, 9 months, H = 60",
    ),
    Case(
        "short_replenish",
        lambda: _shop("replenish", 36, 30_000),
        f"{START + pd.Timedelta(days=63):%Y-%m-%d}",
        60,
        "replenishment, T - H = first + 3 d",
    ),
    Case(
        "short_churn_high",
        _churn_high,
        f"{START + pd.Timedelta(days=37):%Y-%m-%d}",
        30,
        "most leave at once, T - H = first + 7 d",
    ),
    Case("sale_spike", _spike, _day(13), 30, "6k one-off buyers in a sale week before T - H"),
    Case("two_months_h90", _short, _day(9), 90, "9 weeks of history, H = 90: T-H < first"),
]


def _replenish(seed: int) -> Callable[[], pd.DataFrame]:
    return lambda: _shop("replenish", seed, 30_000)


# the replenishment shop with T - H days after its first event: the fitted blend's weak spot
GRID = [
    Case(
        f"rep_s{seed}_h{h}_o{off}",
        _replenish(seed),
        f"{START + pd.Timedelta(days=h + off):%Y-%m-%d}",
        h,
        f"replenishment, T - H = first + {off} d",
    )
    for seed in (36, 37)
    for h in (30, 60, 90)
    for off in (1, 3, 7, 14, 28)
]
