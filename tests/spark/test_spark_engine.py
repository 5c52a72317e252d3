"""``--engine spark`` against the local engines on the bundled UCI retail log.

Parity: the Spark reader's events equal the in-memory reader's; labels and features computed
by Spark from the shared SQL equal DuckDB's (same SQL, in memory) and the numpy oracle to 1e-9
(relative); training on Spark gives the local model; one bundle trained locally scores every
user the same (1e-6) when Spark scores it with ``mapInPandas``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_core.config import ChurnConfig, LabelSpec, SchemaConfig
from churn_core.engine.spark import read_events, to_pandas_events
from churn_core.errors import EventDataError, ModelBundleError
from churn_core.features import pick_event_types
from churn_core.ingest import load_events
from churn_core.labels import training_cutoffs
from tests.core.reference_features import reference_features, reference_labels
from tests.core.test_engine_files import BAD, UCI

pytestmark = pytest.mark.spark

SPEC = LabelSpec(horizon_days=90)
CANONICAL = ["user_id", "timestamp", "event_type", "amount", "item_id", "category"]


def _same_events(spark_events, log) -> None:
    got = to_pandas_events(spark_events)
    want = log.frame[CANONICAL].reset_index(drop=True)
    assert len(got) == len(want)
    for col in ("user_id", "event_type", "item_id", "category"):
        a = got[col].astype(object).where(got[col].notna(), None).tolist()
        b = want[col].astype(object).where(want[col].notna(), None).tolist()
        assert a == b, col
    assert (got["timestamp"].to_numpy() == want["timestamp"].to_numpy()).all()
    np.testing.assert_array_equal(got["amount"].to_numpy(), want["amount"].to_numpy())
    assert spark_events.has_amount == log.has_amount


def _relative_gap(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert (np.isnan(a) == np.isnan(b)).all()
    a, b = np.nan_to_num(a), np.nan_to_num(b)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)))


def test_retail_events_and_report_equal_the_in_memory_reader(spark_retail, retail_log):
    _same_events(spark_retail, retail_log)
    got, want = spark_retail.report, retail_log.report
    assert (got.rows_read, got.rows_kept, got.dropped) == (
        want.rows_read,
        want.rows_kept,
        want.dropped,
    )
    assert got.layout == want.layout == "uci-online-retail"
    assert got.detection == want.detection
    assert (spark_retail.start, spark_retail.end) == (retail_log.start, retail_log.end)
    assert spark_retail.n_users == retail_log.n_users


@pytest.fixture(scope="module")
def retail_cutoffs(retail_log):
    as_of = retail_log.default_as_of()
    hist = retail_log.before(as_of)
    return as_of, hist, training_cutoffs(hist, SPEC, as_of), pick_event_types(hist.frame)


def test_spark_labels_and_features_equal_duckdb_and_numpy(spark_retail, retail_cutoffs):
    as_of, hist, cutoffs, types = retail_cutoffs
    got = spark_retail.before(as_of).source().training_table(SPEC, cutoffs, types)
    duck = hist.source().training_table(SPEC, cutoffs, types)
    assert len(got.y) == len(duck.y) > 10_000
    assert (got.user_id == duck.user_id).all() and (got.cutoff == duck.cutoff).all()
    assert (got.y == duck.y).all()
    assert list(got.X.columns) == list(duck.X.columns)
    for col in got.X.columns:
        assert _relative_gap(got.X[col], duck.X[col]) <= 1e-9, col
    # and the numpy oracle the SQL replaced, cutoff by cutoff
    for t in cutoffs:
        rows = got.cutoff == np.datetime64(t)
        users = pd.Index(got.user_id[rows])
        labels = reference_labels(hist, SPEC, t)
        assert len(labels) == len(users) and (got.y[rows] == labels.reindex(users)).all()
        want = reference_features(hist.before(t).frame, t, users, types, hist.start, 90.0)
        for col in got.X.columns:
            assert _relative_gap(got.X.loc[rows, col], want[col]) <= 1e-9, (t, col)
    assert got.X["monetary"].sum() > 0 and 0.2 < got.y.mean() < 0.8  # real values


def test_spark_repeat_shares_equal_duckdb(spark_retail, retail_log):
    """The shares of repeat customers that can call for helper rows: the same SQL on both."""
    times = [pd.Timestamp("2011-01-15"), pd.Timestamp("2011-06-01"), retail_log.default_as_of()]
    got = spark_retail.source().repeat_shares(SPEC, times)
    want = retail_log.source().repeat_shares(SPEC, times)
    assert got == pytest.approx(want, abs=1e-12)
    assert 0.2 < want[0] < want[1] < want[2] < 0.8  # real shares, growing with the log


@pytest.mark.parametrize("as_of", [None, "2011-02-01"])
def test_spark_trains_the_local_model(spark_retail, retail_log, as_of):
    """``train --engine spark`` = ``pipeline.train`` on the Spark source: same scores. As of
    2011-02-01 (two months of history, H = 60) both also fit the same helper rows."""
    from churn_core.engine.spark_train import train_spark
    from churn_core.pipeline import train

    cfg = ChurnConfig(label=LabelSpec(horizon_days=60, n_cutoffs=2))
    at = None if as_of is None else pd.Timestamp(as_of)
    got, want = train_spark(spark_retail, cfg, at), train(retail_log, cfg, at)
    assert got.helper_horizon == want.helper_horizon == (None if as_of is None else 30)
    both = want.scores.merge(got.scores, on="user_id", validate="1:1")
    assert len(both) == len(want.scores) == len(got.scores) > (4_000 if as_of is None else 1_000)
    assert np.abs(both["churn_probability_x"] - both["churn_probability_y"]).max() <= 1e-6
    assert got.cv.summary.loc["roc_auc", "mean"] == pytest.approx(
        want.cv.summary.loc["roc_auc", "mean"], abs=1e-9
    )


@pytest.fixture(scope="module")
def local_bundle(retail_log, tmp_path_factory):
    """A model trained by the LOCAL engine and saved: the bundle both engines score."""
    from churn_core.bundle import load_model, save_model
    from churn_core.pipeline import train

    run = train(retail_log, ChurnConfig(label=SPEC))
    path = tmp_path_factory.mktemp("bundle") / "shop"
    save_model(run.model, run.config, path, as_of=run.as_of, metrics={}, threshold=run.threshold)
    model, cfg, _ = load_model(path)
    return path, model, cfg


def test_one_bundle_scores_the_same_on_spark_executors(spark_retail, retail_log, local_bundle):
    from churn_core.engine.spark_train import score_spark
    from churn_core.pipeline import score_users

    path, model, cfg = local_bundle
    as_of = pd.Timestamp("2011-09-10")  # an earlier as-of: only the events before it count
    local, _ = score_users(model, retail_log.before(as_of), as_of, cfg)
    spark = score_spark(spark_retail, str(path), model, cfg, as_of)
    assert len(spark) == len(local) > 3_000
    both = local.merge(spark, on="user_id", suffixes=("_local", "_spark"), validate="1:1")
    assert len(both) == len(local)
    gap = np.abs(both["churn_probability_local"] - both["churn_probability_spark"]).max()
    assert gap <= 1e-6
    assert (both["risk_tier_local"] == both["risk_tier_spark"]).all()
    np.testing.assert_allclose(both["value_at_risk_local"], both["value_at_risk_spark"], 1e-9)
    # reasons without SHAP: most users get one, worded from their own feature values
    assert (spark["reason_1"] != "").mean() > 0.9
    riskiest = spark.iloc[0]
    assert "risk" in riskiest["reason_1"]
    assert spark["churn_probability"].is_monotonic_decreasing


def test_campaign_on_spark_equals_the_in_memory_campaign(spark_retail, retail_log, local_bundle):
    """Scores on the executors, the listed users' reasons and items from the driver's batches:
    the same list as ``build_campaign`` in memory (users, groups, actions, reasons, items)."""
    from churn_core.campaign import build_campaign
    from churn_core.engine.campaign import build_source_campaign
    from churn_core.engine.spark_train import score_spark

    path, model, cfg = local_bundle
    cfg = cfg.with_(campaign={"size": 300}, engine={"batch_users": 1_000})
    as_of = pd.Timestamp("2011-09-10")
    want = build_campaign(model, cfg, retail_log, as_of).users
    scores = score_spark(spark_retail, str(path), model, cfg, as_of, reasons=False)
    got = build_source_campaign(model, cfg, spark_retail.source(), as_of, scores=scores).users
    assert len(got) == len(want) == 300 and "recommended_item_1" in got
    numeric = got.select_dtypes("number").columns
    pd.testing.assert_frame_equal(
        got.drop(columns=numeric), want.drop(columns=numeric), check_dtype=False
    )
    np.testing.assert_allclose(got[numeric], want[numeric], rtol=1e-6, atol=1e-6)


def test_cli_train_and_score_with_engine_spark(spark, tmp_path, capsys):
    """The CLI end to end on a small log (in process, reusing the session)."""
    from churn_core.cli import main
    from churn_core.datasets import synthetic_events

    events = synthetic_events(n_users=200, days=150, seed=3)
    path = tmp_path / "events.csv"
    events.to_csv(path, index=False)
    bundle, out = tmp_path / "model", tmp_path / "scores.csv"
    args = ["--engine", "spark", "--horizon-days", "30", "-q"]
    assert main(["train", str(path), "--model-dir", str(bundle), *args]) == 0
    assert main(["score", str(path), "--model-dir", str(bundle), "--out", str(out), *args[:2]]) == 0
    scores = pd.read_csv(out, comment="#", encoding="utf-8-sig")
    assert scores["user_id"].nunique() == len(scores) >= 150
    assert scores["churn_probability"].between(0, 1).all()
    assert "reason_1" in scores
    plan = tmp_path / "campaign.csv"
    assert (
        main(
            ["campaign", str(path), "--model-dir", str(bundle), "--out", str(plan), "-q"]
            + ["--engine", "spark", "--size", "40"]
        )
        == 0
    )
    listed = pd.read_csv(plan, comment="#", encoding="utf-8-sig")
    assert len(listed) == 40 and listed["reason_1"].notna().all()
    assert set(listed["user_id"]) <= set(scores["user_id"])


@pytest.mark.parametrize("compress", [False, True])
def test_bad_rows_are_counted_by_reason_as_in_memory(spark, tmp_path, compress):
    path = tmp_path / ("bad.csv.gz" if compress else "bad.csv")
    path.write_bytes(gzip.compress(BAD.encode()) if compress else BAD.encode())
    log = load_events(path)
    got = read_events(spark, str(path))
    assert got.report.rows_read == log.report.rows_read == 88
    assert got.report.rows_kept == log.report.rows_kept == 83
    # the same reasons, the same counts (the local wording adds example rows to one reason)
    local = {r.split(" (e.g.")[0]: n for r, n in log.report.dropped}
    assert dict(got.report.dropped) == local
    _same_events(got, log)


@pytest.mark.parametrize(
    ("text", "schema"),
    [
        (UCI, {}),
        ("user;date;amount\na;2024-01-01;€ 1.234,50\nb;2024-01-02;3,5\nc;2024-01-03;7\n", {}),
        ("uid,ts,type\na,1700000000,0\nb,1700000100,1\na,1700000200,3\n", {}),
        ("user_id,visit_datetime,type,brand_id\n1,6-4,0,7\n2,6-5,1,7\n1,7-1,3,8\n", {"year": 2014}),
        ("customer,when,what\nx,05/03/2024,view\ny,25/03/2024,buy\nx,01/04/2024,buy\n", {}),
        ("user_id,timestamp\na,2024-01-01T10:00:00+02:00\nb,2024-01-01T10:00:00Z\n", {}),
        ("user,time,event\na,1700000000000,view\nb,1700000100000,purchase\n", {}),
    ],
)
def test_formats_and_layouts_equal_the_in_memory_reader(spark, tmp_path, text, schema):
    path = tmp_path / "log.csv"
    path.write_text(text)
    schema_ = SchemaConfig(**schema)
    _same_events(read_events(spark, str(path), schema_), load_events(path, schema_))


def test_parquet_folder_reads_like_the_csv(spark, tmp_path):
    path = tmp_path / "uci.csv"
    path.write_text(UCI)
    folder = tmp_path / "parquet"
    folder.mkdir()
    raw = pd.read_csv(path, dtype=str)
    raw.iloc[:3].to_parquet(folder / "part-0.parquet")
    raw.iloc[3:].to_parquet(folder / "part-1.parquet")
    _same_events(read_events(spark, str(folder)), load_events(path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user_id,timestamp\na,x\nb,y\n", "could be read as a timestamp"),
        ("user_id,timestamp\na,2024-01-01\na,2024-01-02\n", "Only one user"),
        ("user_id,timestamp,amount\na,2024-01-01,x\nb,2024-01-02,y\n", "not numeric"),
        ("customer_ref,amount\na,1\n", "No timestamp column found"),
    ],
)
def test_unusable_logs_raise_one_clear_error(spark, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(EventDataError, match=message):
        read_events(spark, str(path))


def test_missing_path_and_unreadable_bundle_are_refused_with_a_fix(tmp_path):
    from churn_core.engine.spark_score import resolve_bundle

    with pytest.raises(EventDataError, match="was not found"):
        read_events(None, str(tmp_path / "nope.csv"))  # refused before Spark is asked
    with pytest.raises(ModelBundleError, match="--archives no-bundle.zip#no-bundle"):
        resolve_bundle(str(tmp_path / "no-bundle"))


def test_a_bundle_shipped_with_add_file_is_found_on_the_executors(spark, local_bundle, tmp_path):
    """What --archives / addFile does on a cluster: the path does not exist, the copy does."""
    from churn_core.engine.spark_score import bundle_model, resolve_bundle

    path, model, _ = local_bundle
    spark.sparkContext.addFile(str(path), recursive=True)
    elsewhere = str(tmp_path / "not-on-this-node" / path.name)

    def where(_rows):
        yield pd.DataFrame({"found": [str(resolve_bundle(elsewhere))]})

    found = spark.range(1).mapInPandas(where, "found string").collect()[0]["found"]
    assert found != elsewhere and (Path(found) / "bundle.json").is_file()
    assert bundle_model(elsewhere).event_types == model.event_types


def test_parquet_or_text_is_told_by_the_path(tmp_path):
    from churn_core.engine.spark import _is_parquet

    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "part-0.parquet").write_bytes(b"PAR1")
    assert _is_parquet([str(tmp_path / "folder")]) and _is_parquet(["s3a://shop/events.parquet"])
    assert _is_parquet(["hdfs:///shop/events/"])  # a cluster folder: Parquet
    assert not _is_parquet(["hdfs:///shop/events.csv.gz", str(tmp_path / "x.csv")])
    (tmp_path / "csvs").mkdir()
    (tmp_path / "csvs" / "a.csv").write_text("user_id,timestamp\n")
    assert not _is_parquet([str(tmp_path / "csvs")])  # a local folder of CSV files
