"""Errors for analysts: every problem found, each naming the column/row and the fix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from churn_core.fields import mapping_field

AUDIENCES = ("cli", "app")


@dataclass(frozen=True)
class Problem:
    """One problem: what is wrong (naming the column/row), the field it concerns, the fix.

    ``action`` (``name``, ``choose`` or ``check``) asks the field's table row for the fix
    sentence, worded for the CLI (a flag) or for the app (the mapping box); ``fix`` and
    ``app_fix`` are free-text fixes used instead (``app_fix`` defaults to ``fix``).
    ``app_message`` replaces ``message`` in the app when the message itself names a flag.
    """

    message: str
    field: str | None = None  # a mapping field name, e.g. "time_col"
    action: str = ""
    fix: str = ""
    app_fix: str | None = None
    app_message: str | None = None
    note: str = ""  # appended after the fix, for both audiences

    def text(self, audience: str = "cli") -> str:
        """The whole sentence for ``audience`` (``cli`` or ``app``)."""
        if audience not in AUDIENCES:
            raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}, got {audience!r}.")
        app = audience == "app"
        message = self.app_message if app and self.app_message else self.message
        if self.action and self.field:
            fix = mapping_field(self.field).fix(self.action, audience)
        else:
            fix = self.app_fix if app and self.app_fix is not None else self.fix
        return " ".join(p for p in (message, fix, self.note) if p)

    def __str__(self) -> str:
        return self.text("cli")


class EventDataError(ValueError):
    """The event log cannot be used as it is.

    Carries every problem found (not just the first), each a plain sentence naming the
    column or row and what to do about it. ``problems`` are the CLI wording (strings, as
    before); ``details`` the structured :class:`Problem` objects; :meth:`for_app` the app's
    wording of the same problems. ``str(err)`` joins the CLI wording, one per line.
    """

    def __init__(self, problems: Iterable[str | Problem]):
        self.details: list[Problem] = [
            p if isinstance(p, Problem) else Problem(str(p)) for p in problems if p
        ]
        if not self.details:
            self.details = [Problem("The event log could not be used (no details given).")]
        self.problems: list[str] = [p.text("cli") for p in self.details]
        super().__init__("\n".join(f"- {p}" for p in self.problems))

    def for_app(self) -> list[str]:
        """The problems worded for the app: the mapping box instead of CLI flags."""
        return [p.text("app") for p in self.details]

    @property
    def fields(self) -> list[str]:
        """The mapping fields the problems concern, in order, without repeats."""
        return list(dict.fromkeys(p.field for p in self.details if p.field))

    def one_line(self) -> str:
        """All problems on one line, for a CLI exit message."""
        return "; ".join(self.problems)


class ModelBundleError(ValueError):
    """A model directory is missing, incomplete, or holds types we do not trust."""


class ConfigError(ValueError):
    """A setting (a flag, a TOML config or a folder it names) is unknown or out of range."""
