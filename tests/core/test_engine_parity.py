"""The shared SQL definitions (run by DuckDB) equal the numpy/pandas oracle they replaced.

Features to 1e-9 relative (NaN-aware), labels exactly, on the bundled retail log (with and
without item ids), a synthetic log of views/carts/purchases, edge cases and Tmall (../shared).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn_core.config import LabelSpec
from churn_core.datasets import synthetic_events
from churn_core.engine import derive, sql
from churn_core.events import EventLog
from churn_core.features import pick_event_types
from churn_core.labels import build_labels, eligible_users, label_summary, training_cutoffs
from churn_core.table import features_at, scoring_table, training_table
from tests.core.reference_features import (
    reference_eligible_users,
    reference_features,
    reference_labels,
)

RTOL = 1e-9


def assert_features_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same columns in the same order, values equal to ``RTOL`` (relative), NaN where NaN."""
    assert list(got.columns) == list(want.columns)
    a, b = got.to_numpy(np.float64), want.to_numpy(np.float64)
    assert a.shape == b.shape
    ok = np.isclose(a, b, rtol=RTOL, atol=0.0) | (np.isnan(a) & np.isnan(b))
    if not ok.all():
        rows, cols = np.nonzero(~ok)
        bad = sorted({got.columns[c] for c in cols})
        r, c = rows[0], cols[0]
        raise AssertionError(
            f"{(~ok).sum()} values differ in {bad}; first: row {r} {got.columns[c]} "
            f"engine={a[r, c]!r} oracle={b[r, c]!r}"
        )


def check_log(log: EventLog, spec: LabelSpec, as_of: pd.Timestamp | None = None) -> int:
    """Training table (all cutoffs in one query) vs the oracle cutoff by cutoff; rows checked."""
    as_of = as_of or log.default_as_of()
    cutoffs = training_cutoffs(log, spec, as_of)
    assert len(cutoffs) >= 2, "the check needs several cutoffs"
    types = pick_event_types(log.frame)
    table = training_table(log, spec, cutoffs, types)
    row = 0
    for t in cutoffs:
        y = reference_labels(log, spec, t)
        n = len(y)
        assert list(table.user_id[row : row + n]) == list(y.index)
        assert (table.cutoff[row : row + n] == np.datetime64(t)).all()
        np.testing.assert_array_equal(table.y[row : row + n], y.to_numpy())
        want = reference_features(log.frame, t, y.index, types, log.start, spec.horizon_days)
        assert_features_equal(table.X.iloc[row : row + n], want)
        row += n
    assert row == len(table.y) > 0
    return row


def test_retail_features_and_labels_equal_the_oracle(retail_log):
    assert check_log(retail_log, LabelSpec(horizon_days=90, n_cutoffs=4)) > 5_000


def test_retail_without_items_and_with_a_gap(retail_log):
    frame = retail_log.frame.assign(item_id=pd.NA)
    log = EventLog(frame, retail_log.report, retail_log.has_amount)
    check_log(log, LabelSpec(horizon_days=60, gap_days=7, n_cutoffs=3))
    X = training_table(
        log, LabelSpec(horizon_days=60), [pd.Timestamp("2011-09-01")], pick_event_types(frame)
    ).X
    assert (X["distinct_items"] == 0).all()


def test_synthetic_views_carts_purchases_equal_the_oracle():
    frame = synthetic_events(n_users=1500, seed=3, events_per_user=15.0)
    log = EventLog.from_frame(frame)
    assert {"view", "cart", "purchase"} <= set(log.event_types)
    check_log(log, LabelSpec(horizon_days=30, n_cutoffs=5, step_days=9))
    # a label restricted to purchases, recent activity only: population and labels
    spec = LabelSpec(horizon_days=30, activity_events=("purchase",), active_within_days=45)
    check_log(log, spec)


def test_edge_cases_never_seen_users_cancels_only_and_odd_type_names():
    day = pd.Timestamp("2024-01-01")
    rows = [
        ("a", day, "purchase", 10.0, "x", "c1"),
        ("a", day + pd.Timedelta(hours=30), "purchase", 5.0, "y", None),
        ("a", day + pd.Timedelta(days=20, seconds=1), "it's", 0.0, None, None),
        ("b", day + pd.Timedelta(days=3), "cancel", -4.0, "x", "c1"),
        ("c", day + pd.Timedelta(days=50), "purchase", 1.0, "z", "c2"),  # after the cutoff
    ]
    cols = ["user_id", "timestamp", "event_type", "amount", "item_id", "category"]
    log = EventLog.from_frame(pd.DataFrame(rows, columns=cols))
    cutoff = day + pd.Timedelta(days=40)
    users = pd.Index(["c", "a", "ghost", "b"])  # unsorted, one user with no events at all
    types = ("it's", "purchase")
    got = features_at(log, cutoff, users, types, horizon_days=30)
    want = reference_features(log.frame, cutoff, users, types, log.start, 30)
    assert_features_equal(got, want)
    assert got["recency_days"].iloc[2] == want["recency_days"].iloc[2] == 10_000.0


@pytest.mark.parametrize(
    "spec",
    [
        LabelSpec(horizon_days=30),
        LabelSpec(horizon_days=45, gap_days=3, active_within_days=60),
        LabelSpec(horizon_days=30, activity_events=("purchase",)),
    ],
)
def test_labels_and_population_equal_the_oracle(spec):
    log = EventLog.from_frame(synthetic_events(n_users=800, seed=5, events_per_user=10.0))
    for t in training_cutoffs(log, spec, log.default_as_of()):
        pd.testing.assert_series_equal(
            build_labels(log, spec, t), reference_labels(log, spec, t), check_index_type=False
        )
        assert list(eligible_users(log, spec, t)) == list(reference_eligible_users(log, spec, t))


def test_label_summary_counts_every_cutoff():
    log = EventLog.from_frame(synthetic_events(n_users=600, seed=2, events_per_user=10.0))
    spec = LabelSpec(horizon_days=30)
    summary = label_summary(log, spec, log.default_as_of())
    cutoffs = training_cutoffs(log, spec, log.default_as_of())
    assert list(summary["cutoff"]) == cutoffs
    for t, eligible, churned in summary[["cutoff", "eligible", "churned"]].itertuples(False):
        y = reference_labels(log, spec, t)
        assert (eligible, churned) == (len(y), int(y.sum()))


def test_scoring_table_and_batches_equal_the_oracle(retail_log):
    as_of = pd.Timestamp("2011-10-01")
    types = pick_event_types(retail_log.frame)
    table = scoring_table(retail_log, as_of, types, None, 60)
    users = reference_eligible_users(retail_log, LabelSpec(), as_of)
    assert list(table.user_id) == list(users)
    want = reference_features(retail_log.frame, as_of, users, types, retail_log.start, 60)
    assert_features_equal(table.X, want)
    parts = list(retail_log.source().scoring_batches(as_of, types, 60, rows=1000))
    assert len(parts) > 1  # really streamed
    assert [u for p in parts for u in p.user_id] == list(users)
    assert_features_equal(pd.concat([p.X for p in parts], ignore_index=True), want)


@pytest.mark.parametrize("parts", [3, 7])
def test_aggregates_in_groups_of_users_equal_one_query(retail_log, parts):
    """A big log's scoring aggregates run in hash groups of users, one query each."""
    as_of = pd.Timestamp("2011-10-01")
    types = pick_event_types(retail_log.frame)
    users = reference_eligible_users(retail_log, LabelSpec(), as_of)
    want = reference_features(retail_log.frame, as_of, users, types, retail_log.start, 60)
    source = retail_log.source()
    grouped = list(source.scoring_batches(as_of, types, 60, rows=1000, parts=parts))
    assert [u for p in grouped for u in p.user_id] == list(users)
    assert_features_equal(pd.concat([p.X for p in grouped], ignore_index=True), want)
    sizes = source.engine.frame(
        f"SELECT {sql.user_part(parts, 0)} AS first, COUNT(*) AS n FROM "
        f"(SELECT DISTINCT user_id FROM {source.events}) GROUP BY 1"
    )
    assert len(sizes) == 2 and sizes["n"].min() > 200  # both sides of the split hold users


def test_bgnbd_parameters_fitted_apart_give_the_same_features(retail_log):
    """Spark applies BG/NBD per partition with parameters fitted once: same numbers."""
    src = retail_log.source()
    spec = LabelSpec(horizon_days=90)
    cutoffs = training_cutoffs(retail_log, spec, retail_log.default_as_of())
    types = pick_event_types(retail_log.frame)
    lab = src.labels(spec, cutoffs)
    raw = src.aggregates(lab, types)
    whole = derive.derive_features(raw, types, src.start, 90)
    params = derive.fit_bgnbd_params(raw)
    assert all(p is not None for p in params.values())
    halves = [
        derive.derive_features(part, types, src.start, 90, params)
        for part in (raw.iloc[::2], raw.iloc[1::2])
    ]
    assert_features_equal(pd.concat(halves).sort_index(), whole)


def test_sql_text_stays_in_the_shared_dialect():
    """No DuckDB-only syntax sneaks into the definitions Spark also runs."""
    spec = LabelSpec(horizon_days=30, activity_events=("purchase",), active_within_days=10)
    cutoffs = [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")]
    texts = [sql.labels_sql(spec, cutoffs), sql.aggregates_sql("population", ("view", "o'k"))]
    for text in texts:
        for banned in ("::", "QUALIFY", "FILTER (", "list_", "struct_"):
            assert banned not in text
    assert "'o''k'" in texts[1]


def test_tmall_features_equal_the_oracle(tmall_log):
    check_log(tmall_log, LabelSpec(horizon_days=31, n_cutoffs=3, step_days=15))


def test_a_low_memory_limit_spills_and_gives_the_same_table(retail_log, tmp_path):
    """DuckDB under a small memory limit (one thread, spilling to tmp_path): same numbers."""
    from churn_core.engine.duck import DuckEngine, DuckSettings
    from churn_core.engine.source import EventSource

    settings = DuckSettings(threads=1, memory_limit="40MB", temp_directory=str(tmp_path))
    engine = DuckEngine(settings)
    engine.register_frame(retail_log.frame)
    limit = engine.frame("SELECT current_setting('memory_limit') AS m")["m"].iloc[0]
    assert limit == "38.1 MiB"  # 40 MB, as DuckDB reports it: the setting really applies
    small = EventSource(engine, report=retail_log.report, frame=retail_log.frame)
    spec = LabelSpec(horizon_days=90, n_cutoffs=4)
    cutoffs = training_cutoffs(retail_log, spec, retail_log.default_as_of())
    types = pick_event_types(retail_log.frame)
    got = small.training_table(spec, cutoffs, types)
    want = training_table(retail_log, spec, cutoffs, types)
    assert list(got.user_id) == list(want.user_id)
    np.testing.assert_array_equal(got.y, want.y)
    assert_features_equal(got.X, want.X)
    engine.close()


def _same_sequences(got: np.ndarray, want: np.ndarray) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert list(g.event_type) == list(w.event_type)
        np.testing.assert_array_equal(g.age_days, w.age_days)
        np.testing.assert_array_equal(g.gap_days, w.gap_days)
        np.testing.assert_allclose(g.amount, w.amount, rtol=1e-6)
        np.testing.assert_array_equal(g.counts(), w.counts())
        assert (g.category is None) == (w.category is None)
        if w.category is not None:  # merged lines: the first by row order vs by category
            single = w.counts() == 1
            assert list(g.category[single]) == list(w.category[single])


@pytest.mark.parametrize("which", ["retail", "synthetic"])
def test_sequences_selected_by_sql_equal_the_in_memory_ones(which, retail_log):
    """Without a frame (a file source), SQL picks each user's last events: same sequences."""
    from churn_core.engine.duck import DuckEngine
    from churn_core.engine.source import EventSource

    if which == "retail":
        log, spec = retail_log, LabelSpec(horizon_days=90, n_cutoffs=2)
    else:
        frame = synthetic_events(n_users=400, seed=4, events_per_user=25.0)
        log, spec = EventLog.from_frame(frame), LabelSpec(horizon_days=30, n_cutoffs=2)
    engine = DuckEngine()
    engine.register_frame(log.frame)
    frameless = EventSource(engine, report=log.report)
    cutoffs = training_cutoffs(log, spec, log.default_as_of())
    types = pick_event_types(log.frame)
    got = frameless.training_table(spec, cutoffs, types, max_events=16)
    want = training_table(log, spec, cutoffs, types, max_events=16)
    assert list(got.user_id) == list(want.user_id)
    assert max(len(s) for s in want.X["sequence"]) == 16  # truncation really happens
    _same_sequences(got.X["sequence"].to_numpy(), want.X["sequence"].to_numpy())
    engine.close()


def test_scoring_batches_carry_sequences_from_a_frameless_source(retail_log):
    from churn_core.engine.duck import DuckEngine
    from churn_core.engine.source import EventSource

    engine = DuckEngine()
    engine.register_frame(retail_log.frame)
    frameless = EventSource(engine, report=retail_log.report)
    as_of = pd.Timestamp("2011-08-01")
    types = pick_event_types(retail_log.frame)
    parts = list(frameless.scoring_batches(as_of, types, 30, rows=700, max_events=8))
    want = scoring_table(retail_log, as_of, types, 8, 30)
    assert len(parts) > 1
    assert [u for p in parts for u in p.user_id] == list(want.user_id)
    got = np.concatenate([p.X["sequence"].to_numpy() for p in parts])
    _same_sequences(got, want.X["sequence"].to_numpy())
    assert_features_equal(
        pd.concat([p.X.drop(columns="sequence") for p in parts], ignore_index=True),
        want.X.drop(columns="sequence"),
    )
    engine.close()


def test_each_engine_spills_into_a_folder_of_its_own_outside_the_working_directory(tmp_path):
    """DuckDB deletes a spill folder it created when its connection closes: a folder shared
    by two runs vanished under the other one; its own default is ``.tmp`` in the cwd."""
    import tempfile
    from pathlib import Path

    from churn_core.engine.duck import DuckEngine, DuckSettings

    def folder(engine: DuckEngine) -> Path:
        return Path(engine.frame("SELECT current_setting('temp_directory') AS t")["t"].iloc[0])

    a, b = folder(DuckEngine()), folder(DuckEngine())
    assert a != b
    assert a.parent == b.parent == Path(tempfile.gettempdir())
    assert not a.resolve().is_relative_to(Path.cwd().resolve())
    chosen = DuckEngine(DuckSettings(temp_directory=str(tmp_path / "spill")))
    assert folder(chosen).parent == tmp_path / "spill"
