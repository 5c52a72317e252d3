"""AppTest: the Data page's pseudonymisation switch and its personal-data report.

With the switch on, the uploaded log and the trained run hold keyed hashes (the core
Pseudonymizer's output for the chosen key) and none of the raw ids; columns that look like
personal data are listed on the page and absent from the stored log.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from churn_core.datasets import demo_path  # noqa: E402
from churn_core.privacy import Pseudonymizer, read_id_table  # noqa: E402
from tests.ui.apptest import open_app, wait_until  # noqa: E402

TIMEOUT = 90


def _named_log(n_customers: int = 600) -> tuple[bytes, set[str]]:
    """A slice of the real demo log whose user ids are known strings (``alice-17850``)."""
    raw = pd.read_csv(demo_path(), dtype={"CustomerID": "str"}).dropna(subset=["CustomerID"])
    keep = raw["CustomerID"].drop_duplicates().head(n_customers)
    raw = raw[raw["CustomerID"].isin(keep)].copy()
    raw["CustomerID"] = "alice-" + raw["CustomerID"].str.replace(".0", "", regex=False)
    return raw.to_csv(index=False).encode(), set(raw["CustomerID"])


def _switch_on(at: AppTest, key: Path) -> AppTest:
    at.text_input(key="pseudo_key_file").input(str(key))
    at.toggle(key="pseudo_switch").set_value(True).run()
    assert not at.exception, at.exception
    return at


def test_switch_on_hashes_upload_and_trained_scores(tmp_path):
    key = tmp_path / "keys" / "pseudonym.key"
    at = _switch_on(open_app(timeout=TIMEOUT), key)
    assert key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600
    demo_ids = at.session_state["log"].frame["user_id"].astype(str)
    assert demo_ids.str.startswith("p-").all()  # the demo on screen was read again, hashed
    assert "reidentify LIST.csv --key" in "\n".join(c.value for c in at.caption)

    data, raw_ids = _named_log()
    at.file_uploader(key="upload").upload("named.csv", data, "text/csv").run()
    assert not at.exception, at.exception
    log = at.session_state["log"]
    assert at.session_state["data_name"] == "named.csv"
    stored = set(log.frame["user_id"].astype(str))
    expected = Pseudonymizer(key)(pd.Series(sorted(raw_ids)))
    assert stored == set(expected) and not stored & raw_ids
    # the id table next to the key maps them back; the session does not hold the pairs
    table = read_id_table(Path(str(key) + ".ids.csv"))
    assert {table[p] for p in stored} == raw_ids

    at.switch_page("churn_app/pages/model.py").run()
    at.slider(key="cv_folds").set_value(2)
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    run = wait_until(at, lambda a: a.session_state["run"] is not None, seconds=240).session_state[
        "run"
    ]
    scored = set(run.scores["user_id"].astype(str))
    assert scored and scored <= set(expected) and not scored & raw_ids
    assert not any(r in run.scores.to_csv(index=False) for r in list(raw_ids)[:50])
    # back on the Data page the switch is still on and the data is not read again
    at.switch_page("churn_app/pages/data.py").run()
    assert at.toggle(key="pseudo_switch").value and at.session_state["run"] is not None


def test_switch_off_keeps_raw_ids_and_bad_key_is_one_error(tmp_path):
    at = open_app(timeout=TIMEOUT)
    data, raw_ids = _named_log(40)
    at.file_uploader(key="upload").upload("named.csv", data, "text/csv").run()
    assert set(at.session_state["log"].frame["user_id"].astype(str)) == raw_ids
    bad = tmp_path / "not_a_key.txt"
    bad.write_text("hello\n")
    _switch_on(at, bad)
    assert any(str(bad) in e.value and "does not hold" in e.value for e in at.error)
    assert set(at.session_state["log"].frame["user_id"].astype(str)) == raw_ids


def test_email_mapped_as_user_id_on_purpose_is_hashed_when_switched_on(tmp_path):
    at = open_app(timeout=TIMEOUT)
    rows = "".join(f"p{i % 8}@example.com,2024-01-{1 + i % 28:02d},view\n" for i in range(80))
    at.file_uploader(key="upload").upload("emails.csv", f"email,time,event\n{rows}".encode())
    at.run()
    assert any("personal data" in e.value for e in at.error)  # set aside: not a user id
    at.selectbox(key="map_user_col").set_value("email")
    next(b for b in at.button if b.label == "Validate with this mapping").click().run()
    assert at.session_state["log"].frame["user_id"].str.endswith("@example.com").all()
    key = tmp_path / "k.key"
    _switch_on(at, key)  # the file is read again with the analyst's mapping, ids hashed
    ids = at.session_state["log"].frame["user_id"].astype(str)
    assert at.session_state["data_name"] == "emails.csv"
    assert set(ids) == set(Pseudonymizer(key)(pd.Series([f"p{i}@example.com" for i in range(8)])))


def test_personal_columns_are_listed_and_not_stored():
    at = open_app(timeout=TIMEOUT)
    rows = [
        f"c{i % 30},2024-01-{1 + i % 28:02d},view,c{i % 30}@example.com,+44 20 7946 {1000 + i % 30}"
        for i in range(300)
    ]
    data = ("customer,time,event,contact,phone\n" + "\n".join(rows) + "\n").encode()
    at.file_uploader(key="upload").upload("with_pii.csv", data, "text/csv").run()
    assert not at.exception, at.exception
    log = at.session_state["log"]
    assert at.session_state["data_name"] == "with_pii.csv"
    assert "contact" not in log.frame.columns and "phone" not in log.frame.columns
    table = next(
        d.value for d in at.dataframe if "column dropped" in getattr(d.value, "columns", [])
    )
    found = dict(zip(table["column dropped"], zip(table["looks like"], table["found by"])))
    assert found == {
        "contact": ("e-mail addresses", "content"),
        "phone": ("phone numbers", "column name"),
    }
    assert any("map it in the mapping box" in c.value for c in at.caption)
