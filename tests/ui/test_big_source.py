"""A folder (or a big file) typed in the Data page is read out of core in the background."""

from __future__ import annotations

import pandas as pd

from churn_core.engine.source import EventSource
from tests.conftest import DEMO
from tests.ui.apptest import metric, open_app, wait_until


def test_parquet_folder_by_path_is_read_out_of_core_with_progress(tmp_path):
    raw = pd.read_csv(DEMO, dtype=str, keep_default_na=False, na_values=[""])
    folder = tmp_path / "retail"
    raw.assign(part=raw["InvoiceNo"].str[-1]).to_parquet(
        folder, partition_cols=["part"], index=False
    )
    at = open_app()
    demo = at.session_state["log"]
    at.text_input(key="local_path").input(str(folder))
    next(b for b in at.button if b.label == "Load file").click().run()
    assert not at.exception, at.exception
    wait_until(at, lambda a: a.session_state["data_name"] == str(folder))
    log = at.session_state["log"]
    assert isinstance(log, EventSource) and log is not demo
    assert (log.n_users, log.n_events) == (demo.n_users, demo.n_events)
    assert metric(at, "Users") == f"{demo.n_users:,}"
    assert metric(at, "Events") == f"{demo.n_events:,}"
    assert any("out of core" in i.value for i in at.info)
    assert not at.error
    # a page that reads single users' events says why it is not available, no traceback
    at.switch_page("churn_app/pages/explanations.py").run()
    assert not at.exception, at.exception
