"""Pseudonymisation (keyed HMAC), re-identification, and personal-data columns."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn_core.cli import main
from churn_core.config import SchemaConfig
from churn_core.errors import EventDataError
from churn_core.ingest import load_events
from churn_core.privacy import Pseudonymizer, load_or_create_key, pseudonym

HOSTILE = '=HYPERLINK("http://evil.example","RAWCUST0000ZQ")'


def _raw_log(n_users: int = 120, seed: int = 0, hostile: bool = False) -> pd.DataFrame:
    """Distinctive raw ids (easy to grep for) with churners and stayers; ``hostile``: user 0's
    id is a spreadsheet formula."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2023-01-01")
    for u in range(n_users):
        stop = rng.uniform(60, 300)
        t = rng.uniform(0, 20)
        while t < stop:
            kind = rng.choice(["view", "purchase"], p=[0.7, 0.3])
            amount = round(float(rng.gamma(2, 20)), 2) if kind == "purchase" else 0.0
            uid = HOSTILE if hostile and u == 0 else f"RAWCUST{u:04d}ZQ"
            rows.append((uid, start + pd.Timedelta(days=t), kind, amount))
            t += rng.exponential(8)
    return pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "amount"])


def _run(argv: list[str], capsys) -> tuple[int, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_key_is_created_private_and_reused(tmp_path):
    path = tmp_path / "keys" / "churn.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    other = load_or_create_key(tmp_path / "other.key")
    assert pseudonym("17850", key) == pseudonym("17850", key) != pseudonym("17850", other)
    assert pseudonym("17850", key).startswith("p-") and "17850" not in pseudonym("17850", key)


def test_a_file_that_is_not_a_key_is_refused(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello world")
    with pytest.raises(ValueError, match="does not hold a pseudonymisation key"):
        load_or_create_key(bad)


def test_load_events_pseudonymises_ids_before_any_message(tmp_path):
    frame = _raw_log(5)
    hasher = Pseudonymizer(tmp_path / "k")
    log = load_events(frame.to_csv(index=False).encode(), pseudonymize=hasher)
    assert log.frame["user_id"].str.startswith("p-").all()
    assert not set(log.frame["user_id"]) & set(frame["user_id"])
    assert log.n_users == 5 and log.report.rows_kept == len(frame)
    assert sorted(hasher.pairs.values()) == sorted(frame["user_id"].unique())
    one = frame[frame["user_id"] == "RAWCUST0001ZQ"]
    with pytest.raises(EventDataError) as info:  # the one-user error names the pseudonym
        load_events(one.to_csv(index=False).encode(), pseudonymize=Pseudonymizer(tmp_path / "k"))
    assert "RAWCUST0001ZQ" not in str(info.value) and "p-" in str(info.value)


def _all_bytes(path: Path) -> bytes:
    """A file's bytes; for XLSX (a zip) the decompressed bytes of every member."""
    data = path.read_bytes()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return b"".join(z.read(n) for n in z.namelist())
    return data


def test_cli_pseudonymize_no_raw_id_in_any_output_and_reidentify(tmp_path, capsys):
    from churn_core.export import read_export, write_export

    frame = _raw_log(hostile=True)
    raw_ids = sorted(frame["user_id"].unique())
    greppable = [f"RAWCUST{u:04d}ZQ" for u in range(120)]  # also inside the hostile id
    events = tmp_path / "events.csv"
    frame.to_csv(events, index=False)
    key = tmp_path / "secret" / "churn.key"
    model, out_csv, out_xlsx = (
        tmp_path / "m",
        tmp_path / "out" / "s.csv",
        tmp_path / "out" / "s.xlsx",
    )
    common = ["--pseudonymize", str(key)]
    rc, text = _run(
        ["train", str(events), "--horizon-days", "30", "--model-dir", str(model), *common], capsys
    )
    assert rc == 0, text
    for out in (out_csv, out_xlsx):
        argv = ["score", str(events), "--model-dir", str(model), "--out", str(out)]
        rc, more = _run(argv + common, capsys)
        assert rc == 0, more
        text += more
    campaign = tmp_path / "out" / "campaign.xlsx"
    argv = ["campaign", str(events), "--model-dir", str(model), "--out", str(campaign)]
    rc, more = _run(argv + common, capsys)
    assert rc == 0, more
    text += more
    outputs = [p for p in model.rglob("*") if p.is_file()] + [out_csv, out_xlsx, campaign]
    assert len(outputs) >= 5
    for path in outputs:
        data = _all_bytes(path)
        assert not [u for u in greppable if u.encode() in data], path
    assert not [u for u in greppable if u in text]  # progress lines and messages too
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not list(out_csv.parent.glob("*.key*"))  # nothing key-like next to the exports

    _, scores = read_export(out_csv)
    assert scores["user_id"].str.startswith("p-").all()
    listed = tmp_path / "list.csv"
    write_export(scores, listed, {"model": "m", "as_of": "2023-10-01"})
    back = tmp_path / "back.csv"
    rc, _ = _run(["reidentify", str(listed), "--key", str(key), "--out", str(back)], capsys)
    assert rc == 0
    meta, mapped = read_export(back)
    assert meta["model"] == "m" and meta["as_of"] == "2023-10-01"
    assert sorted(mapped["user_id"]) == raw_ids
    pd.testing.assert_series_equal(mapped["churn_probability"], scores["churn_probability"])
    assert "'" + HOSTILE.replace('"', '""') in back.read_text(encoding="utf-8-sig")  # escaped
    # the same without the id table: pseudonyms recomputed from the raw event log
    key.with_name(key.name + ".ids.csv").unlink()
    rc, _ = _run(["reidentify", str(listed), "--key", str(key), "--out", str(back)], capsys)
    assert rc == 2
    argv = ["reidentify", str(listed), "--key", str(key), "--out", str(back), "--events"]
    rc, _ = _run([*argv, str(events)], capsys)
    assert rc == 0
    assert sorted(read_export(back)[1]["user_id"]) == raw_ids


def test_reidentify_refuses_a_foreign_key(tmp_path, capsys):
    key = tmp_path / "k"
    hasher = Pseudonymizer(key)
    hasher(pd.Series(["a", "b"]))
    hasher.save_pairs()
    lst = tmp_path / "l.csv"
    lst.write_text(f"user_id,p\n{pseudonym('zzz', b'x' * 32)},0.5\n")
    rc, text = _run(
        ["reidentify", str(lst), "--key", str(key), "--out", str(tmp_path / "o")], capsys
    )
    assert rc == 2 and "not known for this key" in text


def test_key_next_to_the_exports_is_refused(tmp_path, capsys):
    events = tmp_path / "e.csv"
    _raw_log(5).to_csv(events, index=False)
    rc, text = _run(
        [
            "score",
            str(events),
            "--model-dir",
            str(tmp_path / "m"),
            "--out",
            str(tmp_path / "out" / "s.csv"),
            "--pseudonymize",
            str(tmp_path / "out" / "k"),
        ],
        capsys,
    )
    assert rc == 2 and "never next to exports" in text
    assert not (tmp_path / "out" / "k").exists()


def _with_personal_columns(n_users: int = 6) -> pd.DataFrame:
    frame = _raw_log(n_users)
    i = frame["user_id"].str[7:11].astype(int)
    frame["email"] = "person" + i.astype(str) + "@example.com"
    frame["phone"] = "+44 20 7946 " + (1000 + i).astype(str)
    frame["name"] = "Ann Smith"
    frame["address"] = (10 + i).astype(str) + " Baker Street, London"
    frame["contact"] = "c" + i.astype(str) + "@mail.example.org"  # flagged by content only
    frame["note"] = "gift wrap"
    return frame


def test_personal_columns_are_reported_and_dropped():
    frame = _with_personal_columns()
    log = load_events(frame.to_csv(index=False).encode())
    found = dict(log.report.personal_columns)
    assert found == {
        "email": "e-mail addresses",
        "phone": "phone numbers",
        "name": "person names",
        "address": "street addresses",
        "contact": "e-mail addresses",
    }
    assert any("Dropped column email" in line for line in log.report.lines())
    stored = log.frame.to_csv(index=False)
    assert "@" not in stored and "Baker" not in stored and "7946" not in stored
    assert log.report.rows_read == log.report.rows_kept + log.report.rows_dropped


def test_personal_column_mapped_on_purpose_is_kept(tmp_path):
    frame = _with_personal_columns().drop(columns=["user_id"])
    with pytest.raises(EventDataError, match="Set aside as personal data: email.*--user-col"):
        load_events(frame.to_csv(index=False).encode())
    data = frame.to_csv(index=False).encode()
    with pytest.warns(UserWarning, match="look like personal data.*--pseudonymize"):
        log = load_events(data, SchemaConfig(user_col="email"))
    assert log.frame["user_id"].str.endswith("@example.com").all()
    assert "email" not in dict(log.report.personal_columns)
    assert any("--pseudonymize" in w for w in log.report.warnings)
    hashed = load_events(
        data, SchemaConfig(user_col="email"), pseudonymize=Pseudonymizer(tmp_path / "k")
    )
    assert hashed.frame["user_id"].str.startswith("p-").all()


def test_user_id_column_of_email_addresses_is_the_user_id(tmp_path, capsys):
    """A header that names the user id ("user_id", "customer_id") maps it: e-mail addresses
    there are the ids (with the --pseudonymize advice), not a column to set aside. Found by
    bench/referee_shapes.py: the referee's canonical user_id column of e-mail addresses was
    refused with "No user id column found"."""
    frame = _raw_log(40)
    frame["user_id"] = frame["user_id"].str.lower() + "@example.com"
    frame["contact"] = "c" + frame["user_id"]  # e-mail by content, under no user-id name
    data = frame.to_csv(index=False).encode()
    with pytest.warns(UserWarning, match="look like personal data.*--pseudonymize"):
        log = load_events(data)
    assert log.n_users == 40 and log.frame["user_id"].str.endswith("@example.com").all()
    assert dict(log.report.personal_columns) == {"contact": "e-mail addresses"}
    renamed = frame.rename(columns={"user_id": "Customer ID"}).to_csv(index=False).encode()
    with pytest.warns(UserWarning, match="look like personal data"):
        assert load_events(renamed).n_users == 40
    path = tmp_path / "log.csv"
    path.write_bytes(data)
    rc = main(["train", str(path), "--horizon-days", "30", "--model-dir", str(tmp_path / "m")])
    assert rc == 0, capsys.readouterr().err


def test_hashed_email_ids_mapped_on_purpose():
    frame = _raw_log(8)
    frame["email_sha256"] = frame["user_id"].map(
        lambda u: __import__("hashlib").sha256(u.encode()).hexdigest()
    )
    frame = frame.drop(columns=["user_id"])
    log = load_events(frame.to_csv(index=False).encode(), SchemaConfig(user_col="email_sha256"))
    assert log.n_users == 8 and log.report.personal_columns == ()
    assert not any("personal data" in w for w in log.report.warnings)


def test_no_telemetry_and_no_network_code():
    import tomllib

    repo = Path(__file__).resolve().parents[2]
    config = tomllib.loads((repo / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
    sources = [p for d in ("churn_core", "churn_app") for p in (repo / d).rglob("*.py")]
    assert len(sources) > 20
    for path in sources:
        text = path.read_text()
        for needle in ("import requests", "urllib.request", "import socket", "http.client"):
            assert needle not in text, path
        if "from_pretrained(" in text:  # models only from local folders, never a hub
            assert text.count("from_pretrained(") == text.count("local_files_only=True"), path
