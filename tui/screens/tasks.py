"""Tasks screen (first cut)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


class TasksScreen(Screen):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Tasks")
        yield Footer()

    def open_import(self, key: str = "") -> None:
        """Open the import form prefilled with an issue key."""
