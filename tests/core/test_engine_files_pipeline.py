"""The pipeline on a file opened out of core (``--engine duckdb``) equals the in-memory one.

Features to 1e-9, scores to 1e-6, on the bundled retail log (CSV.gz) and a hive-partitioned
Parquet folder; the same under a DuckDB memory limit of a few MB that forces spilling; the
training sample of whole users is deterministic and bounded.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from churn_core.config import ChurnConfig, EngineConfig
from churn_core.engine.files import open_source
from churn_core.engine.sample import sample_users
from churn_core.engine.scoring import score_to_file
from churn_core.export import read_export
from churn_core.features import pick_event_types
from churn_core.ingest import load_events
from churn_core.labels import training_cutoffs
from churn_core.pipeline import score_users, train
from churn_core.table import training_table
from tests.conftest import DEMO

CHEAP = ChurnConfig().with_(
    model={"cv_folds": 2, "blend": "none", "calibration": "sigmoid", "max_cv_rows": 4_000},
    label={"n_cutoffs": 2},
)


@pytest.fixture(scope="module")
def retail():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_events(DEMO)


@pytest.fixture(scope="module")
def trained(retail):
    return train(retail, CHEAP)


@pytest.fixture(scope="module")
def retail_folder(tmp_path_factory):
    raw = pd.read_csv(DEMO, dtype=str, keep_default_na=False, na_values=[""])
    folder = tmp_path_factory.mktemp("parquet") / "retail"
    raw.assign(part=raw["InvoiceNo"].str[-1]).to_parquet(
        folder, partition_cols=["part"], index=False
    )
    return folder


def _same_table(a, b) -> None:
    assert list(a.X.columns) == list(b.X.columns)
    assert (a.user_id.astype(str) == b.user_id.astype(str)).all()
    assert (a.cutoff == b.cutoff).all()
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_allclose(
        a.X.to_numpy(dtype=float), b.X.to_numpy(dtype=float), rtol=1e-9, atol=1e-12
    )


def _training_tables(log, source):
    as_of = log.default_as_of()
    assert source.default_as_of() == as_of
    hist, shist = log.before(as_of), source.before(as_of)
    spec = CHEAP.label
    cutoffs = training_cutoffs(hist, spec, as_of)
    assert training_cutoffs(shist, spec, as_of) == cutoffs
    types = pick_event_types(hist.frame)
    assert pick_event_types(shist) == types
    return training_table(hist, spec, cutoffs, types), training_table(shist, spec, cutoffs, types)


@pytest.mark.parametrize("where", ["csv.gz", "parquet folder"])
def test_features_and_scores_equal_the_in_memory_path(retail, trained, retail_folder, where):
    source = open_source(DEMO if where == "csv.gz" else retail_folder)
    assert source.n_events == retail.n_events and source.n_users == retail.n_users
    assert source.has_amount == retail.has_amount
    memory, files = _training_tables(retail, source)
    assert len(memory.y) > 5_000
    _same_table(memory, files)
    scores, feats = score_users(trained.model, source.before(trained.as_of), trained.as_of, CHEAP)
    assert (scores["user_id"] == trained.scores["user_id"]).all()
    np.testing.assert_allclose(
        scores["churn_probability"], trained.scores["churn_probability"], rtol=1e-6, atol=1e-9
    )
    assert (scores["risk_tier"] == trained.scores["risk_tier"]).all()


def test_train_on_a_source_equals_train_on_the_log(retail, trained):
    run = train(open_source(DEMO), CHEAP)
    pd.testing.assert_frame_equal(run.labels, trained.labels)
    pd.testing.assert_frame_equal(run.cv.summary, trained.cv.summary, rtol=1e-6)
    np.testing.assert_allclose(
        run.scores["churn_probability"], trained.scores["churn_probability"], rtol=1e-6
    )


def test_a_short_history_source_fits_the_same_helper_rows_as_the_log(retail):
    """Two months of retail with H = 60: the newest training cutoff sees under 2 of 62 days,
    so both paths also fit rows labelled over 30 days (``labels.helper_cutoffs``), the same."""
    as_of, cfg = pd.Timestamp("2011-02-01"), CHEAP.with_(label={"horizon_days": 60})
    on_log = train(retail, cfg, as_of)
    on_source = train(open_source(DEMO), cfg, as_of)
    assert on_log.helper_horizon == on_source.helper_horizon == 30
    pd.testing.assert_frame_equal(on_source.labels, on_log.labels)
    np.testing.assert_allclose(
        on_source.scores["churn_probability"], on_log.scores["churn_probability"], rtol=1e-6
    )


def test_scoring_a_source_in_batches_keeps_every_score_and_the_riskiest_features(retail, trained):
    """A file source is scored batch by batch: the same scores for every user, and the
    feature rows of the riskiest ``batch_users`` users (a prefix of the scores)."""
    as_of, model = trained.as_of, trained.model
    cfg = CHEAP.with_(engine={"batch_users": 700})
    source = open_source(DEMO).before(as_of)
    scores, feats = score_users(model, source, as_of, cfg)
    want_scores, want_feats = score_users(model, retail.before(as_of), as_of, cfg)
    assert len(scores) == len(want_scores) > 2 * 700  # several batches were needed
    assert list(scores["user_id"]) == list(want_scores["user_id"])
    pd.testing.assert_frame_equal(scores, want_scores, rtol=1e-9)
    assert len(feats) == 700
    pd.testing.assert_frame_equal(feats, want_feats.iloc[:700], rtol=1e-9)


def _in_memory_export(trained, retail):
    from churn_core.explain import explain_model, sample_background
    from churn_core.table import scoring_table
    from churn_core.targets import join_reasons

    as_of = trained.as_of
    model = trained.model
    table = scoring_table(retail.before(as_of), as_of, model.event_types)
    scores, _ = score_users(model, retail.before(as_of), as_of, CHEAP)
    ids = pd.Index(table.user_id.astype(str))
    reasons = explain_model(model, table.X, ids, sample_background(table.X)).reasons
    return join_reasons(scores, reasons)


def _same_export(path, expected: pd.DataFrame) -> None:
    meta, got = read_export(path)
    assert meta["as_of"] == "2011-12-10 00:00"
    assert list(got.columns) == list(expected.columns)
    assert (got["user_id"].astype(str) == expected["user_id"]).all()
    for col in expected.columns:
        if pd.api.types.is_numeric_dtype(expected[col]):
            np.testing.assert_allclose(got[col], expected[col], rtol=1e-6, atol=1e-9)
        else:
            want = expected[col].fillna("").astype(str).to_numpy()
            assert (got[col].fillna("").astype(str).to_numpy() == want).all(), col


def test_streamed_scoring_writes_the_in_memory_export(retail, trained, tmp_path):
    expected = _in_memory_export(trained, retail)
    source = open_source(DEMO)
    out, n = score_to_file(
        trained.model,
        source.before(trained.as_of),
        trained.as_of,
        CHEAP,
        tmp_path / "scores.csv",
        {"as_of": f"{trained.as_of:%Y-%m-%d %H:%M}"},
    )
    assert n == len(expected) == 4_339
    _same_export(out, expected)


def test_bounded_memory_spills_and_still_equals_the_in_memory_result(retail, trained, tmp_path):
    """A 48 MB DuckDB memory limit (the CSV is 45 MB unpacked): it pages to disk and agrees."""
    engine = EngineConfig(
        kind="duckdb", threads=1, memory_limit="48MB", temp_directory=str(tmp_path / "spill")
    )
    small_batches = CHEAP.with_(engine={**vars(engine), "batch_users": 1_000})
    source = open_source(DEMO, engine=engine)
    limit = source.engine.frame("SELECT current_setting('memory_limit') AS m")["m"].iloc[0]
    assert limit == "45.7 MiB"  # 48 MB
    # the events do not fit: their table lives in the engine's database file, not in memory
    source.engine.con.execute("CHECKPOINT")
    assert source.engine.database.stat().st_size > 1_000_000
    used = source.engine.frame("SELECT SUM(memory_usage_bytes) AS b FROM duckdb_memory()")
    assert used["b"].iloc[0] <= 48_000_000
    memory, files = _training_tables(retail, source)
    _same_table(memory, files)
    out, n = score_to_file(
        trained.model,
        source.before(trained.as_of),
        trained.as_of,
        small_batches,
        tmp_path / "scores.csv",
        {"as_of": f"{trained.as_of:%Y-%m-%d %H:%M}"},
    )
    _same_export(out, _in_memory_export(trained, retail))  # reasons too, over 5 batches


def test_training_sample_is_whole_users_deterministic_and_bounded(retail):
    source = open_source(DEMO)
    sample = sample_users(source, 100_000, seed=0)
    again = sample_users(open_source(DEMO), 100_000, seed=0)
    other = sample_users(source, 100_000, seed=1)
    assert 70_000 < sample.n_events < 130_000
    users = sample.engine.frame(f"SELECT DISTINCT user_id FROM {sample.events}")["user_id"]
    assert set(users) == set(
        again.engine.frame(f"SELECT DISTINCT user_id FROM {again.events}")["user_id"]
    )
    assert set(users) != set(
        other.engine.frame(f"SELECT DISTINCT user_id FROM {other.events}")["user_id"]
    )
    per_user = retail.frame.groupby("user_id").size()
    assert sample.n_events == int(per_user.loc[list(users)].sum())  # every event of each user
    assert sample.start == source.start  # features measured against the log, not the sample
    assert sample_users(source, 10**9) is source


def test_training_on_a_sample_frees_it_before_scoring():
    """The sample's events are copied into the training table; the engine keeps no table of
    them while every user is scored (at 50M events they competed with scoring for memory)."""
    source = open_source(DEMO)
    config = CHEAP.with_(engine={"kind": "duckdb", "train_rows": 100_000})
    run = train(source, config)
    assert source.n_events > 4 * 100_000  # so it trained on a sample
    assert len(run.scores) == 4_339  # and scored every user with a non-cancel event
    tables = source.engine.frame("SELECT table_name FROM duckdb_tables()")["table_name"]
    assert not tables.str.contains("_users_").any(), list(tables)


def test_cli_out_of_memory_is_one_line_with_the_fix(tmp_path, capsys):
    from churn_core.cli import main

    cfg = tmp_path / "tiny.toml"
    cfg.write_text('[engine]\nkind = "duckdb"\nthreads = 1\nmemory_limit = "4MB"\n')
    rc = main(["train", str(DEMO), "--model-dir", str(tmp_path / "m"), "--config", str(cfg), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "ran out of memory" in err and "memory_limit" in err and "[engine]" in err
