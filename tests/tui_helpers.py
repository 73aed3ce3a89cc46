"""Shared bits of the TUI tests: issues written straight into the index (no HTTP)
and waiting for thread workers to land their results."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from indexer import config
from indexer.store import Store

NOW = datetime.now(UTC)


def stamp(days_ago: float) -> str:
    """An ISO time relative to now, so relative ages ("3d") stay stable in snapshots."""
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def issue(n: int, **extra) -> dict:
    base = {
        "id": str(20000 + n),
        "key": f"DEV-{n}",
        "project": "DEV",
        "datasource": "work",
        "summary": f"Issue number {n}",
        "description": f"Plain description {n}",
        "description_text": f"Plain description {n}",
        "issuetype": "Bug",
        "status": "Open",
        "status_category": "To Do",
        "priority": "High",
        "assignee": "Zoë Ångström",
        "reporter": "Bob Example",
        "labels": ["db"],
        "components": ["api"],
        "created": stamp(30),
        "updated": stamp(n),
        "url": f"https://jira.example.com/browse/DEV-{n}",
        "comments": [],
        "attachments": [],
    }
    base.update(extra)
    return base


SAMPLE = [
    issue(
        1,
        summary="Pool times out under load",
        status="In Progress",
        description="The **connection pool** hits its timeout when more than 64 clients connect.",
        description_text="The connection pool hits its timeout when more than 64 clients connect.",
        comments=[
            {
                "id": "c1",
                "author": "Zoë Ångström",
                "created": stamp(1),
                "body": "Raising the pool size to *128* fixed it here.",
                "body_text": "Raising the pool size to 128 fixed it here.",
            }
        ],
    ),
    issue(2, summary="Connection reset by peer during deploy", status="Open"),
    issue(
        3,
        summary="接続プールのタイムアウト 🎉 very long summary that keeps going well past any "
        "sensible column width so that it has to be cut",
        status="Closed",
        assignee=None,
    ),
    issue(8, summary="Timeout tuning for the gateway", status="Closed"),
]


def fill_index(records: list[dict] | None = None) -> None:
    """Write issues into the index of the current JIRADEX_HOME."""
    store = Store()
    try:
        store.upsert_issues(records if records is not None else SAMPLE)
    finally:
        store.close()


async def settle(pilot, app, seconds: float = 0.08) -> None:
    """Let debounce timers fire and thread workers finish and report back.

    Waits until no worker is pending or running and the screen has no search
    waiting on its debounce timer, twice in a row (a finishing worker may start
    another, e.g. results -> preview), so a loaded machine only makes it slower.
    """
    from textual.worker import WorkerState

    await pilot.pause(seconds)
    quiet = 0
    for _ in range(1000):
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers)
        busy = busy or getattr(app.screen, "search_pending", False)
        quiet = 0 if busy else quiet + 1
        if quiet >= 2:
            break
        await pilot.pause(0.03)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def add_datasource(name: str, project: str = "DEMO", enabled: bool = True) -> config.Datasource:
    return config.add_datasource(
        config.Datasource(
            name=name,
            endpoint="https://example.atlassian.net",
            username="me@example.com",
            token="tok-123456",
            project_key=project,
            enabled=enabled,
        )
    )


async def wait_for(pilot, predicate, timeout: float = 10.0) -> None:
    """Let the app run until `predicate()` holds (fails the test after `timeout`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await pilot.pause(0.02)


class LaterClock:
    """The TUI's clock (tui.widgets.format) set `minutes` (and 5 s) ahead of now, and
    moved on by `advance`: relative ages then read as if that much time had gone."""

    def __init__(self, monkeypatch, minutes: float = 10) -> None:
        from tui.widgets import format as format_module

        self.now = datetime.now(UTC) + timedelta(minutes=minutes, seconds=5)
        clock = self

        class Later(datetime):
            @classmethod
            def now(cls, tz=None):
                return clock.now

        monkeypatch.setattr(format_module, "datetime", Later)

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


def burst(app, *keys: str) -> None:
    """Keys as a fast typist (or a password manager's auto-type) sends them: all handed
    to the app before it has handled the first, as a terminal delivers a burst (Pilot's
    `press` waits for each key to be handled)."""
    from textual import events
    from textual.keys import _character_to_key

    for key in keys:
        char = key if len(key) == 1 else NAMED_CHARACTERS.get(key)
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)


NAMED_CHARACTERS = {"tab": "\t", "enter": "\r", "space": " ", "escape": "\x1b"}
