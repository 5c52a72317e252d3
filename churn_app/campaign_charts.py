"""Plotly figures for the Campaign and Outcomes pages (plain DataFrames in, figures out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
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
    fig.update_xaxes(title="list size (treat + control users, best first)")
    fig.update_yaxes(title="expected amount")
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return _style(fig, "Profit by list size", 420)


def realised_churn(table: pd.DataFrame, key: str, title: str) -> go.Figure:
    """Realised churn rate per ``key`` (risk tier or group) with its 95 % interval, next to
    the mean predicted probability.

    ``table``: columns ``key``, ``users``, ``churn_rate``, ``ci_low``, ``ci_high``,
    ``mean_predicted`` (``OutcomeReport.by_tier`` / ``by_group``).
    """
    names = table[key].astype(str)
    colors = [GROUP_COLORS.get(n, "#2563eb") for n in names]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=table["churn_rate"],
            name="realised churn",
            marker_color=colors,
            text=[f"n={n:,}" for n in table["users"]],
            textposition="inside",
            insidetextanchor="start",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": table["ci_high"] - table["churn_rate"],
                "arrayminus": table["churn_rate"] - table["ci_low"],
            },
        )
    )
    fig.add_scatter(
        x=names,
        y=table["mean_predicted"],
        mode="markers",
        name="mean predicted",
        marker={"symbol": "line-ew-open", "size": 28, "line": {"width": 3}, "color": "#111827"},
    )
    fig.update_yaxes(title="churn rate", range=[0, 1.05])
    fig.update_layout(legend={"orientation": "h", "y": -0.15})
    return _style(fig, title, 360)


def calibration_deciles(table: pd.DataFrame) -> go.Figure:
    """Predicted vs realised churn rate per decile of predicted probability.

    ``table``: columns ``decile``, ``users``, ``mean_predicted``, ``churn_rate``
    (``OutcomeReport.calibration``).
    """
    fig = go.Figure(
        go.Scatter(
            x=table["mean_predicted"],
            y=table["churn_rate"],
            mode="lines+markers+text",
            text=table["decile"].astype(str),
            textposition="top left",
            name="deciles",
        )
    )
    fig.add_scatter(x=[0, 1], y=[0, 1], name="perfect", line={"dash": "dot", "color": "grey"})
    fig.update_layout(showlegend=False)
    fig.update_xaxes(title="mean predicted churn probability", range=[0, 1])
    fig.update_yaxes(title="realised churn rate", range=[0, 1.05])
    return _style(fig, "Calibration per decile: predicted vs actual", 360)
