"""``churn train|score|evaluate|explain|app`` (or ``python -m churn_core …``): the same
pipeline as the app."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from churn_core.config import CLASSIFIERS, ENCODERS, ENGINES, ChurnConfig
from churn_core.errors import ConfigError, EventDataError, ModelBundleError
from churn_core.fields import MAPPING_FIELDS

EXAMPLES = """\
examples:
  python -m churn_core train orders.csv --horizon-days 90 --model-dir models/retail
  python -m churn_core score orders.csv --model-dir models/retail --out at_risk.csv
  python -m churn_core evaluate orders.csv --horizon-days 90 --cutoff 2011-09-10
  python -m churn_core train tmall.csv --horizon-days 31 --model-dir m --event-map 0=view 1=purchase
  python -m churn_core explain orders.csv --model-dir models/retail --user 12347
  python -m churn_core score orders.csv --model-dir m --out list.csv --pseudonymize ~/.churn/key
  python -m churn_core reidentify list.csv --key ~/.churn/key --out list_with_ids.csv
  python -m churn_core campaign orders.csv --model-dir models/retail --out list.csv --contact-cost 2
  python -m churn_core outcome later_orders.csv --campaign list.csv --horizon-days 90
  python -m churn_core app --server.port 8502   (the dashboard; arguments go to streamlit run)

After `pip install .`, `churn` is the same command: churn train orders.csv ...
"""


def _privacy_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pseudonymize",
        metavar="KEYFILE",
        help="replace user ids by keyed hashes (HMAC-SHA256) right after loading; the key is "
        "created in KEYFILE on first use (keep it away from the exports)",
    )


def _engine_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=ENGINES,
        help="local: read the log into memory (default); duckdb: read CSV, CSV.gz, Parquet or "
        "a folder of Parquet out of core (settings: the [engine] table of --config); spark: "
        "PySpark in local mode, or the cluster spark-submit configured (any path Spark reads)",
    )


def _mapping_flags(p: argparse.ArgumentParser) -> None:
    """One flag per row of the mapping-field table (``churn_core.fields``)."""
    g = p.add_argument_group("column mapping (auto-detected when omitted)")
    for f in MAPPING_FIELDS:
        text = f.help.replace("%", "%%")
        if f.kind == "column":
            g.add_argument(f.flag, dest=f.name, metavar="COL", help=text)
        elif f.kind == "year":
            g.add_argument(f.flag, dest=f.name, type=int, help=text)
        elif f.kind == "pairs":
            g.add_argument(
                f.flag, dest=f.name, nargs="+", metavar="RAW=NAME", default=[], help=text
            )
        else:
            g.add_argument(f.flag, dest=f.name, metavar="FMT", help=text)


def _raw_export_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--raw-export",
        action="store_true",
        help="write text cells exactly as they are, for machine use (default: cells a "
        "spreadsheet would evaluate as formulas get a leading ')",
    )


def _label_flags(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument(
        "--horizon-days",
        type=int,
        required=required,
        metavar="H",
        help="churn = no activity in the H days after the cutoff (1-365)",
    )
    p.add_argument(
        "--activity-events",
        nargs="+",
        metavar="TYPE",
        help="event types that count as activity (default: all but cancellations)",
    )
    p.add_argument("--config", metavar="FILE.toml", help="full configuration (flags override it)")
    p.add_argument("--classifier", choices=CLASSIFIERS, help="default: logreg")
    p.add_argument("--encoder", choices=ENCODERS, help="sequence encoder (default: none)")
    p.add_argument("--encoder-path", metavar="DIR", help="local text-model folder (--encoder text)")
    p.add_argument(
        "--finetune-epochs",
        type=int,
        metavar="N",
        help="after self-supervised pre-training, fine-tune the Transformer on the churn label "
        "for up to N epochs with early stopping (default 0: off)",
    )
    p.add_argument("--seed", type=int, help="random seed (default 0)")


def _global_flags(p: argparse.ArgumentParser, default: object) -> None:
    """Flags accepted before or after the sub-command (``churn -q score …`` = ``churn score -q …``).

    On the sub-commands the default is SUPPRESS, so a flag given before the sub-command is
    not overwritten by the sub-parser's default.
    """
    p.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="no progress on stderr"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        # `churn …` once installed, `python -m churn_core …` from a checkout
        prog="churn" if Path(sys.argv[0]).name == "churn" else "python -m churn_core",
        description="Churn early warning from raw e-commerce event logs (CSV, CSV.gz, Parquet).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_flags(parser, False)
    common = argparse.ArgumentParser(add_help=False)
    _global_flags(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser(
        "train",
        parents=[common],
        help="train, validate and save a model bundle",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("events", help="event log file")
    t.add_argument("--model-dir", required=True, metavar="DIR", help="where to write the bundle")
    t.add_argument(
        "--as-of",
        metavar="T",
        help="train with labels complete by T (default: just after the last event)",
    )
    t.add_argument("--search", action="store_true", help="hyperparameter search (grouped CV)")
    _engine_flag(t)
    _privacy_flag(t)
    _label_flags(t, required=False)
    _mapping_flags(t)

    s = sub.add_parser(
        "score",
        parents=[common],
        help="score every user with a saved model",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("events", help="event log file")
    s.add_argument("--model-dir", required=True, metavar="DIR")
    s.add_argument("--out", required=True, metavar="FILE", help="output .csv or .xlsx")
    s.add_argument("--as-of", metavar="T", help="score as of T (default: after the last event)")
    _engine_flag(s)
    _privacy_flag(s)
    _raw_export_flag(s)
    _mapping_flags(s)

    e = sub.add_parser(
        "evaluate",
        parents=[common],
        help="true forecast check against what happened after T",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("events", help="event log file (must extend past T + H)")
    e.add_argument("--cutoff", required=True, metavar="T", help="forecast date")
    e.add_argument(
        "--ladder",
        action="store_true",
        help="also compare gradient boosting, Transformer, hybrid (and text model)",
    )
    e.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    _label_flags(e, required=True)
    _mapping_flags(e)

    c = sub.add_parser(
        "campaign",
        parents=[common],
        help="plan a retention campaign: list size, control group, actions, expected profit",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("events", help="event log file")
    c.add_argument("--model-dir", required=True, metavar="DIR")
    c.add_argument("--out", required=True, metavar="LIST", help="campaign list .csv or .xlsx")
    c.add_argument("--as-of", metavar="T", help="plan as of T (default: after the last event)")
    c.add_argument(
        "--value",
        type=float,
        metavar="V",
        help="value of saving one churner (default: each user's usual spend over the "
        "horizon, from amounts; 100 for a log without amounts)",
    )
    c.add_argument("--contact-cost", type=float, metavar="C", help="cost per contact (default 1)")
    c.add_argument(
        "--save-rate",
        type=float,
        metavar="R",
        help="share of contacted churners who stay because of the contact (default 0.2)",
    )
    c.add_argument("--budget", type=float, metavar="B", help="cap on the total contact cost")
    c.add_argument(
        "--size", type=int, metavar="N", help="list size (default: the profit-maximising size)"
    )
    c.add_argument(
        "--control-share",
        type=float,
        metavar="S",
        help="share held out as a control group, not contacted (default 0.1)",
    )
    c.add_argument("--seed", type=int, metavar="S", help="control-group seed (default 0)")
    c.add_argument("--config", metavar="FILE.toml", help="[campaign] table (flags override it)")
    _engine_flag(c)
    _raw_export_flag(c)
    _privacy_flag(c)
    _mapping_flags(c)

    o = sub.add_parser(
        "outcome",
        parents=[common],
        help="did the campaign work: realised churn, uplift with CI, forecast quality",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    o.add_argument("events", help="event log covering the outcome window")
    o.add_argument("--campaign", required=True, metavar="LIST", help="file written by `campaign`")
    o.add_argument(
        "--horizon-days",
        type=int,
        metavar="H",
        help="outcome window length (default: the campaign file's horizon_days)",
    )
    o.add_argument("--as-of", metavar="T", help="campaign time (default: from the file)")
    o.add_argument("--json", action="store_true", help="print one JSON object")
    o.add_argument("--out", metavar="FILE", help="also write the report as .csv or .xlsx")
    _raw_export_flag(o)
    _privacy_flag(o)
    _mapping_flags(o)

    x = sub.add_parser("explain", parents=[common], help="one user's full explanation")
    x.add_argument("events", help="event log file")
    x.add_argument("--model-dir", required=True, metavar="DIR")
    x.add_argument("--user", required=True, metavar="ID")
    x.add_argument("--as-of", metavar="T")
    _privacy_flag(x)
    _mapping_flags(x)

    r = sub.add_parser(
        "reidentify",
        parents=[common],
        help="map pseudonymised user ids in a list back to the real ids",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "list", metavar="LIST", help="a .csv or .xlsx list whose first column is user_id"
    )
    r.add_argument("--key", required=True, metavar="KEYFILE", help="the --pseudonymize key")
    r.add_argument("--out", required=True, metavar="FILE", help="the mapped list, .csv or .xlsx")
    r.add_argument(
        "--events",
        metavar="EVENTS",
        help="recompute the pseudonyms from this raw event log instead of the key's id table",
    )
    _raw_export_flag(r)
    _mapping_flags(r)
    a = sub.add_parser(
        "app",
        help="start the dashboard (Streamlit) from the installed package",
        description="Start the dashboard: `streamlit run` on the installed churn_app. "
        "Every further argument goes to `streamlit run`, e.g. --server.port 8502 "
        "--server.headless true.",
    )
    a.add_argument("streamlit_args", nargs=argparse.REMAINDER, help="passed to streamlit run")
    return parser


@contextlib.contextmanager
def _config_errors(config_path: str | None = None):
    """Settings that fail validation (flags, TOML) become one :class:`ConfigError`."""
    try:
        yield
    except (EventDataError, ConfigError):
        raise
    except OSError as exc:  # the --config file named by the user
        raise ConfigError(
            f"Cannot read the config file {config_path}: {exc.strerror}. Check the path."
        ) from None
    except (ValueError, TypeError) as exc:  # dataclass validation, TOML syntax, wrong types
        raise ConfigError(f"Invalid setting: {exc}") from None


def config_from_args(args: argparse.Namespace, base: ChurnConfig | None = None) -> ChurnConfig:
    """Flags over ``--config`` over defaults; a bad setting raises :class:`ConfigError`."""
    with _config_errors(getattr(args, "config", None)):
        return _config_from_args(args, base)


def _config_from_args(args: argparse.Namespace, base: ChurnConfig | None) -> ChurnConfig:
    cfg = base or (
        ChurnConfig.from_toml(args.config) if getattr(args, "config", None) else ChurnConfig()
    )
    schema = {
        f.name: getattr(args, f.name)
        for f in MAPPING_FIELDS
        if f.kind != "pairs" and getattr(args, f.name, None) is not None
    }
    if getattr(args, "event_map", None):
        pairs = []
        for item in args.event_map:
            raw, sep, name = item.partition("=")
            if not sep or not name:
                raise EventDataError([f"--event-map entry {item!r} must look like RAW=NAME."])
            pairs.append((raw, name))
        schema["event_map"] = tuple(pairs)
    label = {}
    if getattr(args, "horizon_days", None) is not None:
        label["horizon_days"] = args.horizon_days
    if getattr(args, "activity_events", None):
        label["activity_events"] = tuple(args.activity_events)
    model = {}
    if getattr(args, "classifier", None):
        model["classifier"] = args.classifier
    if getattr(args, "search", False):
        model["search"] = True
    encoder = {}
    if getattr(args, "encoder", None):
        encoder["kind"] = args.encoder
    if getattr(args, "encoder_path", None):
        encoder["path"] = args.encoder_path
    if getattr(args, "finetune_epochs", None) is not None:
        encoder["finetune_epochs"] = args.finetune_epochs
    if getattr(args, "seed", None) is not None:
        model["seed"] = encoder["seed"] = args.seed
    engine = {"kind": args.engine} if getattr(args, "engine", None) else {}
    return cfg.with_(schema=schema, label=label, model=model, encoder=encoder, engine=engine)


class _Progress:
    """Progress lines on stderr: ``[  12.3s]  45% cross-validation fold 2/5``."""

    def __init__(self, quiet: bool):
        self.quiet, self.t0, self.last = quiet, time.perf_counter(), ""

    def __call__(self, stage: str, fraction: float) -> None:
        if self.quiet or stage == self.last:
            return
        self.last = stage
        print(
            f"[{time.perf_counter() - self.t0:7.1f}s] {fraction:4.0%} {stage}",
            file=sys.stderr,
            flush=True,
        )


def _load(args, schema, say, engine=None):
    from churn_core.ingest import load_events

    if engine is not None and engine.kind == "duckdb":
        return _open(args, schema, say, engine)
    hasher = _pseudonymizer(args)
    say(f"reading {args.events}", 0.0)
    log = load_events(args.events, schema, pseudonymize=hasher)
    if hasher is not None:
        say(f"user ids pseudonymised; id table kept next to the key: {hasher.save_pairs()}", 0.0)
    for line in log.report.lines():
        say(line, 0.0)
    return log


def _open(args, schema, say, engine):
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

    _check_key_place(args)
    return Pseudonymizer(key)


def _check_key_place(args) -> None:
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


def _timestamp(value: str | None, what: str) -> pd.Timestamp | None:
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


def cmd_train(args, say) -> int:
    from churn_core.bundle import save_model
    from churn_core.pipeline import train

    cfg = config_from_args(args)
    if cfg.engine.kind == "spark":
        from churn_core.engine.spark_train import open_events, train_spark

        events = open_events(args.events, cfg, say, getattr(args, "pseudonymize", None))
        # `churn score` scores the users: training need not score them all first
        run = train_spark(
            events, cfg, _timestamp(args.as_of, "--as-of"), progress=say, score_all=False
        )
    else:
        log = _load(args, cfg.schema, say, cfg.engine)
        run = train(log, cfg, _timestamp(args.as_of, "--as-of"), progress=say, score_all=False)
    summary = run.cv.summary["mean"].round(4).to_dict()
    save_model(
        run.model,
        run.config,
        args.model_dir,
        as_of=run.as_of,
        metrics=summary,
        threshold=run.threshold,
    )
    print(run.cv.summary.round(4).to_string())
    if run.backtest is not None:
        print("\nout-of-time:", run.backtest.folds.round(4).to_dict("records")[0])
    comparison = run.baseline_comparison()
    if comparison is not None:
        print("\nout-of-time vs RFM + logistic regression (same training rows):")
        print(comparison.round(4).to_string())
    print(run.baseline_verdict())
    if run.history_note():
        print(f"\nnote: {run.history_note()}")
    if run.search_results is not None:
        print("\nhyperparameter search (best first):")
        print(run.search_results.round(4).to_string(index=False))
    print(
        f"\nsaved model to {args.model_dir} (trained as of {run.as_of:%Y-%m-%d}); score the "
        f"users with: churn score EVENTS --model-dir {args.model_dir} --out at_risk.csv"
    )
    return 0


def cmd_score(args, say) -> int:
    from churn_core.bundle import load_model
    from churn_core.explain import explain_model, sample_background
    from churn_core.export import write_export
    from churn_core.pipeline import score_table
    from churn_core.table import scoring_table
    from churn_core.targets import join_reasons

    model, cfg, _ = load_model(args.model_dir)
    # the bundle's engine settings, but the engine itself is chosen here (default: local)
    cfg = config_from_args(args, base=cfg.with_(engine={"kind": "local"}))
    if cfg.engine.kind == "spark":
        return _score_spark(args, model, cfg, say)
    log = _load(args, cfg.schema, say, cfg.engine)
    as_of = _timestamp(args.as_of, "--as-of") or log.default_as_of()
    meta = {
        "as_of": f"{as_of:%Y-%m-%d %H:%M}",
        "horizon_days": cfg.label.horizon_days,
        "model": cfg.model.classifier,
        "source": Path(args.events).name,
    }
    if cfg.engine.kind == "duckdb":  # batches of users, written as they are scored
        from churn_core.engine.scoring import score_to_file

        out, n = score_to_file(
            model, log.before(as_of), as_of, cfg, args.out, meta, args.raw_export, say
        )
        print(f"wrote {n:,} users to {out}")
        return 0
    say("scoring", 0.5)
    table = scoring_table(
        log.before(as_of), as_of, model.event_types, model.max_events, cfg.label.horizon_days
    )
    scores, _ = score_table(model, table, cfg, log.has_amount, as_of)
    say("explaining (reason_1..reason_3)", 0.7)
    ids = pd.Index(table.user_id.astype(str))
    reasons = explain_model(model, table.X, ids, sample_background(table.X)).reasons
    scores = join_reasons(scores, reasons)
    out = write_export(scores, args.out, meta, raw=args.raw_export)
    print(f"wrote {len(scores):,} users to {out}")
    return 0


def _score_spark(args, model, cfg, say) -> int:
    """``score --engine spark``: features and scores (with reasons) on the Spark executors."""
    from churn_core.engine.spark_train import open_events, score_spark
    from churn_core.export import write_export

    events = open_events(args.events, cfg, say, getattr(args, "pseudonymize", None))
    as_of = _timestamp(args.as_of, "--as-of") or events.default_as_of()
    say("scoring on Spark (reason_1..reason_3 without SHAP)", 0.5)
    scores = score_spark(events, args.model_dir, model, cfg, as_of)
    meta = {
        "as_of": f"{as_of:%Y-%m-%d %H:%M}",
        "horizon_days": cfg.label.horizon_days,
        "model": cfg.model.classifier,
        "source": Path(args.events).name,
    }
    out = write_export(scores, args.out, meta, raw=args.raw_export)
    print(f"wrote {len(scores):,} users to {out}")
    return 0


def cmd_evaluate(args, say) -> int:
    from churn_core.evaluation import evaluate, recommendation_check

    cfg = config_from_args(args)
    log = _load(args, cfg.schema, say)
    report = evaluate(
        log, cfg, _timestamp(args.cutoff, "--cutoff"), ladder=args.ladder, progress=say
    )
    recs = recommendation_check(log, _timestamp(args.cutoff, "--cutoff"), cfg.label.horizon_days)
    if args.json:
        for row in report.to_dict("records") + (
            recs.to_dict("records") if recs is not None else []
        ):
            print(json.dumps({k: _json_value(v) for k, v in row.items()}))
    else:
        print(report.round(4).to_string(index=False))
        if recs is not None:
            print("\nRecommended items: hit rate at 5 among users who buy in [T, T+H)")
            print(recs.round(4).to_string(index=False))
    return 0


def _json_value(v):
    """Rounded floats; NaN (e.g. Brier of a pure ranking) as null, which JSON allows."""
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 4)
    return v


def cmd_explain(args, say) -> int:
    from churn_core.bundle import load_model
    from churn_core.explain_user import explain_user_text

    model, cfg, _ = load_model(args.model_dir)
    cfg = config_from_args(args, base=cfg)
    log = _load(args, cfg.schema, say)
    as_of = _timestamp(args.as_of, "--as-of") or log.default_as_of()
    print(explain_user_text(model, log.before(as_of), as_of, cfg, str(args.user)))
    return 0


def cmd_reidentify(args, say) -> int:
    from churn_core.export import ESCAPED_KEY, read_export, write_export
    from churn_core.privacy import pairs_from_ids, read_id_table, reidentify_frame

    if not Path(args.key).expanduser().is_file():
        raise ConfigError(
            f"Key file {args.key} not found. Name the KEYFILE that --pseudonymize used."
        )
    if args.events:
        cfg = config_from_args(args)
        args.pseudonymize = None  # the raw log is read as it is, then hashed here
        log = _load(args, cfg.schema, say)
        pairs = pairs_from_ids(log.frame["user_id"], args.key)
    else:
        from churn_core.privacy import Pseudonymizer

        table = Pseudonymizer(args.key).id_table
        if not table.exists():
            raise ConfigError(
                f"No id table next to the key {args.key} (expected {args.key}.ids.csv). Pass "
                "the raw event log the list came from with --events."
            )
        pairs = read_id_table(table)
    meta, frame = read_export(args.list)
    frame, mapped = reidentify_frame(frame, pairs, Path(args.list).name)
    meta.pop(ESCAPED_KEY, None)  # the writer states its own escaping
    out = write_export(frame, args.out, meta, raw=args.raw_export)
    print(f"wrote {out}: {mapped:,} user ids mapped back")
    return 0


_CAMPAIGN_FLAGS = {
    "value": "value",
    "contact_cost": "contact_cost",
    "save_rate": "save_rate",
    "budget": "budget",
    "size": "size",
    "control_share": "control_share",
    "seed": "seed",
}


def cmd_campaign(args, say) -> int:
    from churn_core.bundle import load_model
    from churn_core.campaign import build_campaign
    from churn_core.campaign_files import activity_events_text

    model, cfg, manifest = load_model(args.model_dir)
    cfg = cfg.with_(engine={"kind": "local"})  # the bundle's engine settings; the engine: here
    if args.config:
        with _config_errors(args.config):
            cfg = cfg.with_(campaign=vars(ChurnConfig.from_toml(args.config).campaign))
    changes = {
        field: getattr(args, flag)
        for flag, field in _CAMPAIGN_FLAGS.items()
        if getattr(args, flag, None) is not None
    }
    cfg = config_from_args(argparse.Namespace(**{**vars(args), "seed": None}), base=cfg)
    with _config_errors():
        cfg = cfg.with_(campaign=changes)
    if Path(args.out).suffix.lower() not in (".csv", ".xlsx"):
        raise EventDataError([f"--out {args.out!r}: name the campaign list .csv or .xlsx."])
    enc = cfg.encoder.kind
    meta = {
        "model": cfg.model.classifier + ("" if enc == "none" else f" + {enc} encoder"),
        "model_as_of": str(manifest.get("as_of", "")),
        "source": Path(args.events).name,
        "activity_events": activity_events_text(cfg.label.activity_events),
    }
    if cfg.engine.kind == "spark":
        plan = _campaign_spark(args, model, cfg, meta, say)
    else:
        log = _load(args, cfg.schema, say, cfg.engine)
        as_of = _timestamp(args.as_of, "--as-of") or log.default_as_of()
        if cfg.engine.kind == "duckdb":  # in batches of users, out of core
            from churn_core.engine.campaign import build_source_campaign

            plan = build_source_campaign(model, cfg, log, as_of, meta, progress=say)
        else:
            plan = build_campaign(model, cfg, log, as_of, meta, progress=say)
    out = plan.write(args.out, raw=args.raw_export)
    print("\n".join(plan.lines()))
    print(f"wrote {len(plan.users):,} users to {out}")
    return 0


def _campaign_spark(args, model, cfg, meta, say):
    """``campaign --engine spark``: every user scored on the executors, then the listed
    users' reasons and items from batches pulled to the driver (``engine.campaign``)."""
    from churn_core.engine.campaign import build_source_campaign
    from churn_core.engine.spark_train import open_events, score_spark

    events = open_events(args.events, cfg, say, getattr(args, "pseudonymize", None))
    as_of = _timestamp(args.as_of, "--as-of") or events.default_as_of()
    say("scoring every user on Spark", 0.2)
    scores = score_spark(events, args.model_dir, model, cfg, as_of, reasons=False)
    return build_source_campaign(model, cfg, events.source(), as_of, meta, say, scores)


def cmd_outcome(args, say) -> int:
    from churn_core.campaign_files import activity_events_from
    from churn_core.export import read_export
    from churn_core.outcome import outcome_report

    meta, frame = read_export(args.campaign)
    cfg = config_from_args(args)
    log = _load(args, cfg.schema, say)
    report = outcome_report(
        log,
        frame,
        meta,
        horizon_days=args.horizon_days,
        as_of=_timestamp(args.as_of, "--as-of"),
        activity_events=activity_events_from(meta),
    )
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print("\n".join(report.lines()))
    if args.out:
        from churn_core.export import write_export

        write_export(report.table(), args.out, report.metadata(), raw=args.raw_export)
    return 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Auto-fixes worth knowing (e.g. an assumed year) as ``warning: …`` lines on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def app_command(streamlit_args: list[str]) -> list[str]:
    """The ``streamlit run`` command line that starts the dashboard of the installed package.

    The app's theme and upload limit (``churn_app/streamlit_config.toml``, a copy of the
    repository's ``.streamlit/config.toml``) are passed as flags, so the dashboard looks the
    same from any working directory; ``streamlit_args`` come last and win.
    """
    import tomllib
    from importlib import resources

    app_dir = resources.files("churn_app")
    script = Path(str(app_dir.joinpath("streamlit_app.py")))
    settings = tomllib.loads(app_dir.joinpath("streamlit_config.toml").read_text("utf-8"))
    flags = [
        f"--{section}.{key}={str(value).lower() if isinstance(value, bool) else value}"
        for section, values in settings.items()
        for key, value in values.items()
    ]
    return [sys.executable, "-m", "streamlit", "run", str(script), *flags, *streamlit_args]


def cmd_app(args, say) -> int:
    """Run the dashboard in the foreground until it is stopped (Ctrl+C)."""
    import subprocess

    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    command = app_command(list(args.streamlit_args))
    if os.name == "posix":  # become streamlit: signals (Ctrl+C, SIGTERM) reach it directly
        os.execve(command[0], command, env)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0


COMMANDS = {
    "app": cmd_app,
    "train": cmd_train,
    "score": cmd_score,
    "evaluate": cmd_evaluate,
    "explain": cmd_explain,
    "reidentify": cmd_reidentify,
    "campaign": cmd_campaign,
    "outcome": cmd_outcome,
}


def _names_user_path(err: OSError, args: argparse.Namespace) -> bool:
    """True when ``err`` is about a path given on the command line (or inside one)."""
    if (
        not isinstance(
            err,
            (
                FileNotFoundError,
                IsADirectoryError,
                NotADirectoryError,
                PermissionError,
                FileExistsError,
            ),
        )
        or not err.filename
    ):
        return False
    failed = Path(str(err.filename)).expanduser().absolute()
    for flag in ("events", "model_dir", "out", "config", "list", "key", "pseudonymize"):
        given = getattr(args, flag, None)
        if given:
            p = Path(given).expanduser().absolute()
            if failed == p or p in failed.parents or failed in p.parents:
                return True
    return False


def _split_app_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """``[…, "app", *rest]`` -> (``[…, "app"]``, ``rest``): everything after ``app`` belongs to
    ``streamlit run`` (argparse cannot pass on flags such as ``--server.port``)."""
    for i, token in enumerate(argv):
        if token == "app" and argv[i + 1 :] not in (["-h"], ["--help"]):
            return argv[: i + 1], argv[i + 1 :]
        if not token.startswith("-"):
            break
    return argv, []


def main(argv: list[str] | None = None) -> int:
    argv, streamlit_args = _split_app_args(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    if args.command == "app":
        args.streamlit_args = [*args.streamlit_args, *streamlit_args]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.showwarning = _one_line_warning
    say = _Progress(args.quiet)
    try:
        _check_key_place(args)
        return COMMANDS[args.command](args, say)
    except (EventDataError, ModelBundleError, ConfigError) as err:
        msg = err.one_line() if isinstance(err, EventDataError) else str(err)
        print(f"error: {' '.join(msg.split())}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `... | head`: the reader left; nothing to report
        sys.stderr.close()
        return 0
    except OSError as err:  # only a file the user named; anything else is a bug
        if not _names_user_path(err, args):
            raise
        print(f"error: cannot write or read {err.filename}: {err.strerror}.", file=sys.stderr)
        return 2
    except Exception as err:  # --engine duckdb past its memory_limit: a setting, not a bug
        if "OutOfMemory" not in type(err).__name__ or "duckdb" not in type(err).__module__:
            raise
        print(
            f"error: the DuckDB engine ran out of memory ({str(err).splitlines()[0]}). Raise "
            "memory_limit in the [engine] table of --config, or set temp_directory to a disk "
            "with free space.",
            file=sys.stderr,
        )
        return 2
