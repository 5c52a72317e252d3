"""Streamlit side of background runs: attach the workspace, collect results, show progress.

Pages call :func:`request` to start a run (it asks first when one of the same kind is going)
and :func:`confirm_box` to draw that question; ``main`` calls :func:`attach_session` (via
``init_state``), :func:`collect` before drawing anything, :func:`progress_panel` in the
sidebar and :func:`save_session` at the end of every rerun.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from churn_app.jobs import Job, Progress, Workspace, attach

WORKSPACE, PENDING, JOB_PROBLEMS = "workspace", "pending_runs", "job_problems"
URL_KEY = "ws"
# session-state keys a reload restores (per-user results; widgets restore themselves)
SAVED = ("log", "data_name", "config", "run", "runs", "policy", "explanation", "source", "campaign")
REFRESH_S = 1.0


def workspace() -> Workspace:
    """This session's workspace."""
    return st.session_state[WORKSPACE]


def attach_session() -> None:
    """Find this browser's workspace (by the URL key) or make one; restore a reload's state."""
    ss = st.session_state
    if WORKSPACE not in ss:
        ws = attach(st.query_params.get(URL_KEY))
        ss[WORKSPACE] = ws
        for key, value in ws.saved.items():
            ss.setdefault(key, value)
        ss.setdefault(PENDING, {})
        ss.setdefault(JOB_PROBLEMS, {})
    ws = ss[WORKSPACE]
    ws.last_seen = time.time()
    if st.query_params.get(URL_KEY) != ws.key:  # page switches drop query parameters
        st.query_params[URL_KEY] = ws.key


def save_session() -> None:
    """Keep references to this session's results in the workspace for a reload."""
    ss = st.session_state
    if WORKSPACE in ss:
        ss[WORKSPACE].saved = {k: ss[k] for k in SAVED if k in ss}


def collect(
    on_train: Callable[[Job], None],
    on_explain: Callable[[Job], None],
    on_open: Callable[[Job], None] | None = None,
) -> None:
    """Take every finished, not yet collected job's result into the session (once each)."""
    ss = st.session_state
    for kind, job in list(workspace().jobs.items()):
        if job.running or job.collected:
            continue
        job.collected = True
        ss[JOB_PROBLEMS].pop(kind, None)
        if job.state == "done":
            handler = {"train": on_train, "open": on_open}.get(kind) or on_explain
            handler(job)
        elif job.state == "refused":
            ss[JOB_PROBLEMS][kind] = job.problems
        elif job.state == "failed":
            ss[JOB_PROBLEMS][kind] = job


def request(kind: str, label: str, work: Callable[[Progress], Any], **context: Any) -> None:
    """Start a background run, or, when one of ``kind`` is going, ask first (confirm_box)."""
    ws = workspace()
    if ws.running(kind):
        st.session_state[PENDING][kind] = (label, work, context)
        return
    ws.start(kind, label, work, **context)
    st.session_state[JOB_PROBLEMS].pop(kind, None)
    st.rerun()  # redraw the sidebar with the progress block


def confirm_box(kind: str) -> None:
    """The question for a run requested while another of ``kind`` is going."""
    ss = st.session_state
    pending = ss[PENDING].get(kind)
    if pending is None:
        return
    current = workspace().jobs.get(kind)
    if current is not None and current.running:
        st.warning(
            f"**{current.label} is still running** ({current.stage}, "
            f"{current.fraction:.0%}, started {current.elapsed():.0f} s ago). "
            "Start the new run anyway? The running one is stopped and its result discarded."
        )
    else:
        st.info(f"The previous {current.label.lower() if current else 'run'} has finished.")
    c = st.columns([2, 2, 3])
    if c[0].button("Stop it and start the new run", key=f"confirm_{kind}", type="primary"):
        label, work, context = ss[PENDING].pop(kind)
        workspace().start(kind, label, work, **context)
        st.rerun()
    if c[1].button("Keep the running one", key=f"keep_{kind}"):
        ss[PENDING].pop(kind)
        st.rerun()


def job_problems(kind: str) -> list[str] | Job | None:
    """Why the last run of ``kind`` ended without a result (problems, or the failed job)."""
    return st.session_state[JOB_PROBLEMS].get(kind)


def _draw_jobs(ws: Workspace) -> None:
    for job in list(ws.jobs.values()):
        if job.running:
            st.progress(
                job.fraction,
                text=f"**{job.label}** · {job.stage} · {job.fraction:.0%} · {job.elapsed():.0f} s",
            )
            if st.button("Stop", key=f"stop_{job.kind}", help="Stop this run"):
                job.cancel()


def progress_panel() -> None:
    """Running jobs with live progress (every page: it is drawn in the sidebar).

    While a job runs, a fragment redraws itself every second; when a job ends it reruns the
    whole app so the result is collected and every page sees it.
    """
    ws = workspace()
    if not ws.running():
        return

    @st.fragment(run_every=REFRESH_S)
    def live() -> None:
        if any(not j.running and not j.collected for j in list(ws.jobs.values())):
            st.rerun(scope="app")
        _draw_jobs(ws)

    live()
