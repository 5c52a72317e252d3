"""Plotly figures for the Campaign and Outcomes pages (plain DataFrames in, figures out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from churn_app.charts import _style

GROUP_COLORS = {"treat": "#2563eb", "control": "#f97316"}
MAX_POINTS = 1500  # a curve over 100k list sizes is drawn from this many (plus the marked ones)


def _thin(curve: pd.DataFrame, keep: tuple[int, ...]) -> pd.DataFrame:
    """Evenly spaced rows of a long curve, always with the first, last and ``keep`` sizes."""
    if len(curve) <= MAX_POINTS:
        return curve
    idx = np.unique(
        np.r_[np.linspace(0, len(curve) - 1, MAX_POINTS).round().astype(int), list(keep)]
    )
    return curve.iloc[idx[(idx >= 0) & (idx < len(curve))]]


def profit_curve(curve: pd.DataFrame, suggested: int, chosen: int) -> go.Figure:
    """Expected profit, value saved and cost over the list size, the profit-maximising size
    (dashed line) and the chosen size (a marked point).

    ``curve``: one row per list size with columns ``size``, ``profit``, ``value_saved``, ``cost``.
    """
    at = curve.loc[curve["size"] == chosen]
    curve = _thin(curve, (suggested, chosen))
    fig = go.Figure(
        go.Scatter(x=curve["size"], y=curve["profit"], name="expected profit", line={"width": 3})
    )
    fig.add_scatter(
        x=curve["size"], y=curve["value_saved"], name="expected value saved", line={"dash": "dot"}
    )
    fig.add_scatter(x=curve["size"], y=curve["cost"], name="contact cost", line={"dash": "dot"})
    fig.add_vline(
        x=suggested,
        line_dash="dash",
        line_color="#16a34a",
        annotation_text=f"most profitable: {suggested:,}",
        annotation_position="top left",
    )
    if len(at):
        fig.add_scatter(
            x=at["size"],
            y=at["profit"],
            mode="markers",
            name=f"chosen: {chosen:,}",
            marker={"size": 14, "color": "#dc2626", "symbol": "diamond"},
        )
    fig.update_xaxes(title="list size (users contacted, best first)")
    fig.update_yaxes(title="expected amount")
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return _style(fig, "Profit by list size", 420)


def churn_by_tier_and_group(table: pd.DataFrame) -> go.Figure:
    """Realised churn rate per risk tier, one bar per group (treat / control).

    ``table``: columns ``risk_tier``, ``group``, ``churn_rate``, ``users``.
    """
    fig = px.bar(
        table,
        x="risk_tier",
        y="churn_rate",
        color="group",
        barmode="group",
        text="users",
        hover_data=["users"],
        color_discrete_map=GROUP_COLORS,
        category_orders={"risk_tier": ["low", "medium", "high"]},
    )
    fig.update_traces(texttemplate="n=%{text}", textposition="outside")
    fig.update_yaxes(title="realised churn rate", rangemode="tozero")
    fig.update_xaxes(title="risk tier")
    return _style(fig, "Realised churn per risk tier and group", 360)


def calibration_deciles(table: pd.DataFrame) -> go.Figure:
    """Predicted vs realised churn rate per decile of predicted probability.

    ``table``: columns ``decile``, ``predicted``, ``actual``.
    """
    fig = go.Figure(
        go.Scatter(
            x=table["predicted"],
            y=table["actual"],
            mode="lines+markers+text",
            text=table["decile"].astype(str),
            textposition="top left",
            name="deciles",
        )
    )
    top = float(max(table["predicted"].max(), table["actual"].max(), 0.01)) * 1.05
    fig.add_scatter(x=[0, top], y=[0, top], name="perfect", line={"dash": "dot", "color": "grey"})
    fig.update_layout(showlegend=False)
    fig.update_xaxes(title="mean predicted churn probability")
    fig.update_yaxes(title="realised churn rate")
    return _style(fig, "Calibration per decile: predicted vs actual", 360)
