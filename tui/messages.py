"""Messages shared by the screens, so screens never import each other.

The sync monitor posts these to the app (``self.app.post_message``); the app
forwards index changes to the search screen and, after a demo start, goes home.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class IndexUpdated(Message):
    """A datasource wrote to the index (a sync batch or a whole run ended)."""

    def __init__(self, datasource: str) -> None:
        super().__init__()
        self.datasource = datasource


class SyncsFinished(Message):
    """Every sync started together has ended; `summaries` are SyncSummary objects."""

    def __init__(self, summaries: list[Any]) -> None:
        super().__init__()
        self.summaries = summaries


class ConfigChanged(Message):
    """Datasources or the Jira connection were edited: reread what depends on them."""
