"""Explaining the Transformer through behaviour: occluding event types and recent days."""

import numpy as np
import pandas as pd
import pytest

from churn_core.config import ChurnConfig
from churn_core.explain_user import explain_user_text, sequence_occlusion
from churn_core.pipeline import train
from churn_core.table import SEQUENCE_COLUMN, scoring_table
from tests.core.test_bundle_cli import AS_OF, TINY_ENCODER
from tests.core.test_leakage import _base_log


@pytest.fixture(scope="module")
def encoder_run():
    log = _base_log(n_users=200)
    cfg = ChurnConfig().with_(
        label={"horizon_days": 30, "n_cutoffs": 2},
        model={"cv_folds": 2},
        encoder={"kind": "hybrid", **TINY_ENCODER},
    )
    return log, train(log, cfg, AS_OF)


def test_occlusion_removes_exactly_what_it_says(encoder_run):
    log, run = encoder_run
    model = run.model
    table = scoring_table(log.before(AS_OF), AS_OF, model.event_types, model.max_events, 30)
    X = table.X.iloc[:5]
    ids = table.user_id[:5].astype(str)
    occ = sequence_occlusion(model, X, ids)
    base = model.predict_proba(X)
    for i, uid in enumerate(ids):
        seq = X.iloc[i][SEQUENCE_COLUMN]
        rows = occ[occ["user_id"] == uid].set_index("removed")
        for t in np.unique(seq.event_type):
            assert rows.loc[f"all '{t}' events", "n_removed"] == (seq.event_type == t).sum()
        assert rows.loc["events in the last 30 days", "n_removed"] == (seq.age_days < 30).sum()
        np.testing.assert_allclose(rows["churn_probability"] - rows["change"], base[i], atol=1e-9)


def test_occlusion_moves_the_probability(encoder_run):
    log, run = encoder_run
    model = run.model
    table = scoring_table(log.before(AS_OF), AS_OF, model.event_types, model.max_events, 30)
    occ = sequence_occlusion(model, table.X.iloc[:20], table.user_id[:20].astype(str))
    assert (occ["change"].abs() > 1e-6).any()  # the sequence matters to the model


def test_explain_text_shows_occlusion_for_encoder_models(encoder_run):
    log, run = encoder_run
    uid = str(run.scores["user_id"].iloc[0])
    text = explain_user_text(run.model, log.before(AS_OF), AS_OF, run.config, uid)
    assert "behaviour sequence (Transformer)" in text
    assert "effect of removing parts of the event sequence" in text
    assert f"{run.scores['churn_probability'].iloc[0]:.1%}" in text


def test_occlusion_needs_an_encoder_model():
    log = _base_log(n_users=100)
    run = train(log, ChurnConfig().with_(label={"horizon_days": 30}), AS_OF)
    with pytest.raises(ValueError, match="needs a model with a sequence encoder"):
        sequence_occlusion(run.model, pd.DataFrame({"x": [1.0]}))
