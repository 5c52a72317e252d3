"""The retention campaign planner: who to contact, how many, with what, at what expected profit.

For a list of the ``k`` best-ranked users (every ``k`` from 0 to all scored users), with
``p_i`` the calibrated churn probability, ``V_i`` the value of saving user ``i`` (a flat
value, or their usual spend over the horizon: ``value_at_risk_i / p_i``), ``s`` the save
rate and ``c`` the contact cost, summed over the **treated** users of the list only
(control users are not contacted: they cost nothing and nobody is saved among them):

* expected churners reached  = Σ p_i
* expected false alarms      = Σ (1 − p_i)
* cost                       = c × (number of treated users)
* expected value saved       = s × Σ p_i V_i   (a contact saves a churner with probability
  s, and user i is a churner with probability p_i; with amounts p_i V_i is value_at_risk_i)
* expected profit            = expected value saved − cost = Σ (s p_i V_i − c)

Each user's ``expected_profit`` column is ``s p_i V_i − c``, what contacting them is worth
(also shown for control users; the plan's total sums it over ``treat`` rows only).
Ranking: riskiest first (``p_i`` descending) with one flat value, where that is the same
order as expected profit; by ``s p_i V_i − c`` descending with per-user values. Ties break
on ``user_id``. The suggested size maximises expected profit (the smallest such ``k``;
0 when no contact pays) within the budget.

Control group: :mod:`churn_core.control_group` (stratified permuted blocks in rank order,
so every list size holds the control share of each tier; reproducible from the file's
``seed``, ``control_share`` and ``ranked_by``). Actions: :mod:`churn_core.actions` (the
first matching rule of an editable table over the factors behind each user's reasons).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from churn_core.actions import RULE_COLUMNS, assign_actions, rules_frame, rules_from_frame
from churn_core.config import CampaignConfig, ChurnConfig
from churn_core.control_group import CONTROL, TREAT, assign_control, control_blocks
from churn_core.errors import EventDataError
from churn_core.export import export_bytes, write_export, write_export_chunks
from churn_core.list_reasons import ListReasons
from churn_core.reasons import N_REASONS, REASON_COLUMNS
from churn_core.recommend import recommend_items

CURVE_COLUMNS = (
    "size",
    "treated",
    "control",
    "churners_reached",
    "false_alarms",
    "cost",
    "value_saved",
    "profit",
)
LIST_COLUMNS = (
    "user_id",
    "churn_probability",
    "risk_tier",
    "group",
    "action",
    "expected_profit",
    *REASON_COLUMNS,
)
N_ITEMS = 5
DEFAULT_VALUE = 100.0  # value of a saved churner when the log has no amounts (issue 9)
ITEM_COLUMNS = tuple(f"recommended_item_{i + 1}" for i in range(N_ITEMS))
WRITE_CHUNK_ROWS = 50_000  # rows of the list per piece of CSV text (CampaignPlan.write)


__all__ = [
    "RULE_COLUMNS",
    "CampaignPlan",
    "assign_actions",
    "assign_control",
    "build_campaign",
    "plan_campaign",
    "plan_for_run",
    "recommended_items",
    "rules_frame",
    "rules_from_frame",
]


def user_values(scores: pd.DataFrame, value: float | None) -> tuple[np.ndarray, str]:
    """The value of saving each user, and how it was set (for the metadata).

    ``value`` given: that flat value. Otherwise each user's usual spend over the horizon
    (from ``value_at_risk``), or, when the log has no amounts, ``DEFAULT_VALUE`` per saved
    churner, said so in the plan so the analyst can set their own.
    """
    p = scores["churn_probability"].to_numpy(dtype=np.float64)
    if value is not None:
        return np.full(len(p), float(value)), f"{float(value):g} per saved churner"
    if "value_at_risk" not in scores:
        return np.full(len(p), DEFAULT_VALUE), (
            f"{DEFAULT_VALUE:g} per saved churner (default: the log has no amounts; "
            "set your own with --value or the [campaign] table)"
        )
    var = scores["value_at_risk"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(p > 0, var / p, 0.0)
    return v, "per user: value_at_risk / churn_probability (usual spend over the horizon)"


# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True, eq=False)
class _Inputs:
    ranked: pd.DataFrame  # every scored user in rank order, with group and expected_profit
    config: CampaignConfig
    reasons: pd.DataFrame | None
    factors: pd.DataFrame | None
    recommendations: pd.DataFrame | None
    known_factors: tuple[str, ...]
    base_metadata: dict[str, str]
    value_source: str
    ranked_by: str


@dataclass(frozen=True, eq=False)
class CampaignPlan:
    """A sized campaign: the profit curve, the chosen size, the listed users and metadata.

    ``curve`` has one row per list size ``k`` = 0..n (``CURVE_COLUMNS``); ``users`` are
    the listed users (treat and control), riskiest first, in the export's columns;
    ``summary()`` is the curve's row at ``size``. Pages and the CLI only render it.
    """

    curve: pd.DataFrame
    size: int
    suggested_size: int
    max_size: int
    users: pd.DataFrame
    metadata: dict[str, str]
    notes: tuple[str, ...] = ()
    inputs: _Inputs | None = field(default=None, repr=False)

    def summary(self) -> dict[str, float]:
        """Size, treated, control, churners reached, false alarms, cost, value saved, profit."""
        row = self.curve.iloc[self.size]
        return {c: float(row[c]) for c in CURVE_COLUMNS}

    def at_size(self, size: int) -> CampaignPlan:
        """The same plan with the list cut at ``size`` (e.g. the page's slider)."""
        if self.inputs is None:
            raise ValueError("This plan was not built by plan_campaign; rebuild it.")
        return _build(self.inputs, replace(self.inputs.config, size=int(size)), self.curve)

    def lines(self) -> list[str]:
        """The plan in plain words, one fact per line (the CLI prints these)."""
        s = self.summary()
        m = self.metadata
        out = [
            f"list: {int(s['size']):,} users ({int(s['treated']):,} treat, "
            f"{int(s['control']):,} control, not contacted); profit-maximising size "
            f"{self.suggested_size:,}",
            f"expected churners reached: {s['churners_reached']:,.1f}; false alarms: "
            f"{s['false_alarms']:,.1f}",
            f"cost: {s['cost']:,.2f}; expected value saved: {s['value_saved']:,.2f}; "
            f"expected profit: {s['profit']:,.2f}",
            f"value of a saved churner: {m['value']}; contact cost {m['contact_cost']}; "
            f"save rate {m['save_rate']}; ranked by {m['ranked_by']}",
        ]
        if len(self.users):
            counts = self.users["action"].value_counts()
            out.append("actions: " + "; ".join(f"{a} {n:,}" for a, n in counts.items()))
        return out + list(self.notes)

    def to_bytes(self, fmt: str, raw: bool = False) -> bytes:
        """CSV or XLSX bytes of the list with the metadata (the app's downloads)."""
        return export_bytes(self.users, fmt, self.metadata, raw)

    def write(self, path, raw: bool = False, chunk_rows: int = WRITE_CHUNK_ROWS):
        """Write the list to ``path`` (.csv or .xlsx) through the export writer; a CSV
        ``chunk_rows`` rows at a time, so no whole text copy of a long list is held."""
        if Path(path).suffix.lower() == ".xlsx":
            return write_export(self.users, path, self.metadata, raw)
        n = len(self.users)
        chunks = (self.users.iloc[i : i + chunk_rows] for i in range(0, max(n, 1), chunk_rows))
        return write_export_chunks(chunks, path, self.metadata, raw)


def plan_campaign(
    scores: pd.DataFrame,
    config: CampaignConfig | None = None,
    *,
    explanation=None,
    recommendations: pd.DataFrame | None = None,
    metadata: dict[str, str] | None = None,
) -> CampaignPlan:
    """Plan a campaign from scores (``score_frame``'s columns: ``user_id``,
    ``churn_probability``, ``risk_tier``, optionally ``value_at_risk``).

    ``explanation`` (an :class:`~churn_core.explain.Explanation` of at least the listed
    users, or its :class:`ListReasons`) gives reasons and actions; users it does not cover
    get empty reasons and the default action. ``recommendations``: index user_id,
    ``recommended_item_1..5``.
    """
    cfg = config or CampaignConfig()
    for col in ("user_id", "churn_probability", "risk_tier"):
        if col not in scores:
            raise EventDataError([f"The scores have no {col!r} column: score the users first."])
    values, source = user_values(scores, cfg.value)
    p = scores["churn_probability"].to_numpy(dtype=np.float64)
    profit = cfg.save_rate * p * values - cfg.contact_cost
    per_user = cfg.value is None and "value_at_risk" in scores
    key = profit if per_user else p
    ids = scores["user_id"].astype(str).to_numpy()
    order = np.lexsort((ids, -key))
    ranked = pd.DataFrame(
        {
            "user_id": ids[order],
            "churn_probability": p[order],
            "risk_tier": scores["risk_tier"].to_numpy()[order],
            "value": values[order],
            "expected_profit": profit[order],
        }
    )
    if "value_at_risk" in scores:
        ranked["value_at_risk"] = scores["value_at_risk"].to_numpy(dtype=np.float64)[order]
    control = assign_control(ranked["risk_tier"].to_numpy(), cfg.control_share, cfg.seed)
    ranked["group"] = np.where(control, CONTROL, TREAT)
    reasons = factors = None
    known: tuple[str, ...] = ()
    if explanation is not None:
        parts = explanation if isinstance(explanation, ListReasons) else ListReasons.of(explanation)
        reasons, factors, known = parts.reasons, parts.factors, parts.known
    if recommendations is not None:  # few distinct items: category columns
        recommendations = recommendations.set_axis(recommendations.index.astype(str))
        recommendations = recommendations.astype("category")
    inputs = _Inputs(
        ranked,
        cfg,
        reasons,
        factors,
        recommendations,
        known,
        dict(metadata or {}),
        source,
        "expected_profit" if per_user else "churn_probability",
    )
    return _build(inputs, cfg, None)


def _curve(ranked: pd.DataFrame, cfg: CampaignConfig) -> pd.DataFrame:
    treated = (ranked["group"] == TREAT).to_numpy()
    p = ranked["churn_probability"].to_numpy()
    saved = cfg.save_rate * p * ranked["value"].to_numpy()

    def cum(x: np.ndarray) -> np.ndarray:
        return np.r_[0.0, np.cumsum(np.where(treated, x, 0.0))]

    n_treated = cum(np.ones(len(p)))
    value_saved = cum(saved)
    cost = cfg.contact_cost * n_treated
    size = np.arange(len(p) + 1)
    return pd.DataFrame(
        {
            "size": size,
            "treated": n_treated.astype(np.int64),
            "control": (size - n_treated).astype(np.int64),
            "churners_reached": cum(p),
            "false_alarms": cum(1.0 - p),
            "cost": cost,
            "value_saved": value_saved,
            "profit": value_saved - cost,
        },
        columns=list(CURVE_COLUMNS),
    )


def _build(inputs: _Inputs, cfg: CampaignConfig, curve: pd.DataFrame | None) -> CampaignPlan:
    ranked = inputs.ranked
    n = len(ranked)
    curve = _curve(ranked, cfg) if curve is None else curve
    notes = []
    max_size = n
    if cfg.budget is not None:
        max_size = int(np.searchsorted(curve["cost"].to_numpy(), cfg.budget, side="right") - 1)
    profit = curve["profit"].to_numpy()[: max_size + 1]
    suggested = int(np.argmax(profit))  # first (smallest) maximiser; 0 when nothing pays
    if cfg.size is None:
        size = suggested
    else:
        size = min(int(cfg.size), max_size)
        if size < cfg.size:
            why = "the budget" if max_size < n else f"the {n:,} scored users"
            notes.append(f"note: list size {cfg.size:,} cut to {size:,} by {why}.")
    if size == 0:
        notes.append(
            "note: the list is empty — no contact is expected to pay at these inputs "
            "(raise the value or save rate, lower the contact cost, or set --size)."
        )
    users = _list(inputs, cfg, ranked.iloc[:size])
    meta = _metadata(inputs, cfg, curve.iloc[size], size, suggested, max_size)
    return CampaignPlan(curve, size, suggested, max_size, users, meta, tuple(notes), inputs)


def _list(inputs: _Inputs, cfg: CampaignConfig, top: pd.DataFrame) -> pd.DataFrame:
    """The listed users in the export's columns, riskiest first."""
    top = top.sort_values("churn_probability", ascending=False, kind="stable")
    ids = pd.Index(top["user_id"])
    out = pd.DataFrame({c: top[c].to_numpy() for c in ("user_id", "churn_probability")})
    out["risk_tier"] = top["risk_tier"].to_numpy()
    out["group"] = top["group"].to_numpy()
    if inputs.factors is not None:
        f = inputs.factors.reindex(ids).fillna("")
    else:
        f = pd.DataFrame(index=ids, columns=[f"factor_{i + 1}" for i in range(N_REASONS)]).fillna(
            ""
        )
    if "value_at_risk" in top:
        pct = top["value_at_risk"].rank(pct=True, method="max").to_numpy() * 100.0
    else:
        pct = np.full(len(top), np.nan)
    out["action"] = assign_actions(f, pct, cfg.actions, cfg.default_action, inputs.known_factors)
    out["expected_profit"] = top["expected_profit"].to_numpy()
    reasons = (
        inputs.reasons.reindex(ids)
        if inputs.reasons is not None
        else pd.DataFrame(index=ids, columns=list(REASON_COLUMNS))
    )
    for c in REASON_COLUMNS:  # category columns from ListReasons stay category
        out[c] = reasons[c].fillna("").array if c in reasons else ""
    if inputs.recommendations is not None:
        recs = inputs.recommendations.reindex(ids)
        for c in ITEM_COLUMNS:
            col = recs[c].to_numpy(dtype=object) if c in recs else np.full(len(ids), None)
            col[pd.isna(col)] = None  # missing slots are empty cells, not "nan"
            out[c] = pd.Series(col, dtype=object)
    if "value_at_risk" in top:
        out["value_at_risk"] = top["value_at_risk"].to_numpy()
    return out.reset_index(drop=True)


def _metadata(
    inputs: _Inputs,
    cfg: CampaignConfig,
    row: pd.Series,
    size: int,
    suggested: int,
    max_size: int,
) -> dict[str, str]:
    ranked = inputs.ranked
    return {
        **inputs.base_metadata,
        "campaign_size": str(size),
        "suggested_size": str(suggested),
        "scored_users": str(len(ranked)),
        "ranked_by": inputs.ranked_by,
        "value": inputs.value_source,
        "contact_cost": f"{cfg.contact_cost:g}",
        "save_rate": f"{cfg.save_rate:g}",
        "budget": "none" if cfg.budget is None else f"{cfg.budget:g}",
        "size_requested": "profit-maximising" if cfg.size is None else str(cfg.size),
        "control_share": f"{cfg.control_share:g}",
        "seed": str(cfg.seed),
        "control_method": "stratified permuted blocks: per risk tier in rank order, "
        f"{control_blocks(cfg.control_share)[1]} random users of every "
        f"{control_blocks(cfg.control_share)[0]} (churn_core.campaign.assign_control)"
        if cfg.control_share > 0
        else "none",
        "treated": str(int(row["treated"])),
        "control": str(int(row["control"])),
        "expected_churners_reached": f"{row['churners_reached']:.4f}",
        "expected_false_alarms": f"{row['false_alarms']:.4f}",
        "cost": f"{row['cost']:.4f}",
        "expected_value_saved": f"{row['value_saved']:.4f}",
        "expected_profit": f"{row['profit']:.4f}",
        "formula": "sums over treat rows: profit = save_rate x sum(p x value) - contact_cost "
        "x treated; expected_profit column = save_rate x p x value - contact_cost",
    }


# --------------------------------------------------------------------------- whole runs
def recommended_items(log, as_of: pd.Timestamp, user_ids: Sequence[str]) -> pd.DataFrame | None:
    """The one call site of the item recommender (``churn_core.recommend``): up to five
    items per listed user from events before ``as_of``; ``None`` when the log has no items."""
    if not log.has_items:
        return None
    return recommend_items(log, as_of, list(user_ids), k=N_ITEMS)


def plan_for_run(run, log, explanation=None, campaign: CampaignConfig | None = None):
    """A plan from a trained :class:`~churn_core.pipeline.ChurnRun` (the Campaign page):
    its stored scores, the run's ``[campaign]`` settings unless ``campaign`` is given, and
    reasons/actions from ``explanation`` or, when none is given, from explaining the listed
    users now; items when the log has them."""
    from churn_core.explain import explain_log

    cfg = campaign or run.config.campaign
    hist = log.before(run.as_of)
    meta = run.metadata()
    draft = plan_campaign(run.scores, cfg, metadata=meta)
    listed = draft.users["user_id"].to_numpy()
    if explanation is None and len(listed):
        explanation = explain_log(run.model, hist, run.as_of, run.config, listed)
    recs = recommended_items(hist, run.as_of, listed)
    return plan_campaign(
        run.scores, cfg, explanation=explanation, recommendations=recs, metadata=meta
    )


def campaign_metadata(
    config: ChurnConfig, as_of: pd.Timestamp, metadata: dict[str, str] | None = None
) -> dict[str, str]:
    """The list file's header lines that every campaign carries: as-of time and horizon."""
    return {
        "as_of": f"{pd.Timestamp(as_of):%Y-%m-%d %H:%M}",
        "horizon_days": str(config.label.horizon_days),
        **(metadata or {}),
    }


def build_campaign(
    model,
    config: ChurnConfig,
    log,
    as_of: pd.Timestamp,
    metadata: dict[str, str] | None = None,
    progress=None,
) -> CampaignPlan:
    """Score every user seen before ``as_of``, plan, then explain and recommend for the
    listed users only (what the CLI and the benchmark run)."""
    from churn_core.explain import explain_model, sample_background
    from churn_core.pipeline import score_table
    from churn_core.table import scoring_table

    say = progress or (lambda stage, frac: None)
    hist = log.before(as_of)
    say("scoring", 0.3)
    table = scoring_table(
        hist, as_of, model.event_types, model.max_events, config.label.horizon_days
    )
    scores, _ = score_table(model, table, config, hist.has_amount, as_of)
    meta = campaign_metadata(config, as_of, metadata)
    draft = plan_campaign(scores, config.campaign, metadata=meta)
    listed = draft.users["user_id"].to_numpy()
    say("explaining the listed users (reasons, actions)", 0.6)
    pos = pd.Index(table.user_id.astype(str)).get_indexer(listed)
    expl = explain_model(model, table.X.iloc[pos], listed, sample_background(table.X))
    say("recommending items", 0.8)
    recs = recommended_items(hist, as_of, listed)
    plan = plan_campaign(
        scores, config.campaign, explanation=expl, recommendations=recs, metadata=meta
    )
    say("done", 1.0)
    return plan
