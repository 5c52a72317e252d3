"""``churn train|score|evaluate|explain|reidentify|campaign|outcome|app`` (or ``python -m
churn_core …``): the same pipeline as the app.

``parser`` holds the flags and help, ``commands`` one function per sub-command, ``inputs``
what they share; here is ``main``: progress on stderr, and every error a user can fix as one
``error: …`` line with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

from churn_core.cli.commands import COMMANDS, app_command
from churn_core.cli.inputs import check_key_place
from churn_core.cli.parser import build_parser, config_from_args
from churn_core.errors import ConfigError, EventDataError, ModelBundleError

__all__ = ["app_command", "build_parser", "config_from_args", "main"]


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


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Auto-fixes worth knowing (e.g. an assumed year) as ``warning: …`` lines on stderr."""
    print(f"warning: {message}", file=sys.stderr)


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
        check_key_place(args)
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
