"""What the sub-commands share: reading the log (in memory or out of core, optionally
pseudonymised) and parsing the dates given as flags."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from churn_core.errors import ConfigError, EventDataError


def load_log(args, schema, say, engine=None):
    """The log named by ``args.events``: in memory (``EventLog``, pseudonymised with
    ``--pseudonymize``) or out of core with ``--engine duckdb`` (``EventSource``); its read
    report goes to ``say``."""
    from churn_core.ingest import load_events

    if engine is not None and engine.kind == "duckdb":
        return _open_out_of_core(args, schema, say, engine)
    hasher = _pseudonymizer(args)
    say(f"reading {args.events}", 0.0)
    log = load_events(args.events, schema, pseudonymize=hasher)
    if hasher is not None:
        say(f"user ids pseudonymised; id table kept next to the key: {hasher.save_pairs()}", 0.0)
    for line in log.report.lines():
        say(line, 0.0)
    return log


def _open_out_of_core(args, schema, say, engine):
    """The log opened out of core (``--engine duckdb``)."""
    from churn_core.engine.files import open_source

    if getattr(args, "pseudonymize", None):
        raise ConfigError(
            "--pseudonymize is not available with --engine duckdb yet; use --engine local."
        )
    say(f"opening {args.events} out of core (DuckDB)", 0.0)
    source = open_source(args.events, schema, engine)
    for line in source.report.lines():
        say(line, 0.0)
    return source


def _pseudonymizer(args):
    """The --pseudonymize hasher (None without the flag)."""
    key = getattr(args, "pseudonymize", None)
    if not key:
        return None
    from churn_core.privacy import Pseudonymizer

    check_key_place(args)
    return Pseudonymizer(key)


def check_key_place(args) -> None:
    """Refuse a --pseudonymize key inside an output folder (next to the exports or bundle)."""
    key = getattr(args, "pseudonymize", None)
    if not key:
        return
    key_dir = Path(key).expanduser().resolve().parent
    for flag in ("out", "model_dir"):
        target = getattr(args, flag, None)
        if not target:
            continue
        out = Path(target).expanduser().resolve()
        out_dir = out if flag == "model_dir" else out.parent
        inside_bundle = flag == "model_dir" and out_dir in key_dir.parents
        if key_dir == out_dir or inside_bundle:
            raise ConfigError(
                f"The key file {key} is inside the output folder of --{flag.replace('_', '-')} "
                f"({out_dir}). Keep the key elsewhere (e.g. ~/.churn/key), never next to exports."
            )


def parse_date(value: str | None, what: str) -> pd.Timestamp | None:
    """``--as-of``/``--cutoff`` as a naive UTC timestamp (None when not given); a clear error
    naming the flag when it is not a date."""
    if value is None:
        return None
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        t = pd.NaT
    if t is pd.NaT or pd.isna(t):
        raise EventDataError([f"{what} {value!r} is not a date; write it like 2011-09-10."])
    if t.tzinfo is not None:  # event times are naive UTC
        t = t.tz_convert("UTC").tz_localize(None)
    return t
