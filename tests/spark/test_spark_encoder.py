"""A bundle with a Transformer encoder scores on the Spark executors as it does locally.

Each executor builds its users' event sequences from the rows the shared SQL selects (one
array column per user) and embeds them with the bundle's encoder; the probabilities equal the
local engine's on the bundled retail log.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_core.config import ChurnConfig, LabelSpec

pytestmark = pytest.mark.spark

TINY = {"kind": "hybrid", "hidden_size": 32, "num_layers": 1, "epochs": 1, "max_events": 32}


@pytest.fixture(scope="module")
def encoder_bundle(retail_log, tmp_path_factory):
    """A hybrid model (aggregates + a small Transformer), trained locally and saved."""
    from churn_core.bundle import load_model, save_model
    from churn_core.pipeline import train

    cfg = ChurnConfig(label=LabelSpec(horizon_days=90, n_cutoffs=2)).with_(
        encoder=TINY, model={"cv_folds": 2}
    )
    as_of = pd.Timestamp("2011-09-10")
    run = train(retail_log, cfg, as_of=as_of)
    path = tmp_path_factory.mktemp("bundle") / "encoder_shop"
    save_model(run.model, run.config, path, as_of=run.as_of, metrics={}, threshold=run.threshold)
    model, saved, _ = load_model(path)
    assert model.max_events == TINY["max_events"]
    return path, model, saved, as_of


def test_an_encoder_bundle_scores_the_same_on_spark_executors(
    spark_retail, retail_log, encoder_bundle
):
    from churn_core.engine.spark_train import score_spark
    from churn_core.pipeline import score_users
    from churn_core.table import SEQUENCE_COLUMN, scoring_table

    path, model, cfg, as_of = encoder_bundle
    local, _ = score_users(model, retail_log.before(as_of), as_of, cfg)
    spark = score_spark(spark_retail, str(path), model, cfg, as_of)
    both = local.merge(spark, on="user_id", suffixes=("_local", "_spark"), validate="1:1")
    assert len(both) == len(local) == len(spark) > 3_000
    gap = np.abs(both["churn_probability_local"] - both["churn_probability_spark"]).max()
    assert gap <= 1e-5, f"largest probability gap {gap:.2e}"
    # the sequences matter (shuffled across users they move the scores far more than the
    # gap), so equal scores mean the executors built and embedded the same sequences
    table = scoring_table(retail_log.before(as_of), as_of, model.event_types, model.max_events, 90)
    shuffled = table.X.copy()
    shuffled[SEQUENCE_COLUMN] = shuffled[SEQUENCE_COLUMN].sample(frac=1, random_state=0).to_numpy()
    moved = np.abs(model.predict_proba(shuffled) - model.predict_proba(table.X)).max()
    assert moved > 0.01 and moved > 100 * gap
    assert (spark["reason_1"] != "").mean() > 0.9  # reasons from the aggregates
