"""Placeholder for the Sync monitor screen (owned by another module; replaced soon)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


class SyncMonitorScreen(Screen):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Sync monitor: not built yet.")
        yield Footer()

    def start_syncs(self, names: list[str], full: bool = False) -> None:
        """Contract: start one thread worker per datasource (see tui/app.py)."""
        self.notify(f"sync of {', '.join(names)} requested")
