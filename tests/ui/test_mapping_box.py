"""The app's mapping box: detected guesses with their confidence; problems name the box."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[2] / "app.py")
# the log: an upper-case date column no name table knows, M/D/Y values
UNKNOWN_DATE = (
    "DAY,customer,sales\n"
    + "".join(f"{m}/{d}/2000,c{(m * d) % 7},{m + d}.5\n" for m in (10, 11, 12) for d in (1, 5, 28))
).encode()


def _upload(name: str, data: bytes) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.file_uploader(key="upload").upload(name, data, "text/csv").run()
    assert not at.exception, at.exception
    return at


def test_unknown_date_column_loads_and_the_box_shows_how_sure():
    at = _upload("sales.csv", UNKNOWN_DATE)
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["data_name"] == "sales.csv"
    assert at.selectbox(key="map_time_col").value == "DAY"
    assert at.selectbox(key="map_user_col").value == "customer"
    captions = " | ".join(c.value for c in at.caption)
    assert "likely" in captions and "%m/%d/%Y" in captions  # content guess, chosen format
    assert "sure" in captions  # the customer column, by its name


def test_problem_names_the_mapping_box_not_a_cli_flag():
    at = _upload("no_time.csv", b"customer,product\n1,a\n2,b\n3,c\n")
    text = at.error[0].value
    assert "Pick the timestamp column in the mapping box" in text
    assert "--time-col" not in text


def test_event_names_typed_in_the_box_reach_the_log():
    rows = "".join(f"u{i % 6},2024-01-{i % 28 + 1:02d},{7 if i % 4 else 8}\n" for i in range(48))
    at = _upload("codes.csv", ("user_id,timestamp,code\n" + rows).encode())
    at.selectbox(key="map_event_col").set_value("code")
    at.text_input(key="map_event_map").input("7=view 8=buy")
    next(b for b in at.button if b.label == "Validate with this mapping").click().run()
    assert not at.exception, at.exception
    log = at.session_state["log"]
    assert at.session_state["data_name"] == "codes.csv"
    assert log.event_types == ["purchase", "view"]
