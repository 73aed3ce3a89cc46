"""Search screen (first cut)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


class SearchScreen(Screen):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Search")
        yield Footer()
