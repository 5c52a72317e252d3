"""Rendering of one run's validation results (metrics, fold spread, plotly charts)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from churn_app import charts

SHOWN = ["roc_auc", "pr_auc", "brier", "lift_top_decile", "f1", "precision", "recall"]


def metric_table(run) -> pd.DataFrame:
    """CV mean ± std next to the out-of-time value for each metric."""
    cv = run.cv.summary
    out = pd.DataFrame({"CV mean": cv["mean"], "CV std (fold spread)": cv["std"]}, index=cv.index)
    if run.backtest is not None:
        out["out-of-time"] = run.backtest.summary["mean"]
    return out.loc[[m for m in SHOWN if m in out.index]]


def show_results(run) -> None:
    """Metrics, curves, confusion matrix at a chosen threshold, score distribution."""
    cv, oot = run.cv, run.backtest
    summ = cv.summary
    c = st.columns(4)
    c[0].metric(
        "CV ROC AUC",
        f"{summ.loc['roc_auc', 'mean']:.3f}",
        f"± {summ.loc['roc_auc', 'std']:.3f}",
        "off",
        delta_arrow="off",  # a spread across folds, not a change
        help="Mean over the cross-validation folds; ± their standard deviation.",
    )
    c[1].metric("CV PR AUC", f"{summ.loc['pr_auc', 'mean']:.3f}")
    if oot is not None:
        c[2].metric("Out-of-time ROC AUC", f"{oot.summary.loc['roc_auc', 'mean']:.3f}")
    c[3].metric("Validated threshold (max F1)", f"{run.threshold:.3f}")
    for note in cv.notes + (oot.notes if oot is not None else ()):
        st.caption(note)
    comparison = run.baseline_comparison()
    st.markdown(f"**Against the simple baseline.** {run.baseline_verdict()}")
    if run.history_note():
        st.warning(run.history_note())
    if comparison is not None:
        fmt = {"model": "{:.3f}", "baseline": "{:.3f}", "difference": "{:+.3f}", "se": "{:.3f}"}
        st.dataframe(comparison.style.format(fmt))
    left, right = st.columns(2)
    left.dataframe(metric_table(run).style.format("{:.3f}"))
    right.plotly_chart(charts.fold_spread(cv.folds, ["roc_auc", "pr_auc", "f1", "recall"]))
    left, right = st.columns(2)
    left.plotly_chart(charts.roc(cv.curves.roc, oot.curves.roc if oot is not None else None))
    right.plotly_chart(charts.pr(cv.curves.pr, float(cv.y_true.mean())))
    left, right = st.columns(2)
    left.plotly_chart(charts.calibration(cv.curves.calibration))
    right.plotly_chart(charts.gain(cv.curves.gain))
    thr = st.slider(
        "Threshold for the confusion matrix",
        0.0,
        1.0,
        float(run.threshold),
        0.01,
        key="cm_threshold",
    )
    left, right = st.columns(2)
    left.plotly_chart(charts.confusion(cv.confusion(thr)))
    right.plotly_chart(charts.score_distribution(cv.y_true, cv.y_prob, thr))
