"""Errors the engine raises on purpose.

Every JiradexError carries a one-line message meant for the user, so the front ends
can print it as-is (CLI: one line on stderr and exit 1; TUI: a notification).
Messages never contain credentials.
"""

from __future__ import annotations


class JiradexError(Exception):
    """Base class: an expected failure with a message fit for the user."""

    def __init__(self, message: str):
        # Keep messages to one line whatever the cause text held.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(JiradexError):
    """A configuration file or value is invalid."""


class JiraError(JiradexError):
    """Talking to Jira failed (HTTP, network, unexpected payload)."""

    # Seconds Jira asked to wait (429/503 Retry-After) where the request gave up
    # without waiting them: a scheduler should not ask again sooner.
    retry_after: float | None = None


class StoreError(JiradexError):
    """The local index cannot be opened, read or written."""


class QueryError(JiradexError):
    """A search query cannot be understood."""


class TaskError(JiradexError):
    """A task cannot be imported, found or posted."""
