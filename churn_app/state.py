"""Session-state keys and helpers: per-user results live in ``st.session_state`` only."""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict
from typing import Any

import pandas as pd
import streamlit as st

from churn_app import background, pseudonyms
from churn_app.jobs import Job
from churn_app.sources import (
    SOURCE,
    Source,
    check_local_path,
    is_big,
    read_source,
    release_upload,
    reload_source,
    save_upload,
)
from churn_core.config import ChurnConfig, SchemaConfig
from churn_core.engine.source import EventSource
from churn_core.errors import ConfigError, EventDataError
from churn_core.events import EventLog
from churn_core.ingest import load_events

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

MAPPING = "applied_mapping"  # the analyst's explicit column mapping of the file on screen, if any

DEFAULT_POLICY: dict[str, Any] = {
    "rule": "probability",
    "threshold": None,  # None: the run's validated (max-F1) threshold
    "top_k": 100,
    "budget": 1000.0,
    "cost_per_user": 5.0,
}


@st.cache_data(max_entries=4, show_spinner="Reading and validating the event log…")
def parse_events(data: bytes, name: str, schema_fields: tuple[tuple[str, Any], ...]) -> EventLog:
    """Pure function of the file bytes and the schema fields (cached per distinct input).

    ``st.cache_data`` is shared by every session: only the bundled demo log goes through it.
    Uploads and local paths are read per session (``load_upload``, ``load_path``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # auto-fixes are listed in report.warnings
        return load_events(data, SchemaConfig(**dict(schema_fields)), name=name)


def session_upload(upload: Any, key: str) -> EventLog:
    """An uploaded event file parsed once per session (kept under ``key`` with its file id).

    Not through ``parse_events``: ``st.cache_data`` is shared by all sessions.
    """
    ss = st.session_state
    held = ss.get(key)
    ident = (upload.file_id, pseudonyms.key_file())  # ids hashed with this session's key
    if held is None or held[0] != ident:
        hasher = pseudonyms.new_hasher()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            log = load_events(upload.getvalue(), name=upload.name, pseudonymize=hasher)
        pseudonyms.keep_pairs(hasher)
        ss[key] = (ident, log)
    return ss[key][1]


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
    background.attach_session()  # first: a reload restores this browser's state
    ss.setdefault(SOURCE, None)
    ss.setdefault(CONFIG, ChurnConfig())
    ss.setdefault(RUN, None)
    ss.setdefault(RUNS, [])
    ss.setdefault(POLICY, dict(DEFAULT_POLICY))
    ss.setdefault(EXPLANATION, None)
    ss.setdefault(PROBLEMS, [])
    if LOG not in ss:
        load_demo()


def load_demo() -> None:
    """The bundled demo log; pseudonymised ones bypass the shared cache (the key is private)."""
    data, name = demo_bytes()
    hasher = pseudonyms.new_hasher()
    if hasher is None:
        log = parse_events(data, name, schema_key(SchemaConfig()))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            log = load_events(data, name=name, pseudonymize=hasher)
        pseudonyms.keep_pairs(hasher)
    use_log(log, f"demo: {name}")


def reload_data() -> None:
    """Load the current data again (after the pseudonymisation switch changed).

    The file on screen is read again with the analyst's mapping (or the automatic one); when
    the data on screen is not that file (the demo, or a file that failed), the demo is loaded.
    """
    ss = st.session_state
    source = ss[SOURCE]
    same = source is not None and source.name == ss[DATA_NAME] and source.path.exists()
    if same and not source.columns:  # read out of core: no pseudonymisation there yet
        same = False
    if same and ss.get(MAPPING) is not None:
        same = apply_mapping(ss[MAPPING])  # keep the analyst's mapping
    elif same:
        same = _read(source.path, source.name, source.temporary)
    if not same:
        load_demo()


def use_log(log: EventLog | EventSource, name: str) -> None:
    """Make ``log`` the current data; the previous run no longer applies to it."""
    ss = st.session_state
    ss[LOG] = log
    ss[DATA_NAME] = name
    ss[RUN] = None
    ss[EXPLANATION] = None
    ss[PROBLEMS] = []


def _use_source(source: Source | None) -> None:
    """Make ``source`` the file on screen; the previous upload's temp copy is deleted."""
    ss = st.session_state
    old = ss.get(SOURCE)
    if old is not None and old.temporary and (source is None or old.path != source.path):
        background.workspace().delete_file(old.path)
    ss[SOURCE] = source


def _read(path, name: str, temporary: bool) -> bool:
    """Read a file into the session: the log when it validates, else its problems."""
    ss = st.session_state
    try:
        hasher = pseudonyms.new_hasher()
        with st.spinner(f"Reading and validating {name}…"):
            source, result = read_source(path, name, temporary, hasher)
        pseudonyms.keep_pairs(hasher)
    except (EventDataError, ConfigError) as err:
        if temporary:
            background.workspace().delete_file(path)
        ss[PROBLEMS] = err.for_app() if isinstance(err, EventDataError) else [str(err)]
        return False
    _use_source(source)
    ss[MAPPING] = None  # a file read afresh starts from the automatic mapping
    if isinstance(result, EventDataError):
        ss[PROBLEMS] = result.for_app()
        return False
    use_log(result, name)
    return True


def load_upload(upload: Any) -> bool:
    """Stream an upload to a temp file, free Streamlit's copy, read it from disk."""
    path = save_upload(upload, background.workspace())
    release_upload(upload.file_id)
    return _read(path, upload.name, temporary=True)


def load_path(text: str) -> bool:
    """Read an event file by its local path (for files above the upload limit); a folder or
    a big file is opened out of core in the background (:func:`open_big`)."""
    try:
        path = check_local_path(text)
        if is_big(path):
            return open_big(path)
    except EventDataError as err:
        st.session_state[PROBLEMS] = err.for_app()
        return False
    return _read(path, str(path), temporary=False)


def open_big(path) -> bool:
    """Open a folder or big file out of core (DuckDB) as a background job with progress;
    :func:`take_source` makes it the current data when it is done."""
    from churn_core.config import EngineConfig
    from churn_core.engine.files import event_files, open_source

    if pseudonyms.key_file() is not None:
        raise EventDataError(
            [
                "Pseudonymisation is not available yet for files read out of core. Switch off "
                "Pseudonymise user ids, or pseudonymise the file first (churn CLI)."
            ]
        )
    event_files(path)  # a folder without event files is refused at once
    engine = EngineConfig(kind="duckdb")
    background.request(
        "open",
        "Reading",
        lambda progress, path=path: open_source(path, engine=engine, progress=progress),
        path=path,
    )
    return True


def take_source(job: Job) -> None:
    """A finished out-of-core read: its source becomes the current data."""
    path = job.context["path"]
    _use_source(Source(path, str(path), temporary=False))
    st.session_state[MAPPING] = None
    use_log(job.result, str(path))


def apply_mapping(schema: SchemaConfig) -> bool:
    """Validate the file on screen again with the analyst's column mapping."""
    source = st.session_state[SOURCE]
    try:
        hasher = pseudonyms.new_hasher()
        log = reload_source(source, schema, hasher)
        pseudonyms.keep_pairs(hasher)
    except (EventDataError, ConfigError) as err:
        st.session_state[PROBLEMS] = (
            err.for_app() if isinstance(err, EventDataError) else [str(err)]
        )
        return False
    use_log(log, source.name)
    st.session_state[MAPPING] = schema
    return True


def take_run(job: Job) -> None:
    """A finished training job: its run becomes current if its data still is."""
    ss = st.session_state
    if job.context.get("log") is not ss[LOG]:
        ss[background.JOB_PROBLEMS]["train"] = [
            f"The run on '{job.context.get('data_name')}' finished after that data was "
            "replaced, so its result was discarded. Train again on the current data."
        ]
        return
    record_run(job.result, job.seconds)
    st.toast(f"Training finished in {job.seconds:.0f} s: {job.result.metadata()['model']}")


def take_explanation(job: Job) -> None:
    """A finished explanation job: kept if it explains the current run."""
    run = job.context.get("run")
    if run is st.session_state[RUN]:
        st.session_state[EXPLANATION] = (run, job.result)
        st.toast(f"Explanations ready ({job.seconds:.0f} s)")


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


def need_events_in_memory() -> None:
    """An info box and ``st.stop()`` when the data was read out of core (a folder or a big
    file): this part of the page reads single users' events from the in-memory log."""
    if isinstance(st.session_state[LOG], EventSource):
        st.info(
            f"{st.session_state[DATA_NAME]} was read out of core (too big to hold in memory), "
            "so this part, which reads single users' events, is not available for it. Train, "
            "the profile and the at-risk list are; for campaign lists use the churn CLI "
            "(`churn score --engine duckdb`)."
        )
        st.stop()


def need_run() -> Any:
    """The current run, or an info box and ``st.stop()`` when there is none."""
    run = st.session_state.get(RUN)
    training = background.workspace().running("train")
    if run is None and training:
        job = training[0]
        st.info(
            f"A model is being trained in the background ({job.stage}, {job.fraction:.0%}). "
            "This page fills in when it finishes; you can keep working meanwhile."
        )
        st.stop()
    if run is None:
        refused = background.job_problems("train") is not None
        st.info(
            "No trained model yet: the last training run ended without a model (the reason is on "
            "the **Churn & model** page)."
            if refused
            else "No trained model yet. Train one on the **Churn & model** page."
        )
        from churn_app.main import page

        st.page_link(page("model.py"), label="Go to Churn & model")
        st.stop()
    return run
