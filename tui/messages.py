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
    """Every sync started together has ended; `summaries` are SyncSummary objects.
    `background`: they were scheduled syncs (tui.auto_sync), not the user's."""

    def __init__(self, summaries: list[Any], background: bool = False) -> None:
        super().__init__()
        self.summaries = summaries
        self.background = background


class ConfigChanged(Message):
    """Datasources or the Jira connection were edited: reread what depends on them."""
