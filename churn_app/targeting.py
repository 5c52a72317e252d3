"""Targeting helpers: policy widgets, reasons merged into scores, the current TargetList."""

from __future__ import annotations

import streamlit as st

from churn_app.state import EXPLANATION, POLICY, policy_kwargs
from churn_core.targets import TargetList

RULES = {"probability": "Probability threshold", "top_k": "Top K users", "budget": "Budget"}
# how the tables show the per-user score columns (the downloads keep full precision)
SCORE_FORMATS = {
    "churn_probability": "%.3f",
    "percentile": "%.1f",
    "days_since_last_event": "%.0f",
    "value_at_risk": "%.2f",
}


def explanation_for(run):
    """The stored explanation if it belongs to ``run``, else None."""
    exp = st.session_state.get(EXPLANATION)
    return exp[1] if exp is not None and exp[0] is run else None


def current_targets(run) -> TargetList:
    """The flagged users under the stored policy (no training), with reasons once explained."""
    rule, kwargs = policy_kwargs(run)
    exp = explanation_for(run)
    return run.targets(rule, reasons=exp.reasons if exp is not None else None, **kwargs)


def policy_widgets(run) -> None:
    """Rule and its parameter; writes the policy into session state (no retraining)."""
    p = st.session_state[POLICY]
    c = st.columns([2, 3, 2])
    rule = c[0].radio(
        "Flag users by",
        list(RULES),
        list(RULES).index(p["rule"]),
        format_func=RULES.get,
        key="rule",
    )
    p["rule"] = rule
    if rule == "probability":
        thr = p["threshold"] if p["threshold"] is not None else run.threshold
        p["threshold"] = c[1].slider(
            "Flag when churn probability ≥", 0.0, 1.0, round(float(thr), 2), 0.01, key="threshold"
        )
    elif rule == "top_k":
        p["top_k"] = c[1].number_input(
            "K (riskiest users)",
            1,
            max(1, len(run.scores)),
            min(int(p["top_k"]), len(run.scores)),
            key="top_k",
        )
    else:
        p["budget"] = c[1].number_input("Budget", 0.0, 1e9, float(p["budget"]), 100.0, key="budget")
        p["cost_per_user"] = c[2].number_input(
            "Cost per contacted user", 0.01, 1e6, float(p["cost_per_user"]), key="cost"
        )
