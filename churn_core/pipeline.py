"""The one orchestration function: events + config -> ChurnRun (the app and the CLI call it)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import pandas as pd

from churn_core.backtest import backtest, baseline_verdict
from churn_core.blend import FixedLogOdds
from churn_core.config import ChurnConfig
from churn_core.crossval import cross_validate, final_model, final_pipeline
from churn_core.engine.sample import sample_users
from churn_core.engine.source import EventSource
from churn_core.errors import EventDataError
from churn_core.events import EventLog
from churn_core.features import pick_event_types
from churn_core.fit_pool import fit_pool, submit
from churn_core.labels import (
    MIN_POSITIVES,
    SHORT_HISTORY,
    helper_cutoffs,
    summarise_labels,
    training_cutoffs,
)
from churn_core.metrics import CVResult
from churn_core.model import ChurnModel
from churn_core.search import search
from churn_core.table import FeatureTable, Progress, scoring_table, training_table
from churn_core.targets import TargetList, describe_user, flag, score_frame, tier_legend

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ChurnRun:
    """Everything one training run produced; pages and the CLI only ask questions of it."""

    config: ChurnConfig
    as_of: pd.Timestamp
    labels: pd.DataFrame  # per training cutoff: cutoff, window, eligible, churned, churn_rate
    cv: CVResult
    backtest: CVResult | None
    model: ChurnModel
    scores: pd.DataFrame  # one row per user, riskiest first (none: ``train(score_all=False)``)
    # scoring features in the row order of ``scores``: every user for an in-memory log, the
    # riskiest ``engine.batch_users`` (a prefix of ``scores``) for an out-of-core source
    features: pd.DataFrame
    threshold: float
    search_results: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)
    has_amount: bool = False
    # days of log history before the newest training cutoff and before ``as_of``
    history_days: tuple[float, float] | None = None
    # the shorter horizon of the helper rows the model was also fitted on (None: none)
    helper_horizon: int | None = None
    # shares of repeat customers at the newest training cutoff and at ``as_of``, when
    # they (not the history share) called for the helper rows
    repeat_shares: tuple[float, float] | None = None

    def metadata(self) -> dict[str, str]:
        m, enc = self.config.model, self.config.encoder.kind
        return {
            "as_of": f"{self.as_of:%Y-%m-%d %H:%M}",
            "horizon_days": str(self.config.label.horizon_days),
            "model": m.classifier + ("" if enc == "none" else f" + {enc} encoder"),
            "cv_roc_auc": f"{self.cv.summary.loc['roc_auc', 'mean']:.3f}",
        }

    def baseline_comparison(self) -> pd.DataFrame | None:
        """The model vs RFM + logistic regression in this run's out-of-time backtest:
        rows ``roc_auc``, ``pr_auc``; columns model, baseline, difference, se, verdict."""
        return self.backtest.baseline if self.backtest is not None else None

    def baseline_verdict(self) -> str:
        """``baseline_comparison`` in one plain sentence (CLI and app)."""
        return baseline_verdict(self.baseline_comparison())

    def history_note(self) -> str | None:
        """A warning when the training rows saw far less log history than the forecast
        (under a quarter of it) or far fewer repeat customers, None otherwise (CLI and app)."""
        if self.history_days is None:
            return None
        trained, forecast = self.history_days
        short = forecast > 0 and trained < SHORT_HISTORY * forecast
        if not short and self.repeat_shares is None:
            return None
        members = getattr(self.model.pipeline.named_steps["clf"], "members_", [])
        with_bgnbd = any(isinstance(m, FixedLogOdds) for m in members)
        how = []
        if self.helper_horizon:
            how.append(
                f"it also learned from users labelled over {self.helper_horizon} days at "
                "cutoffs that see half the history"
            )
        if with_bgnbd and self.config.model.clip_to_training:
            how.append(
                "it clips what lies beyond their range and leans on BG/NBD's forecast, fitted "
                "on the whole history"
            )
        else:
            how.append("what it learned may not carry over to users seen for longer")
        horizon = self.config.label.horizon_days
        if short:
            why = (
                f"The newest training cutoff had {trained:.0f} days of log history; the "
                f"forecast has {forecast:.0f} ({trained / forecast:.0%}). Labels need a "
                f"complete {horizon}-day window, so the {horizon}-day labels come from users "
                "seen for a short time only"
            )
        else:
            then, now = self.repeat_shares or (0.0, 0.0)
            why = (
                f"At the newest training cutoff {then:.0%} of the customers had been active "
                f"on two days or more; at the forecast {now:.0%} have. The {horizon}-day labels "
                "come from customers who had no time yet to come back"
            )
        return (
            f"{why}: {'; '.join(how)}. Expect a noisier ranking than the backtest shows, and "
            "probabilities that lean on the churn rate of that early period. A shorter horizon or "
            "a longer log gives it more to learn from."
        )

    def targets(
        self, rule: str | None = None, reasons: pd.DataFrame | None = None, **kwargs
    ) -> TargetList:
        """The flagged users under a policy, re-ranked from stored scores (no retraining).

        ``rule`` defaults to the config's; the ``max_f1`` rule uses the validated threshold.
        ``reasons`` (``Explanation.reasons``) adds ``reason_1..`` to the flagged users.
        """
        cfg = self.config.targeting
        rule = rule or cfg.threshold_rule
        kwargs.setdefault("threshold", self.threshold if rule == "max_f1" else cfg.probability)
        kwargs.setdefault("top_k", cfg.top_k)
        chosen = TargetList.select(self.scores, flag(self.scores, rule, **kwargs), self.metadata())
        return chosen.with_reasons(reasons)

    def tier_legend(self) -> str:
        """Where the risk tiers of these scores start (one line, for a caption or report)."""
        return tier_legend(self.scores["churn_probability"].to_numpy(), self.config.targeting)

    def user_row(self, user_id: str) -> pd.Series:
        """One user's scores row; ``KeyError`` naming the user when they were not scored."""
        rows = self.scores.loc[self.scores["user_id"] == str(user_id)]
        if rows.empty:
            raise KeyError(f"user {user_id!r} was not scored (no event before {self.as_of})")
        return rows.iloc[0]

    def describe_user(self, user_id: str) -> str:
        """One user's headline (markdown): probability, risk tier, days since the last event."""
        return describe_user(self.user_row(user_id))


def check_trainable(table: FeatureTable, labels: pd.DataFrame, horizon: int) -> None:
    """Raise EventDataError when the labels cannot support a model, saying what to change."""
    problems = []
    if len(labels) == 0:
        problems.append(
            f"The log is too short for a {horizon}-day horizon: no cutoff has both history "
            "before it and a complete window after it. Use a shorter horizon or a longer log."
        )
    elif table.y is not None and len(table.y):
        pos = int(table.y.sum())
        neg = len(table.y) - pos
        if pos < MIN_POSITIVES or neg < MIN_POSITIVES:
            problems.append(
                f"Too few examples to learn from: {pos} churned and {neg} retained user-cutoff "
                f"rows (need at least {MIN_POSITIVES} of each). Change the horizon or the "
                "activity events, or load a longer log."
            )
    if problems:
        raise EventDataError(problems)


def train(
    log_: EventLog | EventSource,
    config: ChurnConfig,
    as_of: pd.Timestamp | None = None,
    progress: Progress | None = None,
    score_all: bool = True,
) -> ChurnRun:
    """Label, featurise, cross-validate, backtest, fit, and score every user as of ``as_of``.

    Only events before ``as_of`` are used; training labels are those complete by then.
    ``log_`` may be an out-of-core :class:`EventSource` (``engine.files.open_source``):
    training rows then come from a deterministic sample of whole users holding at most
    ``config.engine.train_rows`` events; every user is scored. ``score_all=False`` skips
    scoring (``churn train``, followed by ``churn score``): the run's ``scores`` and
    ``features`` are then empty.
    """
    say = progress or (lambda stage, frac: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    as_of = pd.Timestamp(as_of) if as_of is not None else log_.default_as_of()
    hist = log_.before(as_of)
    spec = config.label
    cutoffs = training_cutoffs(hist, spec, as_of)
    helpers = helper_cutoffs(hist, spec, as_of, cutoffs)
    event_types = pick_event_types(hist.frame if isinstance(hist, EventLog) else hist)
    rows = hist
    if isinstance(hist, EventSource):
        rows = sample_users(hist, config.engine.train_rows, config.model.seed)
    enc = config.encoder
    max_events = enc.max_events if enc.kind != "none" else None
    horizon = spec.horizon_days
    say("labels and features", 0.0)
    table = training_table(
        rows,
        spec,
        cutoffs,
        event_types,
        max_events,
        progress=lambda s, f: say(s, 0.2 * f),
        helpers=helpers,
    )
    if rows is not hist:  # the sample's events are in the table now: free the engine's memory
        rows.engine.drop(rows.relation)  # type: ignore[union-attr]
    graded = table.graded_only()  # the requested horizon (without helper rows)
    labels = summarise_labels(spec, cutoffs, graded.cutoff, graded.target())
    check_trainable(graded, labels, spec.horizon_days)
    timings["features"] = time.perf_counter() - t0

    model_cfg = config.model
    # big logs: validate on a sample of whole users; the final model still sees every row
    sample = table.sample_users(model_cfg.max_cv_rows, model_cfg.seed)
    search_results = None
    with fit_pool(enc) as pool:  # CV folds, backtest and final fit side by side
        if model_cfg.search:
            say("hyperparameter search", 0.2)
            model_cfg, search_results = search(sample, model_cfg, enc, pool=pool)
            config = replace(config, model=model_cfg)
        t1 = time.perf_counter()
        final, scoring = None, None
        if pool is not None:  # the final fit, the longest, first; then the scoring table
            final = submit(pool, final_pipeline, table, model_cfg, enc)
            if score_all and not _out_of_core(hist):  # out of core: in batches, below
                scoring = submit(pool, scoring_table, hist, as_of, event_types, max_events, horizon)
        cv, calibrator = cross_validate(
            sample, model_cfg, enc, progress=lambda s, f: say(s, 0.25 + 0.4 * f), pool=pool
        )
        timings["cross_validation"] = time.perf_counter() - t1
        say("out-of-time backtest", 0.65)
        t1 = time.perf_counter()
        oot = backtest(  # out of time on the requested horizon; helper rows are for the fit
            sample.graded_only(),
            model_cfg,
            enc,
            spec.horizon_days,
            lambda s, f: say(f"backtest: {s}", 0.65 + 0.15 * f),
            pool,
        )
        timings["backtest"] = time.perf_counter() - t1
        say("final model", 0.8)
        t1 = time.perf_counter()
        if final is None:
            pipe = final_pipeline(
                table, model_cfg, enc, lambda s, f: say(f"final model: {s}", 0.8 + 0.1 * f)
            )
        else:
            pipe = final.result()
    model = final_model(pipe, table.feature_names, enc, calibrator, event_types)
    timings["final_fit"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    if not score_all:
        scores, feats = _unscored(hist.has_amount), pd.DataFrame()
    elif scoring is None:
        say("scoring", 0.9)
        scores, feats = score_users(model, hist, as_of, config)
    else:
        say("scoring", 0.9)
        scores, feats = score_table(model, scoring.result(), config, hist.has_amount, as_of)
    timings["scoring"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t0
    say("done", 1.0)
    log.info(
        "trained on %d rows from %d cutoffs in %.1fs",
        len(table.target()),
        len(cutoffs),
        timings["total"],
    )
    start = pd.Timestamp(hist.start)
    history = (
        (max(cutoffs) - start) / pd.Timedelta(days=1),
        (as_of - start) / pd.Timedelta(days=1),
    )
    return ChurnRun(
        config,
        as_of,
        labels,
        cv,
        oot,
        model,
        scores,
        feats,
        cv.threshold,
        search_results,
        timings,
        hist.has_amount,
        history,
        helpers.spec.horizon_days if helpers else None,
        helpers.repeat_shares if helpers else None,
    )


def _unscored(has_amount: bool) -> pd.DataFrame:
    """The score list of a run that scored nobody: ``score_frame``'s columns, no rows."""
    columns = ["user_id", "churn_probability", "risk_tier", "percentile", "days_since_last_event"]
    return pd.DataFrame(columns=columns + (["value_at_risk"] if has_amount else []))


def score_users(
    model: ChurnModel, log_: EventLog | EventSource, as_of: pd.Timestamp, config: ChurnConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores (riskiest first) and their features, same order, for every user seen before T.

    An out-of-core :class:`EventSource` is scored in batches of ``config.engine.batch_users``
    users; its features are then kept for the riskiest batch only (see ``_score_batches``).
    """
    if _out_of_core(log_):
        return _score_batches(model, log_, as_of, config)  # type: ignore[arg-type]
    table = scoring_table(
        log_, as_of, model.event_types, model.max_events, config.label.horizon_days
    )
    return score_table(model, table, config, log_.has_amount, as_of)


def score_table(
    model: ChurnModel,
    table: FeatureTable,
    config: ChurnConfig,
    has_amount: bool,
    as_of: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``score_users`` on an already built scoring table (so callers can reuse the table)."""
    if len(table.X) == 0:
        raise EventDataError([f"No events before {as_of:%Y-%m-%d}: there is nobody to score."])
    prob = model.predict_proba(table.X)
    scores = score_frame(
        table.user_id, prob, table.X, config.targeting, config.label.horizon_days, has_amount
    )
    order = pd.Index(table.user_id.astype(str)).get_indexer(scores["user_id"])
    feats = table.X.drop(columns=["sequence"], errors="ignore").iloc[order].reset_index(drop=True)
    feats.insert(0, "user_id", scores["user_id"].to_numpy())
    return scores, feats


def _out_of_core(log_: EventLog | EventSource) -> bool:
    """A source with no in-memory frame behind it (files, Spark): score it in batches."""
    return isinstance(log_, EventSource) and log_.frame is None


SCORE_COLUMNS = ("recency_days", "tenure_days", "monetary")  # what ``score_frame`` reads


def _score_batches(
    model: ChurnModel, source: EventSource, as_of: pd.Timestamp, config: ChurnConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``score_users`` over an out-of-core source with memory bounded by the batch size.

    Every user gets a score; the full feature rows are kept only for the riskiest
    ``config.engine.batch_users`` users (what the at-risk list shows), so a log of millions
    of users never holds its whole feature table (nor the model's expanded inputs) at once.
    """
    keep = config.engine.batch_users
    kept: list[pd.DataFrame] = []  # the score columns of every user, one frame per batch
    top = pd.DataFrame()  # full features of the riskiest ``keep`` users seen so far
    for batch in source.scoring_batches(
        as_of,
        model.event_types,
        config.label.horizon_days,
        rows=config.engine.batch_users,
        max_events=model.max_events,
    ):
        prob = model.predict_proba(batch.X)
        X = batch.X.drop(columns=["sequence"], errors="ignore")
        ids = batch.user_id.astype(str)
        kept.append(X[list(SCORE_COLUMNS)].assign(user_id=ids, churn_probability=prob))
        top = pd.concat([top, X.assign(user_id=ids, churn_probability=prob)], ignore_index=True)
        top = top.nlargest(keep, "churn_probability", keep="first")
    if not kept:
        raise EventDataError([f"No events before {as_of:%Y-%m-%d}: there is nobody to score."])
    every = pd.concat(kept, ignore_index=True)
    scores = score_frame(
        every["user_id"].to_numpy(),
        every["churn_probability"].to_numpy(),
        every,
        config.targeting,
        config.label.horizon_days,
        source.has_amount,
    )
    feats = top.drop(columns=["churn_probability"]).set_index("user_id")
    feats = feats.loc[scores["user_id"].iloc[: len(feats)]].reset_index()
    return scores, feats
