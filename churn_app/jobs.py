"""Background runs and per-browser workspaces (plain Python: no Streamlit in here).

A :class:`Job` is one training or explanation run on a thread of its own. The thread only
writes to its Job (progress, result, problems); the Streamlit script collects the result
into ``st.session_state`` on its next rerun. Jobs live in a :class:`Workspace`, one per
browser session, found again by a random key in the page URL (``?ws=…``) after a reload,
because Streamlit starts a new session (with an empty ``st.session_state``) on every reload.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churn_core.errors import EventDataError

logger = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
IDLE_TTL_S = 30 * 60  # a workspace no session has used for this long is dropped (files too)


class JobCancelledError(Exception):
    """Raised inside the worker at its next progress report after :meth:`Job.cancel`."""


@dataclass(eq=False)
class Job:
    """One background run: its progress while it runs, then its result or its problems."""

    kind: str  # "train" | "explain"
    label: str  # e.g. "Training"
    context: dict[str, Any] = field(default_factory=dict)  # what the run was started on
    started: float = field(default_factory=time.time)
    stage: str = "starting"
    fraction: float = 0.0
    state: str = "running"  # running | done | refused | failed | cancelled
    result: Any = None
    problems: list[str] = field(default_factory=list)
    error: BaseException | None = None
    seconds: float = 0.0
    collected: bool = False  # the session has taken the result
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        """True until the worker has finished (in any way)."""
        return self.state == "running"

    def report(self, stage: str, fraction: float) -> None:
        """Progress callback for the core (``progress=job.report``); stops a cancelled run."""
        if self._cancel.is_set():
            raise JobCancelledError(self.label)
        self.stage = stage
        self.fraction = min(max(float(fraction), 0.0), 1.0)

    def cancel(self) -> None:
        """Ask the worker to stop at its next progress report (its result is discarded)."""
        self._cancel.set()

    def elapsed(self) -> float:
        """Seconds since the start (the total once finished)."""
        return self.seconds if not self.running else time.time() - self.started


def run_job(job: Job, work: Callable[[Progress], Any]) -> None:
    """Run ``work(job.report)`` and record how it ended (the body of the worker thread).

    Input problems (:class:`EventDataError`) end as ``refused`` with their messages; any other
    exception is a bug and ends as ``failed`` with the exception kept for display.
    """
    t0 = time.perf_counter()
    try:
        result = work(job.report)
    except JobCancelledError:
        job.state = "cancelled"
    except EventDataError as err:
        job.problems, job.state = err.for_app(), "refused"  # app wording
    except Exception as err:  # a bug: keep it so the page can show it as one
        logger.exception("%s failed", job.label)
        job.error, job.state = err, "failed"
    else:
        job.result, job.state = result, "done"
    finally:
        job.seconds = time.perf_counter() - t0
        job.fraction = 1.0 if job.state == "done" else job.fraction


@dataclass(eq=False)
class Workspace:
    """What one browser session owns: its jobs, its temporary files, a snapshot for reloads."""

    key: str
    jobs: dict[str, Job] = field(default_factory=dict)  # the newest job of each kind
    saved: dict[str, Any] = field(default_factory=dict)  # session-state snapshot
    files: set[Path] = field(default_factory=set)
    last_seen: float = field(default_factory=time.time)

    def start(self, kind: str, label: str, work: Callable[[Progress], Any], **context: Any) -> Job:
        """Start ``work(progress)`` on a daemon thread as the current job of ``kind``."""
        old = self.jobs.get(kind)
        if old is not None and old.running:
            old.cancel()
        job = Job(kind, label, context)
        self.jobs[kind] = job
        threading.Thread(
            target=run_job, args=(job, work), name=f"churn-{kind}-{self.key[:6]}", daemon=True
        ).start()
        return job

    def running(self, kind: str | None = None) -> list[Job]:
        """Jobs still running (of ``kind``, or of any kind)."""
        return [j for k, j in self.jobs.items() if j.running and kind in (None, k)]

    def new_file(self, suffix: str = "") -> Path:
        """A fresh temporary file path owned by this workspace (deleted with it)."""
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=_temp_dir())
        os.close(fd)  # mkstemp makes it readable by this user only
        path = Path(name)
        self.files.add(path)
        return path

    def delete_file(self, path: Path | None) -> None:
        """Delete one of this workspace's temporary files (other paths are left alone)."""
        if path is not None and path in self.files:
            self.files.discard(path)
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop running jobs and delete every temporary file."""
        for job in self.jobs.values():
            job.cancel()
        for path in list(self.files):
            self.delete_file(path)
        self.saved.clear()


_LOCK = threading.Lock()
_WORKSPACES: dict[str, Workspace] = {}
_TEMP: list[Path] = []


def _temp_dir() -> Path:
    """This server process's private temp folder (removed at exit)."""
    with _LOCK:
        if not _TEMP:
            _TEMP.append(Path(tempfile.mkdtemp(prefix="churn-app-")))
            atexit.register(shutil.rmtree, _TEMP[0], True)
        return _TEMP[0]


def attach(key: str | None) -> Workspace:
    """The workspace for ``key`` (from the URL) if it exists, else a new one with a new key.

    Keys are never taken from the caller for new workspaces: an unknown or expired key gets
    a fresh random one, so nobody can plant a key for someone else to use.
    """
    expire()
    with _LOCK:
        ws = _WORKSPACES.get(key) if key else None
        if ws is None:
            ws = Workspace(secrets.token_urlsafe(16))
            _WORKSPACES[ws.key] = ws
        ws.last_seen = time.time()
        return ws


def expire(now: float | None = None, ttl: float = IDLE_TTL_S) -> int:
    """Drop workspaces unused for ``ttl`` seconds with nothing running; returns how many."""
    now = time.time() if now is None else now
    with _LOCK:
        old = [k for k, w in _WORKSPACES.items() if now - w.last_seen > ttl and not w.running()]
        gone = [_WORKSPACES.pop(k) for k in old]
    for ws in gone:
        ws.close()
    return len(gone)


def workspace_count() -> int:
    """How many workspaces the server holds (for tests and the bench)."""
    return len(_WORKSPACES)
