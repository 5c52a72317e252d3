"""Session-state keys and helpers: per-user results live in ``st.session_state`` only."""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict
from typing import Any

import pandas as pd
import streamlit as st

from churn_core.config import ChurnConfig, SchemaConfig
from churn_core.errors import EventDataError
from churn_core.events import EventLog
from churn_core.ingest import DetectedSchema, detect_schema, load_events
from churn_core.loading import read_events

# Keys in st.session_state.
LOG, DATA_NAME, CONFIG, RUN, RUNS, POLICY, EXPLANATION, PROBLEMS = (
    "log",
    "data_name",
    "config",
    "run",
    "runs",
    "policy",
    "explanation",
    "problems",
)

DEFAULT_POLICY: dict[str, Any] = {
    "rule": "probability",
    "threshold": None,  # None: the run's validated (max-F1) threshold
    "top_k": 100,
    "budget": 1000.0,
    "cost_per_user": 5.0,
}


@st.cache_data(max_entries=4, show_spinner="Reading and validating the event log…")
def parse_events(data: bytes, name: str, schema_fields: tuple[tuple[str, Any], ...]) -> EventLog:
    """Pure function of the file bytes and the schema fields (cached per distinct input)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # auto-fixes are listed in report.warnings
        return load_events(data, SchemaConfig(**dict(schema_fields)), name=name)


@st.cache_data(max_entries=4, show_spinner=False)
def detect_mapping(data: bytes, name: str) -> tuple[list[str], DetectedSchema]:
    """The upload's columns and what auto-detection made of them (small, so cheap to cache)."""
    raw = read_events(data, name=name)
    return [str(c) for c in raw.columns], detect_schema(raw, SchemaConfig())


def schema_key(schema: SchemaConfig) -> tuple[tuple[str, Any], ...]:
    """Hashable, order-stable form of a SchemaConfig for the cache key."""
    return tuple(asdict(schema).items())


def demo_bytes() -> tuple[bytes, str]:
    """The bundled demo log's bytes and file name."""
    from churn_core.datasets import DEMO_FILE, demo_path

    return demo_path().read_bytes(), DEMO_FILE


def init_state() -> None:
    """Session defaults; loads the demo log on first start so the app is never empty."""
    ss = st.session_state
    ss.setdefault(CONFIG, ChurnConfig())
    ss.setdefault(RUN, None)
    ss.setdefault(RUNS, [])
    ss.setdefault(POLICY, dict(DEFAULT_POLICY))
    ss.setdefault(EXPLANATION, None)
    ss.setdefault(PROBLEMS, [])
    if LOG not in ss:
        data, name = demo_bytes()
        use_log(parse_events(data, name, schema_key(SchemaConfig())), f"demo: {name}")


def use_log(log: EventLog, name: str) -> None:
    """Make ``log`` the current data; the previous run no longer applies to it."""
    ss = st.session_state
    ss[LOG] = log
    ss[DATA_NAME] = name
    ss[RUN] = None
    ss[EXPLANATION] = None
    ss[PROBLEMS] = []


def try_load(data: bytes, name: str, schema: SchemaConfig) -> bool:
    """Validate an upload; on EventDataError store its problems and keep the old data."""
    try:
        log = parse_events(data, name, schema_key(schema))
    except EventDataError as err:
        st.session_state[PROBLEMS] = err.for_app()  # worded for the mapping box, not CLI flags
        return False
    use_log(log, name)
    return True


def show_problems(problems: list[str], title: str) -> None:
    """The problems as a plain-language bullet list (never a traceback)."""
    st.error(title + "\n\n" + "\n".join(f"- {p}" for p in problems))


def record_run(run: Any, seconds: float) -> None:
    """Store a finished run and add one row to the session's comparison table."""
    ss = st.session_state
    ss[RUN] = run
    ss[EXPLANATION] = None
    cfg = run.config
    cv = run.cv.summary
    oot = run.backtest.summary if run.backtest is not None else None
    ss[RUNS].append(
        {
            "run": len(ss[RUNS]) + 1,
            "data": ss.get(DATA_NAME, ""),
            "classifier": cfg.model.classifier,
            "encoder": cfg.encoder.kind,
            "horizon_days": cfg.label.horizon_days,
            "cv_roc_auc": cv.loc["roc_auc", "mean"],
            "cv_roc_auc_std": cv.loc["roc_auc", "std"],
            "cv_pr_auc": cv.loc["pr_auc", "mean"],
            "cv_brier": cv.loc["brier", "mean"],
            "oot_roc_auc": oot.loc["roc_auc", "mean"] if oot is not None else float("nan"),
            "threshold": run.threshold,
            "users_scored": len(run.scores),
            "seconds": round(seconds, 1),
            "at": time.strftime("%H:%M:%S"),
        }
    )


def runs_table() -> pd.DataFrame:
    """This session's runs, newest last."""
    return pd.DataFrame(st.session_state.get(RUNS, []))


def policy_kwargs(run: Any) -> tuple[str, dict[str, Any]]:
    """The stored targeting policy as ``run.targets`` arguments."""
    p = st.session_state[POLICY]
    threshold = p["threshold"] if p["threshold"] is not None else run.threshold
    kwargs = {
        "threshold": float(threshold),
        "top_k": int(p["top_k"]),
        "budget": float(p["budget"]),
        "cost_per_user": float(p["cost_per_user"]),
    }
    return p["rule"], kwargs


def need_run() -> Any:
    """The current run, or an info box and ``st.stop()`` when there is none."""
    run = st.session_state.get(RUN)
    if run is None:
        st.info("No trained model yet. Train one on the **Churn & model** page.")
        from churn_app.main import page

        st.page_link(page("model.py"), label="Go to Churn & model")
        st.stop()
    return run
