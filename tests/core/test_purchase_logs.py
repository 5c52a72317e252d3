"""The buy-till-you-die purchase logs the quality sweep and floor tests draw on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn_core.purchase_logs import (
    SALE_WEEK,
    SHOPS,
    START,
    forecasts,
    purchase_log,
    sale_forecasts,
    with_sale,
)


def _gap_variation(frame: pd.DataFrame) -> float:
    """Median over customers with 5+ orders of the coefficient of variation of their gaps."""
    orders = frame.drop_duplicates(["user_id", "timestamp"])
    days = orders.groupby("user_id")["timestamp"].diff().dt.total_seconds() / 86_400
    stats = days.groupby(orders["user_id"]).agg(["mean", "std", "count"])
    stats = stats[stats["count"] >= 4]
    return float((stats["std"] / stats["mean"]).median())


def test_logs_are_canonical_order_lines_inside_the_log_window():
    for shape, shop in SHOPS.items():
        frame = purchase_log(shape, 0, users=3000)
        assert list(frame.columns) == ["user_id", "timestamp", "amount"]
        assert frame["timestamp"].is_monotonic_increasing
        assert frame["timestamp"].min() >= START  # earlier purchases are cut, not shifted
        assert frame["timestamp"].max() < START + pd.Timedelta(weeks=shop.weeks)
        assert (frame["amount"] > 0).all()
        for cutoff, horizon in forecasts(shape):  # every forecast has a complete window
            assert cutoff + pd.Timedelta(days=horizon) <= START + pd.Timedelta(weeks=shop.weeks)
    a, b = purchase_log("open", 3, users=500), purchase_log("open", 3, users=500)
    pd.testing.assert_frame_equal(a, b)  # seeded


def test_replenishment_gaps_are_regular_and_open_shop_gaps_memoryless():
    regular = _gap_variation(purchase_log("replenish", 0, users=4000))
    memoryless = _gap_variation(purchase_log("open", 0, users=4000))
    assert regular < 0.6 < memoryless  # Gamma(6) gaps: CV about 0.4; exponential: about 1
    assert np.isfinite(regular)


def test_a_sale_week_adds_one_off_buyers_inside_that_week_only():
    shop = purchase_log("replenish", 0, users=3000)
    sale = with_sale(shop, SALE_WEEK["replenish"], 0.25, 7)
    buyers = sale[sale["user_id"].str.startswith("S")]
    assert len(buyers) == buyers["user_id"].nunique() == int(0.25 * shop["user_id"].nunique())
    week = START + pd.Timedelta(weeks=SALE_WEEK["replenish"])
    assert buyers["timestamp"].between(week, week + pd.Timedelta(days=7)).all()
    assert sale["timestamp"].is_monotonic_increasing
    pd.testing.assert_frame_equal(  # the shop's own rows are untouched
        sale[~sale["user_id"].str.startswith("S")].reset_index(drop=True), shop
    )
    for cutoff, horizon in sale_forecasts("replenish"):  # T - H lies after the sale week
        assert week + pd.Timedelta(days=7) <= cutoff - pd.Timedelta(days=horizon)
        assert cutoff + pd.Timedelta(days=horizon) <= START + pd.Timedelta(weeks=26)
