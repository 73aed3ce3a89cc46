"""Placeholder for the Datasources screen (owned by another module; replaced soon)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


class DatasourcesScreen(Screen):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Datasources: not built yet.")
        yield Footer()
