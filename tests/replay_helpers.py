"""Sync tests against recorded fakejira sessions, and what they compare against.

A `World` is one cassette under `cassettes/sync/`. With `JIRADEX_RECORD=1` it starts
fakejira, records every exchange and also writes `<name>.truth.json`: what the
*server* held at named moments (ids, keys, summaries, `updated`, comment counts,
attachment names), read straight from fakejira's dataset, not through the client.
On replay no server runs; the tests compare the index with that recorded truth, so
"the index equals the server's issues" stays a real check without a server.

`FaultTransport` wraps httpx's transport (which vcrpy patches) to inject the faults
a cassette cannot hold (timeouts, connections cut mid-body), to watch every request
the client sends (which headers went to which origin), and, while recording, to
change the server between two requests (an issue updated while the sync pages).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import vcr
from cassette_utils import (
    CASSETTE_ROOT,
    FAKE_OTHER,
    FAKE_SITE,
    FILTERED_HEADERS,
    OriginMap,
    recording,
    scrub,
    use_cassette,
)

from indexer.config import Datasource
from indexer.jira import RetryPolicy, client_for_datasource
from indexer.normalize import to_utc_iso

# fakejira's clock while recording: mutations get this `updated`, so the JQL of the
# next incremental sync (derived from it) is the same on every recording.
FIXED_NOW_MS = 1_700_000_000_000
TOKEN = "sync-test-token-4f9a2c"  # scrubbed from every cassette
EMAIL = "sync.tester@example.com"
ID_BASE = 10_000  # fakejira: issue i has id 10000 + i

# --------------------------------------------------------------------------- truth


def server_truth(fj, project: str) -> dict[str, dict[str, Any]]:
    """Every live issue of `project` on the fake server, by id (the ground truth)."""
    ds = fj.dataset
    out: dict[str, dict[str, Any]] = {}
    with ds.lock:
        last = ds.next_index
    for i in range(1, last):
        issue = ds.issue(str(ID_BASE + i))
        if issue is None or issue.project != project.upper():
            continue
        out[str(issue.id)] = {
            "key": issue.key,
            "summary": issue.summary.strip(),
            "updated": to_utc_iso(issue.updated),
            "comments": len(issue.comments),
            "attachments": sorted(a.filename for a in issue.attachments),
        }
    return out


def index_snapshot(db_path: Path | str, datasource: str) -> dict[str, dict[str, Any]]:
    """The same shape read from the index database (read-only, plain sqlite3)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        out: dict[str, dict[str, Any]] = {}
        rows = conn.execute(
            "SELECT rowid, id, key, summary, updated FROM issues WHERE datasource = ?",
            [datasource],
        ).fetchall()
        for rowid, issue_id, key, summary, updated in rows:
            assert issue_id not in out, f"issue {issue_id} stored twice"
            comments = conn.execute(
                "SELECT count(*) FROM comments WHERE issue = ?", [rowid]
            ).fetchone()[0]
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT filename FROM attachments WHERE issue = ? ORDER BY filename", [rowid]
                )
            ]
            out[issue_id] = {
                "key": key,
                "summary": summary,
                "updated": updated,
                "comments": comments,
                "attachments": names,
            }
        return out
    finally:
        conn.close()


def without(snapshot: dict, *fields: str) -> dict:
    """The snapshot minus some fields (comments are not indexed unless turned on)."""
    return {k: {f: v for f, v in row.items() if f not in fields} for k, row in snapshot.items()}


# --------------------------------------------------------------------------- transport


@dataclass
class Sent:
    method: str
    url: str
    authorization: bool


@dataclass
class TransportFault:
    """Fail `count` requests whose URL contains `path`: `kind` is "timeout" (no answer),
    "reset" or "truncate" (the answer is cut half-way through the body)."""

    kind: str
    path: str
    count: int = 1
    fired: int = 0


class _CutStream(httpx.SyncByteStream):
    def __init__(self, data: bytes, kind: str):
        self.data, self.kind = data, kind

    def __iter__(self):
        yield self.data[: len(self.data) // 2]
        if self.kind == "reset":
            raise httpx.ReadError("[Errno 104] Connection reset by peer")
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        )


class FaultTransport(httpx.BaseTransport):
    """httpx transport: logs requests, injects transport faults, runs hooks before a
    request is sent and after its reply (record-time hooks change the server)."""

    def __init__(self, faults: list[TransportFault] | None = None):
        self.inner = httpx.HTTPTransport()
        self.faults = list(faults or [])
        self.sent: list[Sent] = []
        self.before: list[Callable[[httpx.Request], None]] = []
        self.after: list[Callable[[httpx.Request, httpx.Response], None]] = []
        self._lock = threading.Lock()

    def _fault_for(self, url: str) -> TransportFault | None:
        with self._lock:
            for fault in self.faults:
                if fault.fired < fault.count and fault.path in url:
                    fault.fired += 1
                    return fault
        return None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for hook in self.before:
            hook(request)
        with self._lock:
            self.sent.append(
                Sent(request.method, str(request.url), "authorization" in request.headers)
            )
        fault = self._fault_for(str(request.url))
        if fault is not None and fault.kind == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        response = self.inner.handle_request(request)
        if fault is not None:
            data = response.read()
            response.close()
            response = httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=_CutStream(data, fault.kind),
                request=request,
            )
        for hook in self.after:
            hook(request, response)
        return response

    def close(self) -> None:
        self.inner.close()


# --------------------------------------------------------------------------- world


@dataclass
class World:
    """One recorded (or replayed) conversation with fakejira; see the module doc."""

    name: str
    site: str
    fj: Any = None
    truths: dict[str, Any] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.fj is not None

    def server(self, fn: Callable[[Any], Any]) -> None:
        """Change the server (only while recording; the cassette holds the effect)."""
        if self.fj is not None:
            fn(self.fj)

    def truth(self, label: str, project: str = "DEMO") -> dict[str, dict[str, Any]]:
        """The server's issues now (recorded) or as they were when recorded (replay)."""
        if self.fj is not None and label not in self.truths:
            self.truths[label] = _portable(server_truth(self.fj, project), self)
        elif label not in self.truths:
            raise AssertionError(f"{self.name}: no recorded truth {label!r}; re-record")
        return self.truths[label]

    def datasource(self, name: str = "jira", **overrides: Any) -> Datasource:
        mode_token = {"anonymous": None}.get(getattr(self.fj, "mode", ""), TOKEN)
        values: dict[str, Any] = {
            "name": name,
            "endpoint": self.site,
            "username": EMAIL,
            "token": mode_token,
            "project_key": "DEMO",
            "index_comments": False,
            "index_attachments": False,
            "interval": "5m",
        }
        values.update(overrides)
        return Datasource(**values)


def _portable(value: Any, world: World) -> Any:
    return json.loads(json.dumps(value).replace(world.site, FAKE_SITE))


def _truth_path(name: str) -> Path:
    return CASSETTE_ROOT / "sync" / (name + ".truth.json")


@contextmanager
def world(
    name: str,
    *,
    mode: str = "cloud",
    issues: int = 40,
    comments: bool = True,
    attachments: bool = False,
    replay_only: bool = False,
    **fake_options: Any,
) -> Iterator[World]:
    """`with world("full_cloud", mode="cloud", issues=40) as w:` record or replay.

    `replay_only`: the cassette is another test's, replayed even while recording
    (a re-recording writes a cassette anew, so one test records each)."""
    cassette = f"sync/{name}.yaml"
    scrub(TOKEN, EMAIL)
    if not recording() or replay_only:
        truths = json.loads(_truth_path(name).read_text()) if _truth_path(name).exists() else {}
        with use_cassette(cassette, replay=replay_only):
            yield World(name, FAKE_SITE, None, truths)
        return
    from fakejira import FakeJira

    token = TOKEN if mode != "anonymous" else "unused-token"
    with FakeJira(
        mode=mode,
        issues=issues,
        comments=comments,
        attachments=attachments,
        email=EMAIL,
        token=token,
        **fake_options,
    ) as fj:
        fj.set_now(FIXED_NOW_MS)
        origins = OriginMap({f"http://127.0.0.1:{fj.port}": FAKE_SITE, fj.download_url: FAKE_OTHER})
        w = World(name, fj.url, fj)
        try:
            with use_cassette(cassette, origins):
                yield w
        finally:  # even when the test fails: the replay shows the same failure
            _truth_path(name).parent.mkdir(parents=True, exist_ok=True)
            _truth_path(name).write_text(json.dumps(w.truths, indent=1, sort_keys=True) + "\n")


# --------------------------------------------------------------------------- clients


class Waits(list):
    """The retry waits the client asked for (tests never sleep for real)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fast_client(ds: Datasource, transport: FaultTransport | None = None, **options: Any):
    """A client for `ds` whose retries do not sleep: `client.waits` lists the waits."""
    waits = Waits()
    client = client_for_datasource(
        ds,
        transport=transport or FaultTransport(),
        retry=RetryPolicy(sleep=waits, budget_seconds=60.0),
        timeout=5.0,
        **options,
    )
    client.waits = waits  # type: ignore[attr-defined]
    return client


def replay_cassette(name: str, allow_repeats: bool = True):
    """Replay-only use of a cassette (the subprocess runner of the crash and
    concurrency tests): a request the cassette does not hold fails."""
    return vcr.VCR(
        cassette_library_dir=str(CASSETTE_ROOT),
        record_mode="none",
        filter_headers=FILTERED_HEADERS,
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
        decode_compressed_response=True,
    ).use_cassette(name, allow_playback_repeats=allow_repeats)


def origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port


def env_without_jira() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith("JIRA_") and k != "JIRADEX_DEBUG"
    }


def record_first_sync(name: str, scratch_db: Path, issues: int = 250) -> None:
    """Record (or check on replay) a full first sync of `issues` issues, one request
    at a time, as cassettes/sync/<name>.yaml, and add its datasource "jira" (pointed
    at the cassette's site) to the config: for tests that replay that sync in a
    subprocess (tests/sync_runner.py) and stop it on the way."""
    from indexer import config
    from indexer.store import Store
    from indexer.sync import sync_datasource

    with world(name, issues=issues, comments=False) as w:
        ds = w.datasource(max_concurrency=1)
        with Store(scratch_db) as scratch:
            summary = sync_datasource(ds, store=scratch, client=fast_client(ds))
            assert summary.status == "ok" and summary.issues == issues, summary.error
    config.add_datasource(w.datasource(endpoint=FAKE_SITE, max_concurrency=1))
