"""The ``churn`` command line: its flags, sub-commands and help, and the config they make.

``build_parser`` is the whole interface; ``config_from_args`` turns parsed flags (over a
``--config`` TOML, over the defaults) into the one :class:`~churn_core.config.ChurnConfig`
the app uses too.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from churn_core.config import CLASSIFIERS, ENCODERS, ENGINES, ChurnConfig
from churn_core.errors import ConfigError, EventDataError
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
def config_errors(config_path: str | None = None):
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
    with config_errors(getattr(args, "config", None)):
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
