"""Errors for analysts: every problem found, each naming the column/row and the fix."""

from __future__ import annotations

from collections.abc import Iterable


class EventDataError(ValueError):
    """The event log cannot be used as it is.

    Carries every problem found (not just the first), each a plain sentence naming the
    column or row and what to do about it. ``str(err)`` joins them, one per line.
    """

    def __init__(self, problems: Iterable[str]):
        self.problems: list[str] = [p for p in problems if p]
        if not self.problems:
            self.problems = ["The event log could not be used (no details given)."]
        super().__init__("\n".join(f"- {p}" for p in self.problems))

    def one_line(self) -> str:
        """All problems on one line, for a CLI exit message."""
        return "; ".join(self.problems)


class ModelBundleError(ValueError):
    """A model directory is missing, incomplete, or holds types we do not trust."""


class ConfigError(ValueError):
    """A setting (a flag, a TOML config or a folder it names) is unknown or out of range."""
