"""The sub-commands: each reads its flags, makes one core call and prints or writes the result.

Heavy modules (the pipeline, skops, torch, shap) are imported inside the command that needs
them, so ``churn score`` of a model without an encoder never imports torch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import pandas as pd

from churn_core.cli.inputs import load_log, parse_date
from churn_core.cli.parser import config_errors, config_from_args
from churn_core.config import ChurnConfig
from churn_core.errors import ConfigError, EventDataError


def cmd_train(args, say) -> int:
    from churn_core.bundle import save_model
    from churn_core.pipeline import train

    cfg = config_from_args(args)
    if cfg.engine.kind == "spark":
        from churn_core.engine.spark_train import open_events, train_spark

        events = open_events(args.events, cfg, say, getattr(args, "pseudonymize", None))
        # `churn score` scores the users: training need not score them all first
        run = train_spark(
            events, cfg, parse_date(args.as_of, "--as-of"), progress=say, score_all=False
        )
    else:
        log = load_log(args, cfg.schema, say, cfg.engine)
        run = train(log, cfg, parse_date(args.as_of, "--as-of"), progress=say, score_all=False)
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
    log = load_log(args, cfg.schema, say, cfg.engine)
    as_of = parse_date(args.as_of, "--as-of") or log.default_as_of()
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
    as_of = parse_date(args.as_of, "--as-of") or events.default_as_of()
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
    log = load_log(args, cfg.schema, say)
    report = evaluate(
        log, cfg, parse_date(args.cutoff, "--cutoff"), ladder=args.ladder, progress=say
    )
    recs = recommendation_check(log, parse_date(args.cutoff, "--cutoff"), cfg.label.horizon_days)
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
    log = load_log(args, cfg.schema, say)
    as_of = parse_date(args.as_of, "--as-of") or log.default_as_of()
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
        log = load_log(args, cfg.schema, say)
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
        with config_errors(args.config):
            cfg = cfg.with_(campaign=vars(ChurnConfig.from_toml(args.config).campaign))
    changes = {
        field: getattr(args, flag)
        for flag, field in _CAMPAIGN_FLAGS.items()
        if getattr(args, flag, None) is not None
    }
    cfg = config_from_args(argparse.Namespace(**{**vars(args), "seed": None}), base=cfg)
    with config_errors():
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
        log = load_log(args, cfg.schema, say, cfg.engine)
        as_of = parse_date(args.as_of, "--as-of") or log.default_as_of()
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
    as_of = parse_date(args.as_of, "--as-of") or events.default_as_of()
    say("scoring every user on Spark", 0.2)
    scores = score_spark(events, args.model_dir, model, cfg, as_of, reasons=False)
    return build_source_campaign(model, cfg, events.source(), as_of, meta, say, scores)


def cmd_outcome(args, say) -> int:
    from churn_core.campaign_files import activity_events_from
    from churn_core.export import read_export
    from churn_core.outcome import outcome_report

    meta, frame = read_export(args.campaign)
    cfg = config_from_args(args)
    log = load_log(args, cfg.schema, say)
    report = outcome_report(
        log,
        frame,
        meta,
        horizon_days=args.horizon_days,
        as_of=parse_date(args.as_of, "--as-of"),
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
