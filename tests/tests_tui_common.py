"""Helpers shared by the datasources/sync/settings TUI tests."""

from __future__ import annotations

import asyncio

from indexer import config


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
