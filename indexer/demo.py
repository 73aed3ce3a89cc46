"""The pieces of `jiradex demo`: the whole product on generated data, no Jira account.

`demo_home()` gives the demo a private JIRADEX_HOME unless one is set;
`demo_server()` starts fakejira (a Jira Cloud look-alike) on a free loopback port
and adds a datasource for it. The front ends then sync and search as usual, through
the real HTTP path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def demo_server(issue_count: int = 3000, latency_ms: int = 0) -> Iterator[object]:
    """A running fakejira with a generated project, and the `demo` datasource for it."""
    from fakejira import FakeJira

    with FakeJira(
        mode="cloud",
        issues=issue_count,
        seed=7,
        project=DEMO_PROJECT,
        latency_ms=latency_ms,
        email=DEMO_EMAIL,
        token=DEMO_TOKEN,
    ) as server:
        add_demo_datasource(server.url)
        yield server


def add_demo_datasource(endpoint: str):
    """(Re)create the `demo` datasource pointing at `endpoint`."""
    from indexer.config import Datasource, add_datasource, load_datasources, remove_datasource

    if any(ds.name == DEMO_DATASOURCE for ds in load_datasources()):
        remove_datasource(DEMO_DATASOURCE)
    ds = Datasource(
        name=DEMO_DATASOURCE,
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
