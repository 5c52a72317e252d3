"""AppTest: background runs survive page switches and reloads; uploads go to disk; paths load.

Training is gated by an Event (a wrapper around the real ``train``) so "still running" is a
state the test controls, not a race against the clock.
"""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import churn_core.pipeline  # noqa: E402
from churn_app import jobs  # noqa: E402
from churn_core.datasets import demo_path  # noqa: E402
from tests.ui.apptest import open_app, wait_until  # noqa: E402


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def _sidebar_model(at: AppTest) -> str:
    return next(c.value for c in at.sidebar.caption if "**Model:**" in c.value)


@pytest.fixture
def gate(monkeypatch):
    """Training waits for ``gate.set()`` before it starts (the real train runs afterwards)."""
    event = threading.Event()
    real = churn_core.pipeline.train

    def gated(*args, **kwargs):
        assert event.wait(120)
        return real(*args, **kwargs)

    monkeypatch.setattr(churn_core.pipeline, "train", gated)
    yield event
    event.set()


def _click_train(at: AppTest) -> AppTest:
    at.switch_page("churn_app/pages/model.py").run()
    at.slider(key="cv_folds").set_value(2)
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    return at


def test_training_survives_a_page_switch_and_the_sidebar_shows_the_model(gate):
    at = _click_train(open_app())
    assert at.session_state["workspace"].running("train")
    assert "not trained yet" in _sidebar_model(at)
    at.switch_page("churn_app/pages/at_risk.py").run()
    assert "being trained in the background" in _texts(at.info)
    assert not at.metric  # no results yet, and no "No trained model yet" either
    assert "No trained model yet" not in _texts(at.info)
    gate.set()
    wait_until(at, lambda a: a.session_state["run"] is not None)
    # the same rerun that collected the run drew the sidebar and the page with it
    run = at.session_state["run"]
    assert _sidebar_model(at) == f"**Model:** {run.metadata()['model']}"
    assert [m.label for m in at.metric][:2] == ["Users flagged", "Expected churners among them"]
    assert len(at.session_state["runs"]) == 1


def test_second_run_asks_first(gate):
    at = _click_train(open_app())
    first = at.session_state["workspace"].jobs["train"]
    next(b for b in at.button if b.label == "Train").click().run()
    assert "is still running" in _texts(at.warning)
    at.button(key="keep_train").click().run()
    assert not at.warning and at.session_state["workspace"].jobs["train"] is first
    next(b for b in at.button if b.label == "Train").click().run()
    at.button(key="confirm_train").click().run()
    second = at.session_state["workspace"].jobs["train"]
    assert second is not first and second.running
    gate.set()
    wait_until(at, lambda a: a.session_state["run"] is not None)
    assert first.state == "cancelled" and second.state == "done"
    assert len(at.session_state["runs"]) == 1  # the stopped run left no row


def test_reload_with_the_url_key_shows_the_run(gate):
    at = _click_train(open_app())
    key = at.query_params["ws"]
    assert key and key == at.session_state["workspace"].key
    gate.set()
    # a reload: a new session (empty session state) with the same URL, while the run goes on
    again = open_app(ws=key)
    assert again.session_state["workspace"] is at.session_state["workspace"]
    wait_until(again, lambda a: a.session_state["run"] is not None)
    assert "not trained yet" not in _sidebar_model(again)
    # a fresh browser (no key, or a made-up key) gets a workspace of its own
    other = open_app(ws="made-up-key")
    assert other.query_params["ws"] != "made-up-key"
    assert other.session_state["run"] is None and not other.session_state["workspace"].jobs


def test_upload_goes_to_a_temp_file_deleted_when_replaced(tmp_path):
    at = open_app()
    ws = at.session_state["workspace"]
    first = b"user,time,event\n" + b"".join(
        f"u{i % 40},2024-01-{1 + i % 28:02d},view\n".encode() for i in range(400)
    )
    at.file_uploader(key="upload").upload("first.csv", first, "text/csv").run()
    assert not at.exception, at.exception
    src = at.session_state["source"]
    assert src.temporary and src.path.read_bytes() == first and src.path in ws.files
    assert at.session_state["data_name"] == "first.csv" and at.session_state["log"].n_users == 40
    # loading another file by path replaces the data and deletes the upload's temp copy
    demo = tmp_path / "demo copy.csv.gz"
    demo.write_bytes(demo_path().read_bytes())
    at.text_input(key="local_path").input(str(demo))
    next(b for b in at.button if b.label == "Load file").click().run()
    assert not at.exception, at.exception
    assert not src.path.exists() and src.path not in ws.files
    assert at.session_state["data_name"] == str(demo) and not at.session_state["source"].temporary
    assert demo.exists()  # the analyst's own file is never deleted


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", "Type the full path"),
        ("relative/events.csv", "not a full path"),
        ("/no/such/dir/events.csv", "does not exist"),
        ("{tmp}", "holds no .parquet, .csv or .csv.gz file"),
    ],
)
def test_bad_local_path_is_one_clear_error(tmp_path, typed, expected):
    at = open_app()
    before = at.session_state["log"]
    at.text_input(key="local_path").input(typed.format(tmp=tmp_path))
    next(b for b in at.button if b.label == "Load file").click().run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and expected in at.error[0].value
    assert "Traceback" not in at.error[0].value
    assert at.session_state["log"] is before


def test_local_path_outside_the_data_root_is_refused(tmp_path, monkeypatch):
    inside, outside = tmp_path / "in", tmp_path / "out.csv.gz"
    inside.mkdir()
    outside.write_bytes(gzip.compress(b"user,time\nu1,2024-01-01\n"))
    monkeypatch.setenv("CHURN_DATA_ROOT", str(inside))
    at = open_app()
    at.text_input(key="local_path").input(str(outside))
    next(b for b in at.button if b.label == "Load file").click().run()
    assert "outside the data folder" in at.error[0].value


def test_two_sessions_have_separate_workspaces(monkeypatch):
    from churn_app import state

    cached = []  # st.cache_data is shared by all sessions: only the demo may go through it
    real = state.parse_events
    monkeypatch.setattr(state, "parse_events", lambda d, n, s: cached.append(n) or real(d, n, s))
    a, b = open_app(), open_app()
    assert a.session_state["workspace"] is not b.session_state["workspace"]
    assert a.query_params["ws"] != b.query_params["ws"]
    data = b"user,time,event\n" + b"".join(
        f"x{i % 30},2024-02-{1 + i % 28:02d},buy\n".encode() for i in range(300)
    )
    a.file_uploader(key="upload").upload("mine.csv", data, "text/csv").run()
    b.run()
    assert a.session_state["data_name"] == "mine.csv"
    assert b.session_state["data_name"].startswith("demo")
    assert b.session_state["source"] is None
    assert cached and set(cached) == {"online_retail.csv.gz"}


def test_idle_workspaces_expire_with_their_files():
    ws = jobs.attach(None)
    path = ws.new_file(".csv")
    path.write_text("x")
    assert jobs.expire(now=time.time() + jobs.IDLE_TTL_S + 1) >= 1
    assert not path.exists() and ws.key not in jobs._WORKSPACES


def test_refused_and_failed_runs_are_told_apart(monkeypatch):
    from churn_core.errors import EventDataError

    def refuse(*args, **kwargs):
        raise EventDataError(["Only 3 churned users: use a shorter horizon."])

    monkeypatch.setattr(churn_core.pipeline, "train", refuse)
    at = _click_train(open_app())
    wait_until(at, lambda a: not a.session_state["workspace"].running())
    at.run()
    assert "shorter horizon" in _texts(at.error) and not at.exception
    assert "Traceback" not in _texts(at.error)
    at.switch_page("churn_app/pages/at_risk.py").run()
    assert "ended without a model" in _texts(at.info)
    at.switch_page("churn_app/pages/model.py").run()

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(churn_core.pipeline, "train", bug)
    next(b for b in at.button if b.label == "Train").click().run()
    wait_until(at, lambda a: not a.session_state["workspace"].running())
    at.run()
    assert "internal error (a bug" in _texts(at.error)
    assert at.exception and "ZeroDivisionError" in "".join(at.exception[0].stack_trace)
    assert at.session_state["run"] is None and "not trained yet" in _sidebar_model(at)


def test_explanations_run_survives_a_page_switch():
    at = _click_train(open_app())
    wait_until(at, lambda a: a.session_state["run"] is not None)
    at.switch_page("churn_app/pages/explanations.py").run()
    at.number_input(key="explain_users").set_value(200)
    next(b for b in at.button if b.label == "Compute explanations").click().run()
    at.switch_page("churn_app/pages/at_risk.py").run()
    at.radio(key="rule").set_value("top_k").run()
    at.number_input(key="top_k").set_value(10).run()
    wait_until(at, lambda a: a.session_state["explanation"] is not None)
    run, exp = at.session_state["explanation"]
    assert run is at.session_state["run"] and len(exp.values) == 200
    table = at.dataframe[0].value
    assert table["reason_1"].notna().all()  # the at-risk page picked the reasons up


def test_stop_button_in_the_sidebar_stops_the_run(gate):
    at = _click_train(open_app())
    job = at.session_state["workspace"].jobs["train"]
    assert "Training" in at.sidebar.get("progress")[0].proto.text
    next(b for b in at.sidebar.button if b.label == "Stop").click().run()
    gate.set()
    wait_until(at, lambda a: not job.running)
    at.run()
    assert job.state == "cancelled" and at.session_state["run"] is None
    assert not at.sidebar.get("progress") and "not trained yet" in _sidebar_model(at)


def test_mapping_form_revalidates_the_uploaded_temp_file():
    at = open_app()
    rows = [f"u{i % 25},2024-01-{1 + i % 28:02d},2023-06-{1 + i % 28:02d},view" for i in range(300)]
    data = ("who,first_seen,second_seen,what\n" + "\n".join(rows) + "\n").encode()
    at.file_uploader(key="upload").upload("two_dates.csv", data, "text/csv").run()
    assert not at.exception, at.exception
    src = at.session_state["source"]
    assert src.path.read_bytes() == data and set(src.columns) >= {"first_seen", "second_seen"}
    at.selectbox(key="map_user_col").set_value("who")
    at.selectbox(key="map_time_col").set_value("second_seen")
    next(b for b in at.button if b.label == "Validate with this mapping").click().run()
    assert not at.exception, at.exception
    log = at.session_state["log"]
    assert at.session_state["data_name"] == "two_dates.csv" and log.n_users == 25
    assert log.end.year == 2023  # the column the analyst picked, read from the temp file


def test_only_the_demo_goes_through_the_shared_cache():
    """``st.cache_data`` is shared by all sessions: no page may put a user's file through it."""
    app = Path(__file__).resolve().parents[2] / "churn_app"
    users = {
        str(p.relative_to(app)): p.read_text().count("parse_events(")
        for p in app.rglob("*.py")
        if "parse_events(" in p.read_text()
    }
    assert users == {"state.py": 2}  # its definition and the demo load
    cached = [p.name for p in app.rglob("*.py") if "st.cache_data" in p.read_text()]
    assert cached == ["state.py"]
