"""Campaign page helpers: planner widgets, the per-run plan cache, the chosen list size.

The plans of the current run are cached in ``st.session_state`` (key: the frozen
``CampaignConfig``), so moving the chosen point back and forth does not re-plan. The last
plan shown stays in ``st.session_state[CAMPAIGN]`` even when new data are loaded: the
Outcomes page grades it against the later events.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from churn_app.state import DATA_NAME
from churn_core.campaign import (
    CampaignPlan,
    plan_for_run,
    recommended_items,
    rules_frame,
    rules_from_frame,
)
from churn_core.campaign_files import activity_events_text
from churn_core.config import CampaignConfig

CAMPAIGN = "campaign"  # (CampaignPlan, data name) of the last plan shown this session
_CACHE = "campaign_plans"  # {"run": run, "plans": {CampaignConfig: CampaignPlan}}
_RULES_BASE = "campaign_rules_base"  # the action table the editor started from
_SIZE, _SIZE_FOR = "campaign_size", "campaign_size_for"
PER_USER, FLAT = "Each user's own value (usual spend over the horizon)", "One flat value"
MAX_CACHED = 8


@dataclass(frozen=True)
class CampaignInputs:
    """What the analyst set: the planner's config (size left to the page) and a size cap."""

    config: CampaignConfig
    size_cap: int | None


def campaign_inputs(current: CampaignConfig, has_amount: bool) -> CampaignInputs:
    """The planner widgets; raises EventDataError / ValueError for an unusable rule table."""
    ss = st.session_state
    c = st.columns(4)
    if has_amount:
        mode = c[0].radio(
            "Value of saving one churner",
            (PER_USER, FLAT),
            0 if current.value is None else 1,
            key="campaign_value_mode",
        )
    else:
        mode = FLAT
        c[0].caption("The log has no amounts: give the value of saving one churner.")
    value = None
    if mode == FLAT:
        value = c[0].number_input(
            "Value per saved churner",
            0.01,
            1e9,
            float(current.value or 100.0),
            10.0,
            key="campaign_value",
        )
    cost = c[1].number_input(
        "Contact cost per user", 0.0, 1e6, float(current.contact_cost), 0.5, key="campaign_cost"
    )
    save = c[2].slider(
        "Save rate (share of contacted churners who stay)",
        0.0,
        1.0,
        float(current.save_rate),
        0.01,
        key="campaign_save_rate",
    )
    share = c[3].slider(
        "Control share (held out, not contacted)",
        0.0,
        0.5,
        float(current.control_share),
        0.01,
        key="campaign_control_share",
    )
    c = st.columns(4)
    budget = c[0].number_input(
        "Budget cap (0 = none)",
        0.0,
        1e12,
        float(current.budget or 0.0),
        100.0,
        key="campaign_budget",
    )
    size_cap = c[1].number_input(
        "List size cap (0 = none)", 0, 10_000_000, 0, 100, key="campaign_size_cap"
    )
    seed = c[2].number_input(
        "Seed (control group)", 0, 2**31 - 1, int(current.seed), key="campaign_seed"
    )
    default = c[3].text_input(
        "Action when no rule matches", current.default_action, key="campaign_default_action"
    )
    with st.expander("Action rules: the first matching rule gives a listed user's action"):
        st.caption(
            "`factors`: feature names behind the user's risk-raising reasons (space-separated, "
            "`*` wildcards, e.g. `n_*_30d`); `min_value_percentile`: value at risk at or above "
            "this percentile of the list. A rule with neither matches everyone."
        )
        if _RULES_BASE not in ss:
            ss[_RULES_BASE] = rules_frame(current.actions)
        edited = st.data_editor(
            ss[_RULES_BASE],
            num_rows="dynamic",
            hide_index=True,
            key="campaign_rules",
            column_config={
                "action": st.column_config.TextColumn("action", required=True),
                "factors": st.column_config.TextColumn("factors", width="large"),
                "min_value_percentile": st.column_config.NumberColumn(
                    "min value percentile", min_value=0.0, max_value=100.0
                ),
            },
        )
    rules = rules_from_frame(edited)
    config = CampaignConfig(
        value=None if value is None else float(value),
        contact_cost=float(cost),
        save_rate=float(save),
        budget=float(budget) or None,
        size=None,
        control_share=float(share),
        seed=int(seed),
        default_action=default.strip() or current.default_action,
        actions=rules,
    )
    return CampaignInputs(config, int(size_cap) or None)


def plan_for(run, log, config: CampaignConfig) -> CampaignPlan:
    """The plan for ``run`` at ``config``: one ``plan_for_run`` call (the run's stored scores),
    cached per run and config."""
    ss = st.session_state
    cache = ss.get(_CACHE)
    if cache is None or cache["run"] is not run:
        cache = ss[_CACHE] = {"run": run, "plans": {}}
    plans = cache["plans"]
    if config not in plans:
        if len(plans) >= MAX_CACHED:
            plans.pop(next(iter(plans)))
        with st.spinner("Planning: explaining the listed users, recommending items…"):
            plan = plan_for_run(run, log, campaign=config)
        # what the Outcomes page (and `churn_core outcome`) read back besides the plan's own
        extra = {
            "source": str(ss.get(DATA_NAME, "")),
            "activity_events": activity_events_text(run.config.label.activity_events),
        }
        plans[config] = replace(plan, metadata={**plan.metadata, **extra})
    return plans[config]


def chosen_size(base: CampaignPlan, inputs: CampaignInputs) -> int:
    """The list-size slider: starts at the profit-maximising size within the budget and the
    size cap, and jumps back there whenever an input changes."""
    ss = st.session_state
    limit = base.max_size if inputs.size_cap is None else min(base.max_size, inputs.size_cap)
    default = min(base.suggested_size, limit)
    key = (id(base), limit)
    if ss.get(_SIZE_FOR) != key:
        ss[_SIZE_FOR] = key
        ss[_SIZE] = default
    ss[_SIZE] = min(int(ss.get(_SIZE, default)), limit)
    if limit == 0:
        st.caption("Nothing to choose: the list is empty at these inputs.")
        return 0
    return int(
        st.slider(
            "List size (move the chosen point; dashed line: most profitable)",
            0,
            limit,
            key=_SIZE,
        )
    )


def summary_metrics(summary: dict[str, float]) -> list[tuple[str, str, str]]:
    """(label, shown value, help) for the headline numbers, from ``CampaignPlan.summary()``."""
    return [
        ("List size", f"{int(summary['size']):,}", "treat + control users in the list"),
        (
            "Expected churners reached",
            f"{summary['churners_reached']:,.1f}",
            "sum of churn probabilities of the treated users",
        ),
        (
            "Expected false alarms",
            f"{summary['false_alarms']:,.1f}",
            "treated users expected to stay anyway: sum of (1 − p)",
        ),
        ("Contact cost", f"{summary['cost']:,.2f}", "contact cost × treated users"),
        (
            "Expected value saved",
            f"{summary['value_saved']:,.2f}",
            "save rate × sum of p × value over the treated users",
        ),
        ("Expected profit", f"{summary['profit']:,.2f}", "value saved − contact cost"),
    ]


_RECS = "recommended_items"  # {"run": run, "items": {user_id: [item, ...]}}


def recommended_for(run, log, user_id: str) -> list[str] | None:
    """Up to five recommended items for one user from the events before the run's as-of
    time (cached per run); ``None`` when the log has no item column."""
    if not log.has_items:
        return None
    ss = st.session_state
    cache = ss.get(_RECS)
    if cache is None or cache["run"] is not run:
        cache = ss[_RECS] = {"run": run, "items": {}}
    if user_id not in cache["items"]:
        recs = recommended_items(log.before(run.as_of), run.as_of, [user_id])
        if recs is None:
            return None
        row = recs.iloc[0] if len(recs) else []
        cache["items"][user_id] = [str(v) for v in row if v is not None and v == v]
    return cache["items"][user_id]
