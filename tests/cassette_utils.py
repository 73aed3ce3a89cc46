"""vcrpy set-up shared by every cassette test: replay by default, record on demand.

Cassettes live under `cassettes/` and hold real HTTP exchanges with fakejira. CI
only replays them (`record_mode="none"`): a request that is not in the cassette
fails the test, and no server is started.

Re-recording
------------
    JIRADEX_RECORD=1 /work/venv/bin/pytest -q tests/test_jira_cassettes.py

With `JIRADEX_RECORD=1` the tests start fakejira (`from fakejira import FakeJira`)
and rewrite their cassettes (`record_mode="all"`). fakejira listens on a free port,
so every recorded URL, body and `Location` header has the live origin replaced by a
fixed one (`FAKE_SITE`, `FAKE_OTHER`, ...): replay then needs no server and always
sees the same addresses. Do not record in parallel (`-n auto`) nor by hand-editing.
A cassette is recorded anew (the old one is deleted first), so each cassette has one
recording test; another test may replay it (`world(..., replay_only=True)`).

What is kept out of cassettes
-----------------------------
`Authorization`, `Cookie` and `Set-Cookie` headers are dropped; every secret passed to
`scrub()` (the tokens the tests use, and their Basic-auth base64 forms) is replaced
by `<REDACTED>` in URLs, headers and bodies. `tests/test_jira_cassettes.py` greps
every cassette for the tokens to prove it.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import vcr

CASSETTE_ROOT = Path(__file__).resolve().parent.parent / "cassettes"

# Fixed origins written into cassettes in place of fakejira's random ports.
FAKE_SITE = "http://127.0.0.1:50080"
FAKE_GATEWAY = "http://127.0.0.1:50081"
FAKE_OTHER = "http://localhost:50082"

FILTERED_HEADERS = ["authorization", "cookie", "set-cookie", "proxy-authorization"]
REDACTED = "<REDACTED>"

_lock = threading.Lock()
_secrets: set[str] = set()


def recording() -> bool:
    """True when the run should talk to fakejira and rewrite cassettes."""
    return os.environ.get("JIRADEX_RECORD", "").strip() in ("1", "true", "yes")


def scrub(*values: str | None) -> None:
    """Never let these strings (nor `user:secret` base64) reach a cassette."""
    with _lock:
        for value in values:
            if value and len(value) >= 4:
                _secrets.add(value)


def _secret_forms() -> list[str]:
    with _lock:
        plain = sorted(_secrets, key=len, reverse=True)
    forms = list(plain)
    for a in plain:
        for b in plain:
            if a != b:
                forms.append(base64.b64encode(f"{a}:{b}".encode()).decode())
    return sorted(set(forms), key=len, reverse=True)


class OriginMap:
    """Rewrites live origins (random ports) to the fixed ones, in both directions."""

    def __init__(self, mapping: dict[str, str] | None = None):
        self.mapping = {k.rstrip("/"): v.rstrip("/") for k, v in (mapping or {}).items()}

    def rewrite(self, text: str) -> str:
        for live, fixed in self.mapping.items():
            if live != fixed:
                text = text.replace(live, fixed)
        for secret in _secret_forms():
            text = text.replace(secret, REDACTED)
        return text

    def rewrite_bytes(self, data: Any) -> Any:
        if isinstance(data, bytes):
            try:
                return self.rewrite(data.decode("utf-8")).encode("utf-8")
            except UnicodeDecodeError:
                return data
        if isinstance(data, str):
            return self.rewrite(data)
        return data

    def before_record_request(self, request):
        request.uri = self.rewrite(request.uri)
        if request.body:
            request.body = self.rewrite_bytes(request.body)
        for name in list(request.headers):
            if name.lower() in FILTERED_HEADERS:
                del request.headers[name]
            else:
                value = request.headers[name]
                if isinstance(value, str):
                    request.headers[name] = self.rewrite(value)
        return request

    def before_record_response(self, response):
        headers = response.get("headers") or {}
        for name in list(headers):
            if name.lower() in FILTERED_HEADERS:
                del headers[name]
                continue
            values = headers[name]
            if isinstance(values, list):
                headers[name] = [self.rewrite(v) if isinstance(v, str) else v for v in values]
            elif isinstance(values, str):
                headers[name] = self.rewrite(values)
        body = response.get("body") or {}
        if "string" in body:
            body["string"] = self.rewrite_bytes(body["string"])
        return response


def make_vcr(origins: OriginMap | None = None, *, replay: bool = False) -> vcr.VCR:
    """The VCR of the tests: records while recording() (unless `replay`), else replays."""
    origins = origins or OriginMap()
    record = recording() and not replay
    return vcr.VCR(
        cassette_library_dir=str(CASSETTE_ROOT),
        record_mode="all" if record else "none",
        # Re-recording writes the cassette anew: interactions the code no longer
        # makes must not stay behind for a later run to replay.
        drop_unused_requests=record,
        filter_headers=FILTERED_HEADERS,
        before_record_request=origins.before_record_request,
        before_record_response=origins.before_record_response,
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
        decode_compressed_response=True,
    )  # each recorded answer plays once: vcrpy's default (allow_playback_repeats=False)


def use_cassette(name: str, origins: OriginMap | None = None, *, replay: bool = False):
    """`with use_cassette("jira/cloud_paging.yaml", origins):` replay (or record) it.
    Recording starts from an empty cassette, so that `cassette.requests` holds this
    run's requests only; `replay` replays even while recording."""
    if recording() and not replay:
        (CASSETTE_ROOT / name).unlink(missing_ok=True)
    return make_vcr(origins, replay=replay).use_cassette(name)


def cassette_files(subdir: str = "") -> Iterable[Path]:
    return sorted((CASSETTE_ROOT / subdir).rglob("*.yaml"))
