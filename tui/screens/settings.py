"""Placeholder for the Settings screen (owned by another module; replaced soon)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


class SettingsScreen(Screen):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Settings: not built yet.")
        yield Footer()
