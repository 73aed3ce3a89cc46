"""Shared fixtures: every test runs with its own JIRADEX_HOME and no JIRA_* variables."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CASSETTES = REPO / "cassettes"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def jiradex_home(tmp_path, monkeypatch) -> Path:
    """Isolate config and data; drop any JIRA_* settings from the caller's shell."""
    home = tmp_path / "jiradex-home"
    monkeypatch.setenv("JIRADEX_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("JIRA_") or name == "JIRADEX_GATEWAY_URL":
            monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(autouse=True)
def utc_zone(monkeypatch):
    """Times are shown, and typed dates read, in the local zone (indexer.localtime):
    tests run in UTC wherever the machine is, unless a test sets another `TZ`."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def no_scheduled_syncs(monkeypatch) -> None:
    """A TUI under test syncs only what its test starts: scheduled background syncs
    (tui.auto_sync) are off unless a test turns them on (tests/test_tui_auto_sync.py)."""
    monkeypatch.setattr("tui.app.JiradexApp.AUTO_SYNC_EVERY_S", None)
