"""``campaign --engine duckdb``: the plan over an out-of-core source equals the in-memory one.

The bundled retail log (CSV.gz, with amounts and items) opened out of core gives the same
list (users, groups, actions, reasons, recommended items) and the same profit curve as
``campaign.build_campaign`` on the log in memory, in one batch of users or in many, with the
list explained and given items in one chunk or in several.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_core.campaign import build_campaign
from churn_core.config import ChurnConfig
from churn_core.engine.campaign import build_source_campaign, recommend_listed
from churn_core.engine.files import open_source
from churn_core.pipeline import train
from churn_core.recommend import recommend_items
from tests.conftest import DEMO

AS_OF = pd.Timestamp("2011-10-01")
CHEAP = ChurnConfig().with_(
    model={"cv_folds": 2, "blend": "none", "max_cv_rows": 4_000},
    label={"n_cutoffs": 2},
    campaign={"size": 400, "control_share": 0.2},
)


@pytest.fixture(scope="module")
def model(retail_log):
    return train(retail_log, CHEAP).model


@pytest.fixture(scope="module")
def local_plan(retail_log, model):
    return build_campaign(model, CHEAP, retail_log, AS_OF, {"source": "retail"})


def _source_plan(model, config):
    return build_source_campaign(model, config, open_source(DEMO), AS_OF, {"source": "retail"})


def test_the_out_of_core_plan_equals_the_in_memory_plan(model, local_plan):
    plan = _source_plan(model, CHEAP)
    assert plan.size == local_plan.size == 400
    assert plan.metadata == local_plan.metadata
    ours, theirs = plan.users, local_plan.users
    assert list(ours.columns) == list(theirs.columns)
    assert "recommended_item_1" in ours and "reason_1" in ours and "action" in ours
    numeric = ours.select_dtypes("number").columns
    pd.testing.assert_frame_equal(
        ours.drop(columns=numeric), theirs.drop(columns=numeric), check_dtype=False
    )
    np.testing.assert_allclose(ours[numeric], theirs[numeric], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(plan.curve, local_plan.curve, rtol=1e-6, atol=1e-6)


def test_small_batches_give_the_same_plan(model, local_plan):
    """Batches of 150 users (30 of the log, 3 chunks of the list): the SHAP background is
    still a uniform sample of everyone, and chunks of the list explain like the whole."""
    plan = _source_plan(model, CHEAP.with_(engine={"batch_users": 150}))
    ours, theirs = plan.users, local_plan.users
    numeric = ours.select_dtypes("number").columns
    pd.testing.assert_frame_equal(
        ours.drop(columns=numeric), theirs.drop(columns=numeric), check_dtype=False
    )
    np.testing.assert_allclose(ours[numeric], theirs[numeric], rtol=1e-6, atol=1e-9)


def test_recommended_items_equal_the_in_memory_recommender(retail_log):
    as_of = pd.Timestamp("2011-06-01")
    users = pd.Index(retail_log.frame["user_id"].drop_duplicates().astype(str).iloc[::7][:300])
    ours = recommend_listed(open_source(DEMO).before(as_of), as_of, users, chunk_users=70)
    theirs = recommend_items(retail_log, as_of, list(users), k=5)
    assert ours.index.equals(theirs.index)
    assert ours.notna().to_numpy().sum() > 1000  # real lists, not empty ones
    pd.testing.assert_frame_equal(ours, theirs)


def test_scores_from_another_log_are_refused_with_the_fix(model, local_plan):
    from churn_core.errors import EventDataError

    scores = pd.DataFrame(
        {
            "user_id": ["12346", "not-a-customer"],
            "churn_probability": [0.5, 0.9],
            "risk_tier": ["high", "high"],
        }
    )
    with pytest.raises(EventDataError, match="not-a-customer.*same event log"):
        build_source_campaign(model, CHEAP, open_source(DEMO), AS_OF, scores=scores)
