"""`JiraClient`: the one place jiradex talks to Jira.

It detects the deployment (`/rest/api/2/serverInfo`): Cloud pages
`/rest/api/3/search/jql` with `nextPageToken` (no `total`; its default `fields` is
only `id`, so fields are always explicit); Data Center, Server and anonymous
instances page `/rest/api/2/search` with `startAt`, counting what each page really
held because servers lower `maxResults`. The removed Cloud `/search` is never used.

The client is thread-safe: one `httpx.Client`, an AIMD concurrency limit shared by
every request, retries with bounded back-off, and one clear `JiraError` per failure.
This module holds that core (sending, retries, deployment, issues, account); the
client's other parts live beside it: `search` (search pages, listings, bulk
fetches), `comments` (reading and posting) and `downloads` (attachments).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson

from indexer import secrets
from indexer.config import DEFAULT_MAX_CONCURRENCY

from .auth import JiraAuth, fetch_cloud_id, is_loopback, normalize_site_url, origin
from .comments import IssueComments
from .downloads import (
    DEFAULT_ATTACHMENT_MAX_BYTES,
    AttachmentDownload,
    AttachmentDownloads,
    is_binary_type,
)
from .errors import (
    SERVICE_ACCOUNT_401,
    IssueNotFoundError,
    JiraAuthError,
    JiraConnectionError,
    JiraError,
    JiraInsecureError,
    JiraNotEnabledError,
    JiraNotFoundError,
    JiraRateLimitError,
    JiraResponseError,
    JiraRetryAborted,
    JiraTimeoutError,
    ProjectNotFoundError,
    auth_error,
    error_for_status,
    error_messages,
    html_title,
    login_refused,
    looks_like_html,
    refused_login_error,
    with_note,
)
from .http import (
    RETRY_STATUSES_GATEWAY,
    RETRY_STATUSES_RATE,
    AIMDLimiter,
    RequestStats,
    RetryPolicy,
)
from .search import DC_SEARCH_WINDOW, IssueSearch, validate_issue_key

log = logging.getLogger("jiradex.jira")

DEFAULT_TIMEOUT = 30.0
USER_AGENT = "jiradex/0.1 (+https://github.com/jiradex)"

PROJECT_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

_SERVER_INFO_KEYS = ("version", "versionNumbers", "baseUrl", "deploymentType", "buildNumber")

# Every client alive in this process, for end_reads_in_flight().
_LIVE: weakref.WeakSet[JiraClient] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def end_reads_in_flight() -> None:
    """End the requests of every client in this process that is not posting.

    For a front end that is quitting: its threads may wait on a server that never
    answers (up to the 30 s read timeout), and the process waits for its threads. A
    client posting a comment is left to finish, so the post is known and recorded."""
    with _LIVE_LOCK:
        clients = list(_LIVE)
    for client in clients:
        with client._lock:  # a post starting now either counts here or never sends
            if client.posting:
                continue
            client.stopping.set()
        client.abort_requests()


class JiraClient(IssueSearch, IssueComments, AttachmentDownloads):
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
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        attachment_max_bytes: int = DEFAULT_ATTACHMENT_MAX_BYTES,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        deployment: str | None = None,
        interactive: bool = False,
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
        # A person's single action (a test, an import, a post), not a sync: no advice
        # about a sync's concurrency in its errors.
        self.interactive = interactive
        # Set by the caller (a sync that is cancelled or interrupted): retry waits end
        # at once and no request is retried.
        self.stopping = threading.Event()
        # Sockets of the connections this client opened (see abort_requests).
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._sockets_lock = threading.Lock()
        self._posts = 0  # comments being posted now (see end_reads_in_flight)
        self.dc_search_window = DC_SEARCH_WINDOW
        self.bulkfetch_missing = False  # learnt: fetch Cloud issues by search instead
        self.unreadable: set[str] = set()  # issues nested too deeply to parse, left out
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
        with _LIVE_LOCK:
            _LIVE.add(self)

    # ------------------------------------------------------------------ basics

    def __repr__(self) -> str:
        return (
            f"JiraClient(site_url={self.site_url!r}, api_base={self.api_base!r}, "
            f"mode={self.auth_mode!r}, username={self.auth.username!r}, "
            f"token={secrets.mask(self.auth.token)!r})"
        )

    def close(self) -> None:
        self._http.close()

    @property
    def posting(self) -> bool:
        """A comment is being posted (its requests are not ended by a quitting app)."""
        return self._posts > 0

    @contextlib.contextmanager
    def _posting(self) -> Iterator[None]:
        with self._lock:
            self._posts += 1
        try:
            yield
        finally:
            with self._lock:
                self._posts -= 1

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
            if status == 429 and not self.interactive and asked_wait is None:
                # A storm that outlasted the retries: fewer requests at once may help.
                # (A long wait asked for is a quota: nothing to lower, only to wait.)
                error = JiraRateLimitError(f"{error} or lower the datasource's max_concurrency")
            if asked_wait is not None:
                error = with_note(
                    error, f"Jira asked to wait {asked_wait:.0f} s before trying again"
                )
            error.retry_after = asked_wait  # seconds Jira asked for, where none were waited
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
        try:
            info = self._json("GET", "/rest/api/2/serverInfo", not_found=self._no_jira_here()) or {}
        except JiraAuthError as exc:
            if self._perhaps_datacenter(exc) and self._anonymously_datacenter():
                raise JiraAuthError(
                    f"Authentication failed for {self.site_url}: this is Data Center / "
                    "Server, where a username goes with its password; a personal access "
                    "token goes alone, without the username"
                ) from None
            raise
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

    def _perhaps_datacenter(self, refused: JiraAuthError) -> bool:
        """An e-mail + token refused in words that are not Cloud's own."""
        said = " ".join(getattr(refused, "messages", None) or []).lower()
        return self.auth_mode == "basic" and SERVICE_ACCOUNT_401.lower() not in said

    def _anonymously_datacenter(self) -> bool:
        """Whether serverInfo, asked without credentials, names a Data Center / Server.
        It tells apart, after a refused e-mail + token, the Cloud quick start followed
        on a Data Center (whose Seraph refuses them on every resource) from a typo."""
        try:
            response = self._http.get(
                self.api_base + "/rest/api/2/serverInfo", headers={"Accept": "application/json"}
            )
            info = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return False
        if not isinstance(info, dict) or not any(info.get(k) for k in _SERVER_INFO_KEYS):
            return False
        return str(info.get("deploymentType") or "").lower() != "cloud"

    def _no_jira_here(self) -> JiraNotFoundError:
        """404 at serverInfo: the site URL misses the path Jira runs under (a Data
        Center at https://host/jira given as https://host), or has one too many."""
        parts = urlsplit(self.site_url)
        root = f"{parts.scheme}://{parts.netloc}"
        if parts.path.strip("/"):
            hint = f" (is Jira at {root}, without {parts.path}?)"
        else:
            hint = f", with its path if it has one (e.g. {root}/jira)"
        return JiraNotFoundError(
            f"No Jira REST API at {self.site_url} (HTTP 404 for /rest/api/2/serverInfo): "
            f"check the site URL; it is the address you open Jira at in a browser{hint}"
        )

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
    if options.get("interactive"):
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
    "end_reads_in_flight",
    "fetch_cloud_id",
    "is_binary_type",
    "validate_issue_key",
]
