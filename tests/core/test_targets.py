"""Risk tiers: relative to the average churn probability by default, or fixed cuts."""

import numpy as np
import pytest

from churn_core.config import TargetingConfig
from churn_core.targets import risk_tier, tier_cuts, tier_legend


def test_relative_tiers_follow_the_shops_churn_rate():
    rng = np.random.default_rng(0)
    for rate in (0.06, 0.45):  # a low-churn and a high-churn shop
        prob = np.clip(rng.beta(2, 2 / rate - 2, 5000), 0, 1)
        lo, hi = tier_cuts(prob, TargetingConfig())
        m = prob.mean()
        assert lo == pytest.approx(m) and hi == pytest.approx(min(2 * m, (m + 1) / 2))
        tiers = risk_tier(prob, (lo, hi))
        share = {t: float(np.mean(tiers == t)) for t in ("low", "medium", "high")}
        assert all(share[t] > 0.01 for t in share), (rate, share)  # every tier is populated
        assert np.all(prob[tiers == "high"] >= hi) and np.all(prob[tiers != "high"] < hi)


def test_a_high_churn_shop_still_has_a_high_tier():
    # like the retail demo: average 0.41, no score reaches 2x the average (0.82)
    rng = np.random.default_rng(1)
    prob = np.clip(rng.normal(0.41, 0.18, 4000), 0.05, 0.785)
    lo, hi = tier_cuts(prob, TargetingConfig())
    assert prob.max() < 2 * prob.mean() and hi == pytest.approx((lo + 1) / 2)
    tiers = risk_tier(prob, (lo, hi))
    assert 0 < np.mean(tiers == "high") < np.mean(tiers == "medium")
    assert "halfway from medium to 1" in tier_legend(prob, TargetingConfig())


def test_fixed_probability_tiers_and_the_legend():
    prob = np.array([0.05, 0.3, 0.59, 0.6, 0.9])
    fixed = TargetingConfig(tier_basis="probability")
    assert tier_cuts(prob, fixed) == (0.3, 0.6)
    assert list(risk_tier(prob, tier_cuts(prob, fixed))) == [
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]
    assert "fixed probability cuts" in tier_legend(prob, fixed)
    low = np.array([0.01, 0.02, 0.05, 0.1, 0.12])  # average 0.06: high from 2x it
    assert "(2× and 1× the average churn probability, 0.060)" in tier_legend(low, TargetingConfig())


def test_bad_tier_settings_are_explained():
    with pytest.raises(ValueError, match="relative_tier_cuts"):
        TargetingConfig(relative_tier_cuts=(2.0, 1.0))
    with pytest.raises(ValueError, match="tier_basis"):
        TargetingConfig(tier_basis="quantile")
