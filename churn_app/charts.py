"""Plotly figure builders: plain DataFrames in, figures out (no streamlit, no churn_core)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "template": "plotly_white"}


def _style(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(title=title, height=height, **_LAYOUT)
    return fig


def events_per_day(frame: pd.DataFrame) -> go.Figure:
    """Events per calendar day, one line per event type."""
    day = frame["timestamp"].dt.floor("D")
    counts = frame.groupby([day, "event_type"]).size().rename("events").reset_index()
    fig = px.line(counts, x="timestamp", y="events", color="event_type")
    return _style(fig, "Events per day")


def days_since_last(frame: pd.DataFrame, as_of: pd.Timestamp) -> go.Figure:
    """Histogram of users by days since their last event."""
    last = frame.groupby("user_id")["timestamp"].max()
    days = ((as_of - last).dt.total_seconds() / 86400).rename("days since last event")
    fig = px.histogram(days.to_frame(), x="days since last event", nbins=50)
    fig.update_yaxes(title="users")
    return _style(fig, "Users by days since last activity")


def label_timeline(labels: pd.DataFrame, start: pd.Timestamp, as_of: pd.Timestamp) -> go.Figure:
    """History before each cutoff and its label window, one row per cutoff."""
    rows = []
    for _, r in labels.iterrows():
        name = f"cutoff {r['cutoff']:%Y-%m-%d}"
        rows.append({"cutoff": name, "part": "history", "start": start, "end": r["cutoff"]})
        rows.append(
            {
                "cutoff": name,
                "part": "label window",
                "start": r["window_start"],
                "end": r["window_end"],
            }
        )
    if not rows:
        return _style(go.Figure(), "No complete label window fits in the log")
    fig = px.timeline(
        pd.DataFrame(rows),
        x_start="start",
        x_end="end",
        y="cutoff",
        color="part",
        color_discrete_map={"history": "#93c5fd", "label window": "#f97316"},
    )
    fig.add_vline(x=as_of, line_dash="dash", line_color="#111827")
    fig.update_yaxes(autorange="reversed", title=None)
    return _style(fig, "Training cutoffs: features from history, labels from the window", 260)


def fold_spread(folds: pd.DataFrame, metrics: list[str]) -> go.Figure:
    """Per-fold values of a few metrics (the spread across folds)."""
    long = folds[metrics].melt(var_name="metric", value_name="value")
    fig = px.strip(long, x="metric", y="value")
    return _style(fig, "Cross-validation: value per fold", 280)


def roc(curve: pd.DataFrame, oot: pd.DataFrame | None = None) -> go.Figure:
    """ROC curve (pooled CV, and out-of-time when given)."""
    fig = go.Figure(go.Scatter(x=curve["fpr"], y=curve["tpr"], name="cross-validation"))
    if oot is not None:
        fig.add_scatter(x=oot["fpr"], y=oot["tpr"], name="out-of-time")
    fig.add_scatter(x=[0, 1], y=[0, 1], name="chance", line={"dash": "dot", "color": "grey"})
    fig.update_xaxes(title="false positive rate")
    fig.update_yaxes(title="true positive rate")
    return _style(fig, "ROC")


def pr(curve: pd.DataFrame, base_rate: float) -> go.Figure:
    """Precision-recall curve with the base churn rate."""
    fig = go.Figure(go.Scatter(x=curve["recall"], y=curve["precision"], name="model"))
    fig.add_hline(y=base_rate, line_dash="dot", line_color="grey")
    fig.update_xaxes(title="recall")
    fig.update_yaxes(title="precision", range=[0, 1.02])
    return _style(fig, "Precision-recall")


def calibration(curve: pd.DataFrame) -> go.Figure:
    """Reliability diagram: predicted probability vs observed churn rate."""
    fig = go.Figure(
        go.Scatter(x=curve["mean_predicted"], y=curve["observed_rate"], mode="lines+markers")
    )
    fig.add_scatter(x=[0, 1], y=[0, 1], name="perfect", line={"dash": "dot", "color": "grey"})
    fig.update_layout(showlegend=False)
    fig.update_xaxes(title="mean predicted probability")
    fig.update_yaxes(title="observed churn rate")
    return _style(fig, "Calibration")


def gain(curve: pd.DataFrame) -> go.Figure:
    """Cumulative gain (share of churners caught) and lift vs share targeted."""
    fig = go.Figure(
        go.Scatter(x=curve["share_targeted"], y=curve["share_of_churners"], name="gain")
    )
    fig.add_scatter(x=curve["share_targeted"], y=curve["lift"], name="lift", yaxis="y2")
    fig.add_scatter(x=[0, 1], y=[0, 1], name="random", line={"dash": "dot", "color": "grey"})
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "lift"})
    fig.update_xaxes(title="share of users targeted (riskiest first)")
    fig.update_yaxes(title="share of churners caught")
    return _style(fig, "Lift and gain")


def confusion(matrix: pd.DataFrame) -> go.Figure:
    """2x2 confusion counts as an annotated heatmap."""
    fig = px.imshow(matrix, text_auto=True, color_continuous_scale="Blues", aspect="auto")
    fig.update_coloraxes(showscale=False)
    return _style(fig, "Confusion matrix", 300)


def score_distribution(y_true, y_prob, threshold: float) -> go.Figure:
    """Histogram of validated probabilities, split by what really happened."""
    df = pd.DataFrame(
        {"probability": y_prob, "outcome": pd.Series(y_true).map({0: "stayed", 1: "churned"})}
    )
    fig = px.histogram(
        df, x="probability", color="outcome", nbins=40, barmode="overlay", opacity=0.65
    )
    fig.add_vline(x=threshold, line_dash="dash")
    return _style(fig, "Score distribution (validation)")


def user_timeline(events: pd.DataFrame) -> go.Figure:
    """One user's events over time, coloured by type (amount as y when the log has amounts)."""
    y = "amount" if events["amount"].abs().sum() > 0 else "event_type"
    fig = px.scatter(
        events,
        x="timestamp",
        y=y,
        color="event_type",
        hover_data=[c for c in ("item_id", "category") if c in events],
    )
    return _style(fig, "Event timeline", 280)


def drivers(table: pd.DataFrame) -> go.Figure:
    """Global drivers: mean |SHAP| per factor, coloured by direction."""
    t = table.sort_values("mean_abs_shap")
    color = "direction" if "direction" in t else None
    fig = px.bar(
        t,
        x="mean_abs_shap",
        y="factor",
        color=color,
        orientation="h",
        hover_data=[c for c in ("description",) if c in t],
    )
    return _style(fig, "What drives churn risk overall", max(300, 28 * len(t)))


def drivers_by_tier(table: pd.DataFrame) -> go.Figure:
    """Heatmap of driver strength (rows: factors, columns: tiers)."""
    fig = px.imshow(table, aspect="auto", color_continuous_scale="RdBu_r", text_auto=".3f")
    return _style(fig, "Drivers per risk tier", max(300, 28 * len(table)))


def waterfall(contrib: pd.DataFrame, base: float) -> go.Figure:
    """One user's explanation: base value plus each factor's contribution."""
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            y=["base"] + contrib["factor"].astype(str).tolist(),
            x=[base] + contrib["contribution"].tolist(),
            measure=["absolute"] + ["relative"] * len(contrib),
        )
    )
    return _style(fig, "Why this user", max(300, 28 * (len(contrib) + 1)))


def beeswarm(
    values: pd.DataFrame, data: pd.DataFrame, factors: list[str], max_users: int = 2000
) -> go.Figure:
    """Beeswarm-style SHAP view: one dot per user and factor, coloured by the feature's rank."""
    users = values.index[:max_users]
    rng = np.random.default_rng(0)
    parts = []
    for i, f in enumerate(reversed(factors)):
        shap = values.loc[users, f].to_numpy(dtype=float)
        raw = data.loc[users, f] if f in data else pd.Series(np.nan, index=users)
        parts.append(
            pd.DataFrame(
                {
                    "factor": f,
                    "row": i + rng.uniform(-0.3, 0.3, len(users)),
                    "shap": shap,
                    "value rank": pd.to_numeric(raw, errors="coerce").rank(pct=True).to_numpy(),
                }
            )
        )
    df = pd.concat(parts, ignore_index=True)
    fig = px.scatter(
        df,
        x="shap",
        y="row",
        color="value rank",
        hover_data=["factor"],
        color_continuous_scale="RdBu_r",
        opacity=0.6,
    )
    fig.update_traces(marker={"size": 4})
    fig.update_yaxes(
        tickvals=list(range(len(factors))), ticktext=list(reversed(factors)), title=None
    )
    fig.update_xaxes(title="contribution to churn score (SHAP)")
    return _style(
        fig, "Each user's contributions (red: high feature value)", max(320, 30 * len(factors))
    )
