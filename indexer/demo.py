"""The pieces of `jiradex demo`: the whole product on generated data, no Jira account.

`demo_home()` gives the demo a private JIRADEX_HOME unless one is set;
`demo_server()` starts fakejira (a Jira Cloud look-alike) on a free loopback port
and adds a datasource for it. The front ends then sync and search as usual, through
the real HTTP path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from indexer import paths

DEMO_DATASOURCE = "demo"
DEMO_PROJECT = "DEMO"
DEMO_EMAIL = "demo@example.com"
DEMO_TOKEN = "demo-token-not-a-secret"
DEMO_QUERY = "connection timeout"


@contextmanager
def demo_home() -> Iterator[str | None]:
    """Use JIRADEX_HOME when set; otherwise a temporary home removed on exit."""
    if paths.home_override() is not None:
        yield None
        return
    home = tempfile.mkdtemp(prefix="jiradex-demo-")
    os.environ["JIRADEX_HOME"] = home
    try:
        yield home
    finally:
        os.environ.pop("JIRADEX_HOME", None)
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Demo:
    """A running demo: fakejira's URL and the datasource added for it."""

    url: str
    datasource: str


@contextmanager
def demo_server(issue_count: int = 3000, latency_ms: int = 0) -> Iterator[Demo]:
    """A running fakejira with a generated project, and a datasource for it.

    A datasource of the user's own called `demo` is left alone (the demo takes
    another name), and once the server stops the demo's datasource is disabled:
    it points at a port that is closed now, and would fail every later `sync`.
    Its issues stay searchable."""
    from fakejira import FakeJira
    from fakejira.dataset import STEP_MS

    # The project reads as a live one: its newest issue changed an hour ago.
    start_ms = (int(time.time()) // 60 * 60_000) - issue_count * STEP_MS - 3_600_000
    with FakeJira(
        mode="cloud",
        issues=issue_count,
        seed=7,
        project=DEMO_PROJECT,
        latency_ms=latency_ms,
        email=DEMO_EMAIL,
        token=DEMO_TOKEN,
        start_ms=start_ms,
    ) as server:
        name = add_demo_datasource(server.url).name
        try:
            yield Demo(server.url, name)
        finally:
            _retire(name)


def add_demo_datasource(endpoint: str):
    """(Re)create the demo's datasource pointing at `endpoint`, named `demo` unless
    the user has a datasource of that name."""
    from indexer.config import Datasource, add_datasource, load_datasources, remove_datasource

    existing = {ds.name.lower(): ds for ds in load_datasources()}
    name = DEMO_DATASOURCE
    for n in range(1, 100):
        name = DEMO_DATASOURCE if n == 1 else f"jiradex-demo-{n}"
        if name not in existing or _is_demo(existing[name]):
            break
    if name in existing:
        remove_datasource(name)
    ds = Datasource(
        name=name,
        endpoint=endpoint,
        username=DEMO_EMAIL,
        token=DEMO_TOKEN,
        project_key=DEMO_PROJECT,
        index_comments=True,
        index_attachments=True,
        interval="5m",
    )
    add_datasource(ds)
    return ds


def _is_demo(ds) -> bool:
    """A datasource an earlier demo added (fakejira on loopback, the demo account)."""
    host = urlsplit(ds.endpoint or "").hostname or ""
    return (
        ds.username == DEMO_EMAIL and ds.token == DEMO_TOKEN and host in ("127.0.0.1", "localhost")
    )


def _retire(name: str) -> None:
    from indexer.config import set_datasource_enabled
    from indexer.errors import JiradexError

    with contextlib.suppress(JiradexError, OSError):
        set_datasource_enabled(name, False)
