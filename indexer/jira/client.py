"""`JiraClient`: the one place jiradex talks to Jira.

It detects the deployment (`/rest/api/2/serverInfo`): Cloud pages
`/rest/api/3/search/jql` with `nextPageToken` (no `total`; its default `fields` is
only `id`, so fields are always explicit); Data Center, Server and anonymous
instances page `/rest/api/2/search` with `startAt`, counting what each page really
held because servers lower `maxResults`. The removed Cloud `/search` is never used.

The client is thread-safe: one `httpx.Client`, an AIMD concurrency limit shared by
every request, retries with bounded back-off, and one clear `JiraError` per failure.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import re
import socket
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx
import orjson

from indexer import secrets
from indexer.config import ISSUE_KEY_RE
from indexer.normalize import parse_jira_time

from .auth import JiraAuth, fetch_cloud_id, is_loopback, normalize_site_url, origin
from .errors import (
    InvalidIssueKeyError,
    IssueNotFoundError,
    JiraAuthError,
    JiraBadRequestError,
    JiraConnectionError,
    JiraError,
    JiraInsecureError,
    JiraNotEnabledError,
    JiraNotFoundError,
    JiraPermissionError,
    JiraResponseError,
    JiraRetryAborted,
    JiraServerError,
    JiraTimeoutError,
    ProjectNotFoundError,
    auth_error,
    error_for_status,
    error_messages,
    html_title,
    login_refused,
    looks_like_html,
    refused_login_error,
)
from .http import (
    RETRY_STATUSES_GATEWAY,
    RETRY_STATUSES_RATE,
    AIMDLimiter,
    RequestStats,
    RetryPolicy,
)

log = logging.getLogger("jiradex.jira")

DEFAULT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
# A comment found after a lost answer counts only if created after the post started,
# less this much (Jira's clock and ours disagree a little).
LOST_REPLY_SKEW = timedelta(minutes=10)
DEFAULT_TIMEOUT = 30.0
MAX_REDIRECTS = 5
BULKFETCH_CHUNK = 100
# Times the issues a bulkfetch lists in `issueErrors` (retriable) are asked again.
BULKFETCH_ERROR_RETRIES = 2
# What a site without bulkfetch answers it with (Jira's own bulkfetch never says
# 404: issues it cannot find are left out, and ones it failed on listed in its
# `issueErrors`).
ENDPOINT_MISSING = frozenset({404, 405, 501})
# Data Center refuses a search whose startAt + maxResults passes this ("Search limit
# exceeded"); listings go deeper by starting again after the last `updated` seen.
DC_SEARCH_WINDOW = 10_000
LISTING_ORDER = " ORDER BY updated ASC, key ASC"
# Longer JQL goes in a POST body: URLs past a few kB are refused by proxies and servers.
LONG_JQL_CHARS = 2000
USER_AGENT = "jiradex/0.1 (+https://github.com/jiradex)"

PROJECT_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

BINARY_PREFIXES = ("image/", "video/", "audio/", "font/")
BINARY_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/zip",
        "application/x-zip-compressed",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/x-bzip2",
        "application/x-xz",
        "application/x-7z-compressed",
        "application/x-rar-compressed",
        "application/vnd.rar",
        "application/java-archive",
        "application/x-msdownload",
        "application/x-executable",
        "application/x-sharedlib",
        "application/vnd.ms-cab-compressed",
        "application/x-iso9660-image",
        "application/wasm",
    }
)


# What servers say when they do not know or will not say: Jira serves an attachment
# with the type stored at upload, and browsers often upload a .log or .txt file so.
OPAQUE_TYPES = frozenset(
    {
        "application/octet-stream",
        "binary/octet-stream",
        "application/binary",
        "application/force-download",
        "application/x-download",
        "application/download",
        "application/unknown",
        "application/x-unknown",
    }
)


def is_binary_type(content_type: str | None, *, named_text: bool = False) -> bool:
    """True for media, archives and opaque bytes: not worth downloading for text.

    `named_text`: the file's name says text, and an opaque type is no proof
    otherwise (the text extractor still refuses bytes that are not text)."""
    base = (content_type or "").split(";")[0].strip().lower()
    if named_text and base in OPAQUE_TYPES:
        return False
    return bool(base) and (base.startswith(BINARY_PREFIXES) or base in BINARY_TYPES)


def validate_issue_key(key_or_id: str) -> str:
    """A key like PROJ-123 (upper-cased) or a numeric id; else InvalidIssueKeyError."""
    text = str(key_or_id or "").strip()
    if text.isdigit():
        return text
    if not ISSUE_KEY_RE.match(text):
        shown = secrets.redact(text)[:60]
        raise InvalidIssueKeyError(f"Issue key must look like PROJECT-123 (got {shown!r})")
    return text.upper()


_MISSING_ID = re.compile(r"A value with ID '(\d+)' does not exist for the field 'id'")
_MISSING_KEY = re.compile(
    r"An issue with key '([A-Za-z][A-Za-z0-9_]*-\d+)' does not exist for field 'key'"
)


def _missing_issues(messages: list[str]) -> set[str]:
    """Ids and keys (upper-cased) that Jira's 400 says do not exist."""
    found: set[str] = set()
    for message in messages:
        found.update(_MISSING_ID.findall(message))
        found.update(key.upper() for key in _MISSING_KEY.findall(message))
    return found


_SERVER_INFO_KEYS = ("version", "versionNumbers", "baseUrl", "deploymentType", "buildNumber")


def _issues_of(page: Any, raw: bool = True) -> list:
    """The `issues` of a search or bulkfetch page; a body of another shape (a proxy's,
    or a server that is not Jira) is a clear error rather than a crash further on.
    `raw`: the items are Jira's issue objects (not what a `decode` made of them)."""
    issues = page.get("issues") if isinstance(page, dict) else page
    if issues is None:
        return []
    if (
        not isinstance(page, dict)
        or not isinstance(issues, list)
        or (raw and not all(isinstance(i, dict) for i in issues))
    ):
        raise JiraResponseError(
            "Jira answered a search with something that is not a list of issues: "
            "check that the site URL is Jira's"
        )
    return issues


def reply_may_be_lost(exc: JiraError) -> bool:
    """Whether a failed write may have been done by Jira all the same: the request
    went out and its answer was lost (a read timeout, a broken connection, a proxy
    that gave up waiting, a reply that is not the one asked for)."""
    if isinstance(exc, JiraResponseError):
        return True
    if getattr(exc, "status", None) in RETRY_STATUSES_GATEWAY:
        return True
    cause = exc.__cause__
    return isinstance(cause, httpx.TransportError) and not isinstance(
        cause, (httpx.ConnectError, httpx.ConnectTimeout)
    )


def _noted(exc: JiraError, note: str) -> JiraError:
    """The same kind of error, its message followed by `(note)`."""
    try:
        noted = type(exc)(f"{exc} ({note})")
    except TypeError:
        noted = JiraError(f"{exc} ({note})")
    noted.status = getattr(exc, "status", None)
    return noted


def _reply_lost(exc: JiraError, note: str) -> JiraError:
    """`_noted`, marked as a write whose answer was lost (`reply_lost`): Jira may have
    done it, even when a look right after did not show it; `unnoted` is the message
    without the note, for callers that say what happens next in their own words."""
    noted = _noted(exc, note)
    noted.reply_lost = True
    noted.unnoted = str(exc)
    return noted


def _listed_once(issue: dict, seen: dict[str, str | None]) -> tuple[dict | None, int | None]:
    """A listing item for a DC search issue unless `seen` has it with this `updated`
    (`seen` is updated), and its `updated` in epoch ms."""
    ident = str(issue.get("id"))
    updated = (issue.get("fields") or {}).get("updated")
    moment = parse_jira_time(updated) if updated else None
    ms = int(moment.timestamp() * 1000) if moment is not None else None
    if ident in seen and seen[ident] == updated:
        return None, ms
    seen[ident] = updated
    return {"id": ident, "key": issue.get("key"), "updated": updated}, ms


class _WindowShrunk(Exception):
    """A listing page passed the server's search window, now learnt: slice again."""


def _refused_window(message: str, asked_end: int) -> int | None:
    """The search window a Data Center refusal names ("Search limit exceeded ...
    exceeded the search platform limit of 10,000", "must not exceed 5,000"), else
    half of what was asked; None when the message is about something else."""
    if not re.search(r"(?i)search limit|result window|max_?result|exceed", message):
        return None
    stated = re.search(r"(?i)(?:limit of|exceed)\s+(\d[\d,]*)", message)
    if stated and 0 < int(stated.group(1).replace(",", "")) < asked_end:
        return int(stated.group(1).replace(",", ""))
    numbers = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", message)]
    named = [n for n in numbers if 0 < n < asked_end]
    window = max(named) if named else asked_end // 2
    return window if window >= 1 else None


# A listing item that is no issue: "the result set shrank while it was paged by
# offset, an issue may have been passed over": the listing is done again.
SHIFTED: dict = {"id": "", "key": "", "updated": None, "shifted": True}


def _note_shift(window: list[bool], total: Any, page: Any) -> None:
    """Set window[1] when a page's `total` is below the first page's: an issue left
    the result set. (One that joins lands at the end of an `updated` order, or, with
    an older `updated`, pushes the pages forward and repeats an id: both harmless
    or seen otherwise; a busy project should not have its listing done again for
    every issue created meanwhile.)"""
    now = page.get("total") if isinstance(page, dict) else None
    if isinstance(total, int) and isinstance(now, int) and now < total and len(window) > 1:
        window[1] = True


def _words(text: str) -> str:
    return " ".join(text.split())


@dataclass
class AttachmentDownload:
    """The bytes of an attachment, or why they were skipped."""

    url: str
    content: bytes | None = None
    content_type: str = ""
    size: int = 0
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.content is not None


class JiraClient:
    """A thread-safe Jira REST client built from plain parameters."""

    def __init__(
        self,
        site_url: str,
        username: str | None = None,
        token: str | None = None,
        cloud_id: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = 10.0,
        max_concurrency: int = 6,
        attachment_max_bytes: int = DEFAULT_ATTACHMENT_MAX_BYTES,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        deployment: str | None = None,
    ):
        self.site_url = normalize_site_url(site_url)
        self.auth = JiraAuth(
            self.site_url,
            username=(username or "").strip() or None,
            token=(token or "").strip() or None,
            cloud_id=(cloud_id or "").strip() or None,
        )
        self.api_base = self.auth.api_base
        self.attachment_max_bytes = attachment_max_bytes
        self.retry = retry or RetryPolicy()
        # Set by the caller (a sync that is cancelled or interrupted): retry waits end
        # at once and no request is retried.
        self.stopping = threading.Event()
        # Sockets of the connections this client opened (see abort_requests).
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._sockets_lock = threading.Lock()
        self.dc_search_window = DC_SEARCH_WINDOW
        self.bulkfetch_missing = False  # learnt: fetch Cloud issues by search instead
        self.limiter = AIMDLimiter(max_concurrency)
        self.stats = RequestStats()
        self._trusted_origin = origin(self.api_base)
        self._lock = threading.Lock()
        self._server_info: dict | None = None
        self._deployment = deployment
        self._server_date: str | None = None  # the Date header of the last answer
        pool = max(2, max_concurrency * 2)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        )

    # ------------------------------------------------------------------ basics

    def __repr__(self) -> str:
        return (
            f"JiraClient(site_url={self.site_url!r}, api_base={self.api_base!r}, "
            f"mode={self.auth_mode!r}, username={self.auth.username!r}, "
            f"token={secrets.mask(self.auth.token)!r})"
        )

    def close(self) -> None:
        self._http.close()

    def abort_requests(self) -> None:
        """End every request in flight now, from any thread: its connection is shut
        down, so a thread waiting for an answer (up to the 30 s read timeout, or for
        ever from a server that accepts and never answers) fails at once. For a
        caller that has set `stopping`, under which nothing is retried or sent again."""
        with self._sockets_lock:
            while True:
                try:  # a socket collected on another thread meanwhile: list again
                    sockets = list(self._sockets)
                    break
                except RuntimeError:
                    continue
        for sock in sockets:
            # socket.socket's own shutdown, also for TLS sockets: SSLSocket.shutdown
            # would unwrap the TLS object under the reading thread's feet.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _trace(self, event: str, info: dict) -> None:
        """httpcore's trace hook: remember the socket of each connection opened."""
        # The event's prefix is httpcore's logger: "connection." direct, "proxy." through
        # an HTTP(S) proxy's tunnel, "socks." through SOCKS.
        if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with self._sockets_lock:
                    self._sockets.add(sock)
                    late = self.stopping.is_set()
                if late:  # connected after the abort went round: cut it now
                    with contextlib.suppress(OSError):
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def __enter__(self) -> JiraClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def auth_mode(self) -> str:
        return self.auth.mode

    def browse_url(self, key: str) -> str:
        """`{site}/browse/KEY`: always the site, even for service accounts."""
        return f"{self.site_url}/browse/{key}"

    def request_counts(self) -> dict:
        """Counters for benchmarks: requests, retries, rate_limited, bytes, by_status."""
        return self.stats.snapshot()

    # ------------------------------------------------------------------ concurrency

    @property
    def max_concurrency(self) -> int:
        """Requests allowed in flight at most (the AIMD limit's ceiling)."""
        return self.limiter.max_limit

    def slot(self):
        """`with client.slot():` holds one concurrency slot for a unit of work."""
        return self.limiter.slot()

    def map_concurrent(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """`[fn(item) ...]` run on up to `max_concurrency` threads, results in order.

        Every request made inside `fn` goes through the AIMD limit, so a burst of 429s
        slows the whole batch down. The first exception is raised after all finish.
        """
        items = list(items)
        if not items:
            return []
        workers = min(self.limiter.max_limit, len(items))
        if workers == 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jiradex-jira") as pool:
            futures = [pool.submit(fn, item) for item in items]
            return [future.result() for future in futures]

    # ------------------------------------------------------------------ transport

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.api_base + path_or_url

    def _headers_for(self, url: str, extra: dict | None = None) -> dict:
        """Accept JSON; add Authorization only for the API origin, never over plain http."""
        headers = {"Accept": "application/json"}
        if extra:
            headers.update(extra)
        value = self.auth.authorization
        if value and origin(url) == self._trusted_origin:
            scheme, host, _port = origin(url)
            if scheme != "https" and not is_loopback(host):
                raise JiraInsecureError(
                    f"Refusing to send credentials over plain http to {host}: "
                    "use an https:// site URL"
                )
            headers["Authorization"] = value
        return headers

    def _network_error(self, exc: Exception, url: str) -> JiraError:
        host = urlsplit(url).hostname or url
        site = self.site_url if origin(url) == origin(self.site_url) else f"{host}"
        if isinstance(exc, httpx.TimeoutException):
            return JiraTimeoutError(
                f"Connection to {site} timed out: check the site URL and your network"
            )
        text = str(exc).lower()
        if any(
            s in text
            for s in (
                "name or service not known",
                "nodename nor servname",
                "getaddrinfo",
                "name resolution",
                "no address",
            )
        ):
            return JiraConnectionError(
                f"Cannot resolve the host {host}: check the site URL and your network"
            )
        if "refused" in text:
            return JiraConnectionError(
                f"Connection to {site} was refused: check the site URL and your network"
            )
        if "ssl" in text or "certificate" in text:
            return JiraConnectionError(
                f"TLS handshake with {host} failed: check the site URL and your network "
                "(a proxy or a self-signed certificate?)"
            )
        return JiraConnectionError(
            f"Cannot connect to {site}: check the site URL and your network ({type(exc).__name__})"
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
        not_found: JiraError | None = None,
        ok_redirect: bool = False,
        accept: str = "application/json",
    ) -> httpx.Response:
        """Send with retries; return an open streamed response with a 2xx (or 3xx) status.

        The caller reads and closes it. 4xx/5xx become JiraErrors here.
        """
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD")
        policy = self.retry
        started = policy.clock()
        attempt = 0
        headers = self._headers_for(url, {"Accept": accept})
        if json_body is not None:
            headers["Content-Type"] = "application/json"
        content = None if json_body is None else json.dumps(json_body).encode()
        while True:
            attempt += 1
            try:
                with self.limiter.slot():
                    if self.stopping.is_set():  # a stopped sync sends nothing more
                        raise JiraRetryAborted("stopped before sending a request to Jira")
                    self.stats.add("requests")
                    request = self._http.build_request(
                        method,
                        url,
                        params=params,
                        content=content,
                        headers=headers,
                        extensions={"trace": self._trace},
                    )
                    response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                self.stats.add("errors")
                unsent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if (idempotent or unsent) and attempt < policy.max_network_attempts:
                    wait = policy.backoff(attempt)
                    if self._can_wait(started, wait):
                        log.info(
                            "jira: %s on %s, retry %d in %.1fs",
                            type(exc).__name__,
                            secrets.redact(url),
                            attempt,
                            wait,
                        )
                        self._wait(wait)
                        continue
                raise self._network_error(exc, url) from exc

            status = response.status_code
            self.stats.status(status)
            self._server_date = response.headers.get("Date") or self._server_date
            if 200 <= status < 300 or (ok_redirect and 300 <= status < 400):
                if "Authorization" in headers and login_refused(response.headers):
                    # Seraph went on as anonymous after refusing our credentials: what
                    # came is what anonymous may see, not what this account sees.
                    response.close()
                    self.stats.add("errors")
                    raise refused_login_error(
                        response.headers, site=self.site_url, auth_mode=self.auth_mode
                    )
                self.limiter.on_success()
                return response

            retry_rate = status in RETRY_STATUSES_RATE
            retry_gateway = status in RETRY_STATUSES_GATEWAY and idempotent
            # A lone 500 is often a node's hiccup under load: worth one more try of a
            # read; a second says the request itself breaks Jira, so stop there.
            retry_gateway = retry_gateway or (status == 500 and idempotent and attempt == 1)
            if status == 429:
                self.stats.add("rate_limited")
                self.limiter.on_rate_limited()
            retry_gateway = retry_gateway and attempt < policy.max_gateway_attempts
            asked_wait = None  # a wait the server asked for that the budget cannot hold
            if (retry_rate or retry_gateway) and attempt < policy.max_attempts:
                if retry_rate:
                    wait = policy.wait_for(
                        attempt,
                        response.headers.get("Retry-After"),
                        response.headers.get("X-RateLimit-Reset"),
                    )
                else:
                    wait = policy.backoff(attempt)
                if self._can_wait(started, wait):
                    response.close()
                    log.info(
                        "jira: HTTP %d on %s, retry %d in %.1fs",
                        status,
                        secrets.redact(url),
                        attempt,
                        wait,
                    )
                    self._wait(wait)
                    continue
                if retry_rate and wait > policy.max_delay:
                    asked_wait = wait
            body = self._read_text(response)
            if 300 <= status < 400:
                location = response.headers.get("Location", "")
                raise JiraResponseError(
                    f"Jira at {self.site_url} redirected to {secrets.redact(location)[:120]}: "
                    "check the site URL (https, context path)"
                )
            self.stats.add("errors")
            error = error_for_status(
                status,
                body,
                content_type=response.headers.get("Content-Type", ""),
                headers=response.headers,
                site=self.site_url,
                auth_mode=self.auth_mode,
                path=urlsplit(url).path,
                not_found=not_found,
                attempts=attempt,
            )
            if asked_wait is not None:
                error = _noted(error, f"Jira asked to wait {asked_wait:.0f} s before trying again")
            error.status = status
            error.messages = error_messages(body, response.headers.get("Content-Type", ""))
            raise error

    def _can_wait(self, started: float, wait: float) -> bool:
        return (self.retry.clock() - started) + wait <= self.retry.budget_seconds

    def _wait(self, seconds: float) -> None:
        """Wait before a retry, unless `stopping` is set (then JiraRetryAborted)."""
        if self.stopping.is_set():
            raise JiraRetryAborted("stopped before retrying a request to Jira")
        self.stats.add("retries")
        self.stats.add("waited_seconds", seconds)
        self.retry.pause(seconds, self.stopping)
        if self.stopping.is_set():
            raise JiraRetryAborted("stopped while waiting to retry a request to Jira")

    def _read_text(self, response: httpx.Response, limit: int = 65536) -> str:
        try:
            data = b""
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) >= limit:
                    break
            return data[:limit].decode(response.encoding or "utf-8", errors="replace")
        except httpx.HTTPError:
            return ""
        finally:
            response.close()

    def _json(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
        not_found: JiraError | None = None,
        decode: Callable[[Any], Any] | None = None,
    ) -> Any:
        """One JSON call: retries on network/HTTP trouble and on broken bodies.

        `decode` replaces the JSON parse (indexer.prepare parses and normalises in
        one go, maybe in another process): it gets the body's bytes and raises
        ValueError when they are not the JSON it wants; the body is then diagnosed
        here as usual, and `decode` gets the parsed value if there was one."""
        url = self._url(path_or_url)
        bad_bodies = 0
        while True:
            response = self._send(
                method,
                url,
                params=params,
                json_body=json_body,
                idempotent=idempotent,
                not_found=not_found,
            )
            retry_ok = idempotent if idempotent is not None else method.upper() == "GET"
            try:
                raw = response.read()
            except httpx.TransportError as exc:
                # The answer was cut mid-body (reset, truncated, read timeout): asking
                # again is safe for reads, and the message must not say "cannot connect".
                bad_bodies += 1
                # As many tries as for any network error (one, for a person waiting).
                if retry_ok and bad_bodies < self.retry.max_network_attempts:
                    self._wait(self.retry.backoff(bad_bodies))
                    continue
                if isinstance(exc, httpx.TimeoutException):
                    raise self._network_error(exc, url) from exc
                raise JiraConnectionError(
                    f"The connection to {self.site_url} broke while Jira was answering "
                    f"({type(exc).__name__}): check your network or proxy, then try again"
                ) from exc
            finally:
                response.close()
            self.stats.add("bytes", len(raw))
            try:
                if decode is not None:
                    try:
                        return decode(raw)
                    except ValueError:
                        data = self._decode(response, raw, url)
                        return None if data is None else decode(data)
                return self._decode(response, raw, url)
            except JiraAuthError:
                raise  # a login page will not go away by asking again
            except JiraResponseError:
                bad_bodies += 1
                if retry_ok and bad_bodies <= 2:
                    self._wait(self.retry.backoff(bad_bodies))
                    continue
                raise

    def _decode(self, response: httpx.Response, raw: bytes, url: str) -> Any:
        # The common case first: a JSON object or array, parsed straight from bytes.
        if raw[:1] in (b"{", b"[") or raw.lstrip()[:1] in (b"{", b"["):
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass  # diagnosed below (truncated, invalid UTF-8, not JSON at all)
        path = urlsplit(url).path
        text = raw.decode("utf-8", errors="replace")
        if not text.strip():
            if response.status_code in (201, 204):
                return None
            if login_refused(response.headers):
                raise auth_error("", site=self.site_url, auth_mode=self.auth_mode)
            raise JiraResponseError(f"Jira sent an empty response for {path}")
        content_type = response.headers.get("Content-Type", "")
        if looks_like_html(text, content_type):
            if login_refused(response.headers):
                raise auth_error("", site=self.site_url, auth_mode=self.auth_mode, login_page=True)
            title = html_title(text)
            what = f" ({secrets.redact(title)[:80]})" if title else ""
            raise JiraResponseError(
                f"Jira at {self.site_url} answered with an HTML page{what} instead of JSON: "
                "check the site URL and that no login page or proxy is in the way"
            )
        try:
            return json.loads(text)
        except ValueError:
            stripped = text.lstrip()
            if stripped[:1] in ("{", "["):
                raise JiraResponseError(
                    f"Jira sent an incomplete JSON response for {path} (connection cut?)"
                ) from None
            raise JiraResponseError(
                f"Jira sent something that is not JSON for {path}: check the site URL"
            ) from None

    # ------------------------------------------------------------------ deployment

    def server_info(self) -> dict:
        """`/rest/api/2/serverInfo` (cached; callable anonymously)."""
        with self._lock:
            cached = self._server_info
        if cached is not None:
            return cached
        info = self._json("GET", "/rest/api/2/serverInfo") or {}
        if not isinstance(info, dict) or not any(info.get(k) for k in _SERVER_INFO_KEYS):
            # Every Jira names its version here; a catch-all server answering {} to
            # everything would otherwise pass for a Data Center with no issues.
            raise JiraResponseError(
                f"{self.site_url} does not answer like Jira (no version in its "
                "/rest/api/2/serverInfo): check the site URL"
            )
        with self._lock:
            self._server_info = info
        return info

    @property
    def deployment(self) -> str:
        """`"cloud"` or `"datacenter"` (Server counts as datacenter)."""
        if self._deployment is None:
            if self.auth.cloud_id:
                detected = "cloud"
            else:
                kind = str(self.server_info().get("deploymentType") or "").lower()
                detected = "cloud" if kind == "cloud" else "datacenter"
            with self._lock:
                self._deployment = detected
        return self._deployment

    @property
    def is_cloud(self) -> bool:
        return self.deployment == "cloud"

    @property
    def api_version(self) -> str:
        return "3" if self.is_cloud else "2"

    @property
    def api_mode(self) -> str:
        """A short description of how searches are paged, for `jira test`."""
        if self.is_cloud:
            return "REST v3, search/jql with nextPageToken"
        return "REST v2, search with startAt"

    def _api(self, path: str) -> str:
        return f"/rest/api/{self.api_version}{path}"

    # ------------------------------------------------------------------ search

    def search_issues(
        self,
        jql: str,
        fields: Iterable[str] | str = ("*navigable",),
        page_size: int = 100,
        *,
        expand: str | None = None,
    ) -> Iterator[list[dict]]:
        """Pages (lists) of raw issues in JQL order, to the last page."""
        field_list = fields if isinstance(fields, str) else ",".join(fields)
        if not field_list:
            field_list = "id"
        if self.is_cloud:
            yield from self._search_cloud(jql, field_list, page_size, expand)
        else:
            yield from self._search_dc(jql, field_list, page_size, expand)

    def _search_cloud(self, jql, fields, page_size, expand) -> Iterator[list[dict]]:
        """Pages of `search/jql`. A long JQL (a datasource's own, say) goes in the body
        of the POST form, which takes the same keys, instead of a URL it could overflow."""
        token: str | None = None
        seen_tokens: set[str] = set()
        long_jql = len(jql) > LONG_JQL_CHARS
        while True:
            params: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": page_size}
            if expand:
                params["expand"] = expand
            if token:
                params["nextPageToken"] = token
            if long_jql:
                body = {**params, "fields": [f for f in fields.split(",") if f]}
                data = (
                    self._json("POST", "/rest/api/3/search/jql", json_body=body, idempotent=True)
                    or {}
                )
            else:
                data = self._json("GET", "/rest/api/3/search/jql", params=params) or {}
            issues = _issues_of(data)
            if issues:
                yield issues
            token = data.get("nextPageToken")
            if data.get("isLast") or not token or token in seen_tokens:
                return
            seen_tokens.add(token)

    def _search_dc(
        self, jql, fields, page_size, expand, decode=None, validate=True
    ) -> Iterator[list[dict]]:
        start = 0
        size = page_size
        while True:
            params: dict[str, Any] = {
                "jql": jql,
                "fields": fields,
                "startAt": start,
                "maxResults": size,
            }
            if expand:
                params["expand"] = expand
            if not validate:
                params["validateQuery"] = "false"
            data = self._dc_search(params, decode=decode)
            issues = _issues_of(data, decode is None)
            if issues:
                yield issues
            # Servers lower maxResults: count what came, and ask for no more than allowed.
            granted = data.get("maxResults")
            if isinstance(granted, int) and 0 < granted < size:
                size = granted
            start = int(data.get("startAt", start) or 0) + len(issues)
            total = data.get("total")
            if not issues or (isinstance(total, int) and start >= total):
                return

    def _dc_page(self, jql: str, fields: str, start: int, size: int) -> dict:
        """One page of a listing. A server whose search window is smaller than we
        took it to be (an admin lowered `jira.search.platform.max.result.window`)
        refuses the page, with an HTTP 500 says Atlassian's KB (a 400 from others):
        the window it names (or half of ours) is learnt and `_WindowShrunk` says to
        start the slice again inside it. (It may serve empty pages instead: see
        `_search_dc_window`.)"""
        params = {"jql": jql, "fields": fields, "startAt": start, "maxResults": size}
        try:
            return self._dc_search(params)
        except (JiraBadRequestError, JiraServerError) as exc:
            if getattr(exc, "status", 400) not in (400, 500):
                raise
            said = " ".join(getattr(exc, "messages", None) or [str(exc)])
            window = _refused_window(said, start + size)
            if window is None or start + size <= window:
                raise  # refused for another reason than the window
            if window < self.dc_search_window:
                log.info("jira: %s searches reach %d results at most", self.site_url, window)
                self.dc_search_window = window
            # (Pages fetched at once: another may have learnt it first.)
            raise _WindowShrunk from None

    def _dc_search(self, params: dict[str, Any], decode=None) -> dict:
        """One `/rest/api/2/search` page. A long JQL goes in the body of the POST form
        (`SearchRequestBean`: `fields` and `expand` as lists), as a URL holding it
        could pass what a proxy or Tomcat accepts."""
        if len(params.get("jql") or "") <= LONG_JQL_CHARS:
            return self._json("GET", "/rest/api/2/search", params=params, decode=decode) or {}
        body = dict(params)
        for name in ("fields", "expand"):
            if name in body:
                body[name] = [part for part in str(body[name]).split(",") if part]
        if "validateQuery" in body:
            body["validateQuery"] = body["validateQuery"] != "false"
        return (
            self._json("POST", "/rest/api/2/search", json_body=body, idempotent=True, decode=decode)
            or {}
        )

    def _search_dc_window(
        self, jql: str, fields: str, page_size: int, window: list[bool]
    ) -> Iterator[list[dict]]:
        """Pages of one search up to the server's search window, in order; window[0]
        says whether results were left beyond it, window[1] whether `total` fell
        from page to page (an issue deleted or moved out meanwhile shifts every later
        page back by one, so an issue at a page boundary was never listed).

        The first page says `total` and the page size the server grants; the other
        pages' startAt are then known, so they are fetched concurrently (under the
        client's concurrency limit; the caller's ORDER BY keeps them stable). A page
        that comes back short (the server granted less, or the results shrank) leaves
        the rest to plain sequential paging from there."""
        limit = self.dc_search_window
        first = self._dc_page(jql, fields, 0, min(page_size, limit))
        issues = _issues_of(first)
        if issues:
            yield issues
        total, granted = first.get("total"), first.get("maxResults")
        size = granted if isinstance(granted, int) and 0 < granted <= page_size else page_size
        start = len(issues)
        if not issues or not isinstance(total, int) or start >= total:
            return
        end = min(total, limit)
        window[0] = total > limit  # said now: a page that comes back empty ends it early
        starts = list(range(start, end, size)) if start == size else []
        with ThreadPoolExecutor(
            max_workers=max(1, min(self.limiter.max_limit, len(starts))),
            thread_name_prefix="jiradex-list",
        ) as pool:
            futures = [
                pool.submit(self._dc_page, jql, fields, s, min(size, limit - s)) for s in starts
            ]
            try:
                for at, future in zip(starts, futures, strict=True):
                    page = future.result()
                    issues = _issues_of(page)
                    _note_shift(window, total, page)
                    if issues:
                        yield issues
                    start = at + len(issues)
                    if len(issues) < min(size, end - at):
                        break  # short: go on one page at a time from here
            finally:
                for future in futures:
                    future.cancel()
        while start < end:
            page = self._dc_page(jql, fields, start, min(size, limit - start))
            issues = _issues_of(page)
            _note_shift(window, total, page)
            if not issues:
                now = page.get("total")
                if 0 < start < self.dc_search_window and isinstance(now, int) and now > start:
                    # No issues where `total` says there are more: the way a Data
                    # Center serves pages past a window its admin lowered (as well
                    # as refusing them). Learnt; the rest comes in the next slice.
                    log.info("jira: %s searches reach %d results at most", self.site_url, start)
                    self.dc_search_window = start
                    window[0] = True
                return
            yield issues
            start += len(issues)

    def search_ids(self, where: str, page_size: int | None = None) -> Iterator[dict]:
        """`{"id", "key", "updated"}` for every issue of the JQL condition `where`, in
        `updated` order (then key), in large cheap pages.

        Cloud returns its largest pages (5,000) only when nothing but `id`/`key` is
        asked for, so `updated` is None there; Data Center adds it at no cost, and
        there the listing is cut into slices of `updated` to get past the search
        window (DC_SEARCH_WINDOW).
        """
        if self.is_cloud:
            for page in self.search_issues(where + LISTING_ORDER, ("id", "key"), page_size or 5000):
                for issue in page:
                    yield {"id": str(issue.get("id")), "key": issue.get("key"), "updated": None}
            return
        yield from self._search_ids_dc(where, page_size or 1000)

    def _search_ids_dc(self, where: str, size: int) -> Iterator[dict]:
        """Slices of at most `dc_search_window` results: each next slice starts a minute
        before the last `updated` seen (JQL dates may count in minutes), and the issues
        seen already are left out, unless their `updated` moved meanwhile (then they come
        again, as a listing shows an issue edited while it pages).

        More than a window of issues updated within a minute or so (a bulk change)
        cannot be sliced by time: those minutes are listed in slices of keys instead."""
        seen: dict[str, str | None] = {}
        lower: int | None = None
        retried = 0  # fresh items of this slice handed out before the window shrank
        while True:
            jql = where if lower is None else f"({where}) AND updated >= {lower}"
            window_full = [False, False]
            last_ms, fresh = None, retried
            retried = 0
            try:
                pages = self._search_dc_window(jql + LISTING_ORDER, "updated", size, window_full)
                for page in pages:
                    for issue in page:
                        item, moment = _listed_once(issue, seen)
                        last_ms = moment if moment is not None else last_ms
                        if item is not None:
                            fresh += 1
                            yield item
            except _WindowShrunk:
                # This slice again in the smaller window: `seen` skips what came, which
                # still counts as this slice's progress.
                retried = fresh
                continue
            if window_full[1]:
                yield SHIFTED
            if not window_full[0]:
                return
            if fresh and last_ms is not None:
                lower = last_ms - 60_000
                continue
            if lower is None or last_ms is None:
                raise JiraResponseError(
                    f"Jira at {self.site_url} answers searches without `updated`: a listing "
                    f"past {self.dc_search_window:,} issues cannot be cut into slices"
                )
            start, end = lower // 60_000 * 60_000, (last_ms // 60_000 + 1) * 60_000
            yield from self._search_ids_dc_by_key(where, start, end, seen, size)
            lower = end

    def _search_ids_dc_by_key(
        self, where: str, start_ms: int, end_ms: int, seen: dict, size: int
    ) -> Iterator[dict]:
        """The issues updated in [start_ms, end_ms), in slices of keys (`key > K`)."""
        after: str | None = None
        while True:
            jql = f"({where}) AND updated >= {start_ms} AND updated < {end_ms}"
            if after is not None:
                jql += f" AND key > {after}"
            window_full = [False, False]
            last_key = None
            try:
                for page in self._search_dc_window(
                    jql + " ORDER BY key ASC", "updated", size, window_full
                ):
                    for issue in page:
                        last_key = issue.get("key") or last_key
                        item, _ = _listed_once(issue, seen)
                        if item is not None:
                            yield item
            except _WindowShrunk:
                continue  # this slice again in the smaller window
            if window_full[1]:
                yield SHIFTED
            if not window_full[0]:
                return
            if last_key is None or last_key == after:
                raise JiraResponseError(
                    f"Jira at {self.site_url} keeps listing the same issues past its "
                    f"search window of {self.dc_search_window:,}: narrow the datasource's JQL"
                )
            after = last_key

    def count(self, jql: str) -> int:
        """Issue count: Cloud's approximate count, or DC's `total`."""
        if self.is_cloud:
            data = (
                self._json(
                    "POST",
                    "/rest/api/3/search/approximate-count",
                    json_body={"jql": jql},
                    idempotent=True,
                )
                or {}
            )
            return int(data.get("count") or 0)
        data = self._dc_search({"jql": jql, "maxResults": 0, "fields": "id"})
        return int(data.get("total") or 0)

    def bulkfetch(
        self,
        ids: Iterable[str | int],
        fields: Iterable[str] | str,
        decode: Callable[[Any], Any] | None = None,
    ) -> list[dict]:
        """Issues by id or key, 100 per call (Cloud bulkfetch; DC: `id in (...)` search).

        With `decode` (see `_json`) the items are whatever it makes of each page."""
        wanted = [str(i) for i in ids]
        field_list = [fields] if isinstance(fields, str) else list(fields)
        issues: list[dict] = []
        for start in range(0, len(wanted), BULKFETCH_CHUNK):
            chunk = wanted[start : start + BULKFETCH_CHUNK]
            if not self.is_cloud:
                issues.extend(self._bulkfetch_dc(chunk, ",".join(field_list), decode))
                continue
            if not self.bulkfetch_missing:
                try:
                    issues.extend(self._bulkfetch_cloud(chunk, field_list, decode))
                    continue
                except JiraError as exc:
                    if getattr(exc, "status", None) not in ENDPOINT_MISSING:
                        raise
                    log.info("jira: %s has no bulkfetch: fetching issues by search", self.site_url)
                    self.bulkfetch_missing = True
            issues.extend(self._fetch_by_search(chunk, field_list, decode))
        return issues

    def _bulkfetch_cloud(self, wanted: list[str], fields: list[str], decode) -> list:
        """One Cloud bulkfetch. Its `issueErrors` names issues Jira could not return
        this time, "due to a retriable error or payload constraint" (CLOUD-SPEC; an
        issue that is not found or may not be seen is simply absent): they are asked
        again on their own, a few times, then left out like a missing one."""
        found: list = []
        for attempt in range(BULKFETCH_ERROR_RETRIES + 1):
            if attempt:
                self._wait(self.retry.backoff(attempt))
            data = (
                self._json(
                    "POST",
                    "/rest/api/3/issue/bulkfetch",
                    json_body={"issueIdsOrKeys": wanted, "fields": fields},
                    idempotent=True,
                    decode=decode,
                )
                or {}
            )
            found.extend(_issues_of(data, decode is None))
            errors = data.get("issueErrors") if isinstance(data, dict) else None
            failed = [
                str(e["id"])
                for e in errors or []
                if isinstance(e, dict) and e.get("id") is not None
            ]
            if not failed:
                return found
            wanted = list(dict.fromkeys(failed))
        log.warning(
            "jira: %d issue(s) Jira could not return after %d tries: %s",
            len(wanted),
            BULKFETCH_ERROR_RETRIES + 1,
            ", ".join(wanted[:10]),
        )
        return found

    def _fetch_by_search(self, wanted: list[str], fields: list[str], decode) -> list:
        """Cloud issues by id through `search/jql`, for a site that answers bulkfetch
        with 404/405/501 (a Jira-compatible server or a proxy that has only search).
        Ids Jira says do not exist (deleted since listed) are asked again without,
        as bulkfetch leaves out the issues it cannot return."""
        while True:
            numeric = [i for i in wanted if i.isdigit()]
            keys = [validate_issue_key(i) for i in wanted if not i.isdigit()]
            clauses = [
                f"{name} in ({','.join(values)})"
                for name, values in (("id", numeric), ("key", keys))
                if values
            ]
            body: dict[str, Any] = {
                "jql": " OR ".join(clauses),
                "fields": fields,
                "maxResults": BULKFETCH_CHUNK,
            }
            found: list = []
            seen_tokens: set[str] = set()
            try:
                while True:
                    data = self._json(
                        "POST", "/rest/api/3/search/jql", json_body=body, idempotent=True,
                        decode=decode,
                    ) or {}  # fmt: skip
                    found.extend(_issues_of(data, decode is None))
                    token = data.get("nextPageToken")
                    if data.get("isLast") or not token or token in seen_tokens:
                        return found
                    seen_tokens.add(token)
                    body["nextPageToken"] = token
            except JiraBadRequestError as exc:
                missing = _missing_issues(getattr(exc, "messages", None) or [str(exc)])
                left = [i for i in wanted if i.upper() not in missing]
                if not missing or len(left) == len(wanted):
                    raise
                if not left:
                    return []
                wanted = left

    def _bulkfetch_dc(self, wanted: list[str], fields: str, decode) -> list:
        """Data Center has no bulkfetch: `id in (...)` search. Data Center refuses the
        whole search (400, "A value with ID 'N' does not exist for the field 'id'")
        when one issue is gone, which happens to any issue deleted between the
        listing and the fetch; `validateQuery=false` asks it for a warning instead,
        and a server that refuses all the same names the missing issues: the search
        is asked again without them, as the gone ones are simply not there."""
        while True:
            numeric = [i for i in wanted if i.isdigit()]
            keys = [validate_issue_key(i) for i in wanted if not i.isdigit()]
            clauses = []
            if numeric:
                clauses.append(f"id in ({','.join(numeric)})")
            if keys:
                clauses.append(f"key in ({','.join(keys)})")
            try:
                found: list = []
                pages = self._search_dc(
                    " OR ".join(clauses), fields, BULKFETCH_CHUNK, None, decode, validate=False
                )
                for page in pages:
                    found.extend(page)
                return found
            except JiraBadRequestError as exc:
                missing = _missing_issues(getattr(exc, "messages", None) or [str(exc)])
                left = [i for i in wanted if i.upper() not in missing]
                if not missing or len(left) == len(wanted):
                    raise
                log.info("jira: %d issues are gone since listed", len(wanted) - len(left))
                if not left:
                    return []
                wanted = left

    # ------------------------------------------------------------------ issues

    def get_issue(
        self,
        key_or_id: str,
        fields: Iterable[str] | str | None = None,
        *,
        expand: str | None = None,
    ) -> dict:
        key = validate_issue_key(key_or_id)
        params: dict[str, Any] = {}
        if fields:
            params["fields"] = fields if isinstance(fields, str) else ",".join(fields)
        if expand:
            params["expand"] = expand
        issue = self._json(
            "GET",
            self._api(f"/issue/{quote(key)}"),
            params=params or None,
            not_found=self._issue_not_found(key),
        )
        if not isinstance(issue, dict) or not (issue.get("id") or issue.get("key")):
            raise JiraResponseError(f"Jira answered /issue/{key} without an issue")
        return issue

    def _issue_not_found(self, key: str) -> IssueNotFoundError:
        return IssueNotFoundError(
            f"Issue {key} does not exist or you do not have permission to see it"
        )

    def comments(
        self,
        key_or_id: str,
        page_size: int = 100,
        *,
        start_at: int = 0,
        decode: Callable[[Any], Any] | None = None,
    ) -> list[dict]:
        """The comments of an issue from `start_at` on, oldest first, paging `/comment`
        to `total`. With `decode` (see `_json`) the items are what it makes of them.

        The first page gives `total` and the page size Jira grants (Cloud gives at
        most 100 whatever is asked); the other pages of a long thread are then
        fetched concurrently. A short page (the thread changed meanwhile) makes the
        rest go one page after another from where it ended."""
        key = validate_issue_key(key_or_id)

        def page_at(start: int) -> dict:
            return (
                self._json(
                    "GET",
                    self._api(f"/issue/{quote(key)}/comment"),
                    params={"startAt": start, "maxResults": page_size},
                    not_found=self._issue_not_found(key),
                    decode=decode,
                )
                or {}
            )

        data = page_at(start_at)
        out: list[dict] = list(data.get("comments") or [])
        start = int(data.get("startAt", start_at) or 0) + len(out)
        total = data.get("total")
        if not out or not isinstance(total, int) or start >= total:
            return out
        step = len(out)
        starts = list(range(start, total, step))
        if len(starts) > 1:
            for data in self.map_concurrent(page_at, starts):
                page = data.get("comments") or []
                out.extend(page)
                start += len(page)
                if len(page) < min(step, total - int(data.get("startAt", start) or 0)):
                    break  # a short page: the rest one after another from here
        while start < total:
            data = page_at(start)
            page = data.get("comments") or []
            out.extend(page)
            start = int(data.get("startAt", start) or 0) + len(page)
            total = data.get("total") if isinstance(data.get("total"), int) else start
            if not page:
                break
        return out

    def complete_comments(self, issue: dict) -> list[dict]:
        """The full comment list of a raw issue: the embedded page when it is complete,
        otherwise fetched from `/comment` (only when `total > len(comments)`)."""
        embedded = (issue.get("fields") or {}).get("comment")
        if isinstance(embedded, dict):
            listed = embedded.get("comments") or []
            total = embedded.get("total")
            if not isinstance(total, int) or total <= len(listed):
                return list(listed)
        elif isinstance(embedded, list):
            return list(embedded)
        return self.comments(str(issue.get("id") or issue.get("key")))

    def add_comment(self, key: str, markdown: str, *, known: Iterable[str] = ()) -> dict:
        """Post Markdown as a comment (ADF on v3, wiki markup on v2) -> `{"id", "url"}`.

        When the answer is lost, the comment is looked for before saying it failed
        (`known`: ids of earlier posts of the same text, which do not count)."""
        key = validate_issue_key(key)
        started = self._server_now()
        body = self._comment_body(markdown)
        try:
            data = (
                self._json(
                    "POST",
                    self._api(f"/issue/{quote(key)}/comment"),
                    json_body={"body": body},
                    idempotent=False,
                    not_found=self._issue_not_found(key),
                )
                or {}
            )
            comment_id = str(data.get("id") or "")
            if not comment_id:
                raise JiraResponseError(f"Jira did not return the new comment's id for {key}")
        except JiraError as exc:
            if not reply_may_be_lost(exc):
                raise
            # The post may have reached Jira with only its answer lost: posting again
            # would show the comment twice, so look for it first.
            try:
                found = self.find_comment(
                    key, markdown, after=started - LOST_REPLY_SKEW, exclude=set(known)
                )
            except JiraError:
                raise _reply_lost(
                    exc,
                    f"the comment may have been posted: look at {self.browse_url(key)} "
                    "before posting again",
                ) from None
            if found is None:
                # Not there yet is not "not made": Jira may still be saving it.
                raise _reply_lost(exc, f"checked: the comment is not on {key}") from None
            log.info("jira: the answer to a post on %s was lost; the comment is there", key)
            return found
        return self._comment_link(key, comment_id)

    def _comment_body(self, markdown: str) -> Any:
        """What a comment of this Markdown is posted as: ADF on v3, wiki markup on v2."""
        from indexer import markup  # written alongside; imported only when posting

        return (
            markup.markdown_to_adf(markdown) if self.is_cloud else markup.markdown_to_wiki(markdown)
        )

    def _server_now(self) -> datetime:
        """Jira's clock as its last answer gave it (Date header), else ours: comment
        times are Jira's, so a comparison with them had better use its clock."""
        with contextlib.suppress(TypeError, ValueError):
            if self._server_date:
                when = email.utils.parsedate_to_datetime(self._server_date)
                return when if when.tzinfo else when.replace(tzinfo=UTC)
        return datetime.now(UTC)

    def comment_body(self, markdown: str) -> Any:
        """The body `add_comment(key, markdown)` sends (ADF on v3, wiki markup on v2),
        for checks before posting."""
        return self._comment_body(markdown)

    def server_now(self) -> datetime:
        """Jira's clock as its last answer gave it, else ours (see `_server_now`):
        task posting records when an attempt began by it."""
        return self._server_now()

    def _comment_link(self, key: str, comment_id: str) -> dict:
        return {"id": comment_id, "url": f"{self.browse_url(key)}?focusedCommentId={comment_id}"}

    def find_comment(
        self,
        key: str,
        markdown: str,
        *,
        after: datetime | None = None,
        exclude: set[str] | None = None,
        newest: int = 50,
    ) -> dict | None:
        """`{"id", "url"}` of the newest of the issue's last `newest` comments whose
        text is the text `add_comment(key, markdown)` posts, by this account when
        Jira says who that is, created after `after` and not in `exclude`; None when
        there is none."""
        key = validate_issue_key(key)
        from indexer import markup

        wanted = _words(markup.to_text(self._comment_body(markdown)))
        me = self._me_for_matching()
        data = (
            self._json(
                "GET",
                self._api(f"/issue/{quote(key)}/comment"),
                params={"orderBy": "-created", "maxResults": newest},
                not_found=self._issue_not_found(key),
            )
            or {}
        )
        comments = [c for c in data.get("comments") or [] if isinstance(c, dict)]
        comments.sort(key=lambda c: str(c.get("created") or ""), reverse=True)
        for comment in comments:
            author = comment.get("author") or {}
            if me and not any(
                author.get(field) == value for field, value in me.items() if value is not None
            ):
                continue
            ident = str(comment.get("id") or "")
            if not ident or ident in (exclude or ()):
                continue
            created = parse_jira_time(comment.get("created"))
            if after is not None and (created is None or created < after):
                continue
            if _words(markup.to_text(comment.get("body"))) == wanted:
                return self._comment_link(key, ident)
        return None

    def _me_for_matching(self) -> dict[str, str]:
        """This account's ids as a comment's `author` shows them ({} when unknown)."""
        try:
            me = self.myself() or {}
        except (JiraPermissionError, JiraNotFoundError):
            return {}
        fields = ("accountId",) if self.is_cloud else ("key", "name")
        return {field: me[field] for field in fields if isinstance(me.get(field), str)}

    # ------------------------------------------------------------------ attachments

    def download_attachment(
        self,
        url: str,
        max_bytes: int | None = None,
        *,
        mime_type: str | None = None,
        size: int | None = None,
        named_text: bool = False,
    ) -> bytes | None:
        """The attachment's bytes, or None when skipped (binary type, over `max_bytes`).

        `fetch_attachment` gives the same with the reason for a skip.
        """
        result = self.fetch_attachment(
            url, max_bytes, mime_type=mime_type, size=size, named_text=named_text
        )
        if result.skipped:
            log.info("jira: attachment %s skipped: %s", secrets.redact(url), result.skipped)
        return result.content

    def fetch_attachment(
        self,
        url: str,
        max_bytes: int | None = None,
        *,
        mime_type: str | None = None,
        size: int | None = None,
        named_text: bool = False,
    ) -> AttachmentDownload:
        """Stream an attachment; skip binaries and oversize files with a reason.

        `named_text`: the file's name says text (`server.log`), so an opaque type
        such as application/octet-stream does not make it a binary.
        Redirects are followed by hand: Authorization goes only to the API origin,
        so a redirect to a CDN or another host gets no credentials. Any type is
        accepted (an Accept of JSON alone can earn a 406 on a download).
        """
        limit = self.attachment_max_bytes if max_bytes is None else max_bytes
        result = AttachmentDownload(url=url, content_type=mime_type or "")
        if mime_type and is_binary_type(mime_type, named_text=named_text):
            result.skipped = f"binary type {mime_type}"
            return result
        if size is not None and size > limit:
            result.skipped = f"larger than {limit} bytes ({size})"
            return result
        current = self._url(url)
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._send("GET", current, ok_redirect=True, accept="*/*")
            if 300 <= response.status_code < 400:
                location = response.headers.get("Location")
                response.close()
                if not location:
                    raise JiraResponseError("Jira redirected an attachment without a Location")
                current = urljoin(current, location)
                continue
            try:
                return self._read_attachment(response, result, limit, named_text)
            finally:
                response.close()
        raise JiraResponseError(f"Too many redirects while downloading {secrets.redact(url)}")

    def _read_attachment(
        self, response: httpx.Response, result: AttachmentDownload, limit: int, named_text: bool
    ) -> AttachmentDownload:
        expected = result.content_type.split(";")[0].strip().lower()
        content_type = response.headers.get("Content-Type", "") or result.content_type
        result.content_type = content_type.split(";")[0].strip()
        if is_binary_type(content_type, named_text=named_text):
            result.skipped = f"binary type {result.content_type}"
            return result
        if result.content_type.lower() == "text/html" and expected and expected != "text/html":
            # A page where a file was expected: a login page, most likely, from a host
            # that got no credentials (Jira's base URL differs from the site's).
            result.skipped = f"an HTML page instead of the {expected} file (a login page?)"
            return result
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            result.size = int(declared)
            result.skipped = f"larger than {limit} bytes ({declared})"
            return result
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > limit:
                    result.size = total
                    result.skipped = f"larger than {limit} bytes"
                    return result
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise self._network_error(exc, str(response.url)) from exc
        self.stats.add("bytes", total)
        result.content = b"".join(chunks)
        result.size = total
        return result

    # ------------------------------------------------------------------ account, project

    def myself(self) -> dict:
        return self._json("GET", self._api("/myself")) or {}

    def project(self, key: str) -> dict:
        text = str(key or "").strip()
        if not PROJECT_KEY_RE.match(text):
            raise ProjectNotFoundError(
                f"Project key must look like ABC (got {secrets.redact(text)[:40]!r})"
            )
        text = text.upper()
        info = self._json(
            "GET",
            self._api(f"/project/{quote(text)}"),
            not_found=ProjectNotFoundError(
                f"Project {text} does not exist or you do not have permission to see it"
            ),
        )
        if not isinstance(info, dict) or not (info.get("key") or info.get("id")):
            raise JiraResponseError(f"Jira answered /project/{text} without a project")
        return info

    def tenant_info(self) -> str:
        """The site's cloud id (Cloud only), from `/_edge/tenant_info`."""
        return fetch_cloud_id(self.site_url, transport=self._http._transport)

    def test_connection(self, project_key: str | None = None) -> dict:
        """Who we are, the deployment, the API mode and (optionally) project visibility."""
        result: dict[str, Any] = {
            "site": self.site_url,
            "api_base": self.api_base,
            "auth_mode": self.auth_mode,
        }
        if self.auth_mode == "anonymous":
            result["user"] = "anonymous"
            result["account"] = None
        else:
            me = self.myself()
            result["user"] = (
                me.get("displayName")
                or me.get("emailAddress")
                or me.get("name")
                or me.get("accountId")
                or "unknown"
            )
            result["account"] = {
                k: me.get(k)
                for k in ("accountId", "name", "key", "displayName", "emailAddress", "timeZone")
                if me.get(k) is not None
            }
        result["deployment"] = self.deployment
        result["api_version"] = self.api_version
        result["api_mode"] = self.api_mode
        if project_key:
            try:
                info = self.project(project_key)
                result["project"] = {
                    "key": info.get("key") or project_key.upper(),
                    "name": info.get("name"),
                    "visible": True,
                }
            except ProjectNotFoundError as exc:
                result["project"] = {
                    "key": project_key.upper(),
                    "visible": False,
                    "error": str(exc),
                }
        return result


# ---------------------------------------------------------------------- builders


# A person waiting on one action (a connection test, an import, a post) is told in
# seconds: a shorter read timeout, and a timeout or broken connection is not tried
# again (a sync tries 3 times: against a silent server a test took 91 s). 429/503
# still wait their Retry-After, within a shorter budget.
INTERACTIVE_TIMEOUT = 15.0
INTERACTIVE_BUDGET_S = 40.0


def _interactive(options: dict[str, Any]) -> dict[str, Any]:
    if options.pop("interactive", False):
        options.setdefault("timeout", INTERACTIVE_TIMEOUT)
        options.setdefault(
            "retry", RetryPolicy(max_network_attempts=1, budget_seconds=INTERACTIVE_BUDGET_S)
        )
    return options


def client_for_datasource(ds: Any, **options: Any) -> JiraClient:
    """A client from a datasource-like object (`endpoint, username, token, cloud_id`,
    optionally `max_concurrency`); `interactive=True` for a person's single action."""
    options = _interactive(options)
    most = getattr(ds, "max_concurrency", None)
    if most and "max_concurrency" not in options:
        options["max_concurrency"] = most
    return JiraClient(
        getattr(ds, "endpoint", None) or "",
        username=getattr(ds, "username", None),
        token=getattr(ds, "token", None),
        cloud_id=getattr(ds, "cloud_id", None),
        **options,
    )


def client_for_connection(conn: Any, **options: Any) -> JiraClient:
    """A client from the global connection (`base_url, email, api_token, cloud_id, enabled`);
    `interactive=True` for a person's single action."""
    options = _interactive(options)
    if conn is None or not getattr(conn, "enabled", False) or not getattr(conn, "base_url", None):
        raise JiraNotEnabledError(
            "Jira integration not enabled: run `jiradex jira connect` "
            "or set JIRA_ENABLED, JIRA_BASE_URL, JIRA_EMAIL and JIRA_API_TOKEN"
        )
    return JiraClient(
        conn.base_url,
        username=getattr(conn, "email", None),
        token=getattr(conn, "api_token", None),
        cloud_id=getattr(conn, "cloud_id", None),
        **options,
    )


__all__ = [
    "AttachmentDownload",
    "JiraClient",
    "client_for_connection",
    "client_for_datasource",
    "fetch_cloud_id",
    "is_binary_type",
    "validate_issue_key",
]
